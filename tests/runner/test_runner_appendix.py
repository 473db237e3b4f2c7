"""``ferablate appendix``: a tiny two-sweep study written as one appendix (tables, figures, PDF)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ferablate._errors import ConfigError
from ferablate.cli import app
from ferablate.config import Sweep, expand_sweep, parse_sweep
from ferablate.data import data_fingerprint
from ferablate.runner import RunOptions, run_sweep, write_appendix
from ferablate.tracking import TrialTracker

TINY: dict[str, Any] = {
    "data": {"source": "synthetic", "synthetic_size": 210},
    "model": {"family": "sequential", "convs": [{"channels": 4}, {"channels": 8}], "dense": [8]},
    "train": {"folds": 2, "epochs": 1, "batch_size": 32},
}


def _sweep(name: str, variants: list[dict[str, Any]], **extra: Any) -> Sweep:
    return parse_sweep(
        {"name": name, "description": f"{name} grid", "base": TINY, "variants": variants, **extra}
    )


BN_HELPS = {"says": "Batch norm helps.", "variant": "base", "versus": "no-bn", "expect": "better"}
GRID_A = _sweep(
    "grid-a",
    [{"name": "base"}, {"name": "no-bn", "parent": "base", "set": {"model.batch_norm": False}}],
    claims=[BN_HELPS],
)
GRID_B = _sweep("grid-b", [{"name": "elu", "set": {"model.activation": "elu"}}])
NEVER = _sweep("never-run", [{"name": "only"}])


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A store with two tiny trained sweeps: grid-a without stored figures (the appendix draws
    them), grid-b with them (the appendix copies them)."""
    folder = tmp_path_factory.mktemp("study")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FERABLATE_CACHE", str(folder / "cache"))
        run_sweep(GRID_A, options=RunOptions(tracking_uri=uri, figures=False))
        run_sweep(GRID_B, options=RunOptions(tracking_uri=uri, figures=True))
        yield uri


def _named_files(tex: Path) -> list[Path]:
    """Every file appendix.tex names: its \\input s and their \\includegraphics targets."""
    folder = tex.parent
    inputs = [folder / f"{name}.tex" for name in re.findall(r"\\input\{([^}]+)\}", tex.read_text())]
    graphics = [
        folder / name
        for path in inputs
        if path.exists()
        for name in re.findall(r"\\includegraphics\[[^]]*\]\{([^}]+)\}", path.read_text())
    ]
    return inputs + graphics


def _tex_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.tex"))}


@pytest.mark.slow
def test_appendix_names_only_files_it_wrote_and_is_byte_identical_on_a_second_call(
    study: str, tmp_path: Path
) -> None:
    first = write_appendix(
        [GRID_A, GRID_B, NEVER], tmp_path / "one", tracking_uri=study, compile_pdf=False
    )
    named = _named_files(first.tex)
    # never-run: 1 input; per sweep: ablation, layers, compare, 6 figures and their PNGs, and
    # a claims table for grid-a (grid-b carries no claims)
    assert len(named) == 1 + 1 + 2 * (3 + 6 * 2)
    assert [path for path in named if not path.is_file()] == []
    assert sum(path.suffix == ".png" for path in named) == 12  # grid-a drawn, grid-b stored
    assert first.missing == [
        f"sweep never-run: never run (no experiment 'never-run' in {study}); "
        "run `ferablate run <sweep>`"
    ]
    assert "not run: never run" in (tmp_path / "one" / "never-run" / "ablation.tex").read_text()
    assert "Batch norm helps." in (tmp_path / "one" / "grid-a" / "claims.tex").read_text()
    assert not (tmp_path / "one" / "grid-b" / "claims.tex").exists()
    ablation = (tmp_path / "one" / "grid-a" / "ablation.tex").read_text()
    assert "vs base" in ablation and r"\begin{tablenotes}" in ablation
    assert "newest run 20" in first.tex.read_text()
    markdown = first.markdown.read_text()
    assert "## grid-b grid" in markdown and "![grid-b, elu (best row)" in markdown
    second = write_appendix(
        [GRID_A, GRID_B, NEVER], tmp_path / "two", tracking_uri=study, compile_pdf=False
    )
    assert second.inputs == first.inputs
    assert _tex_files(tmp_path / "two") == _tex_files(tmp_path / "one")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_appendix_compiles_with_type1_fonts_only(study: str, tmp_path: Path) -> None:
    result = write_appendix([GRID_A, GRID_B], tmp_path, tracking_uri=study)
    assert result.pdf is not None and result.pdf.stat().st_size > 10_000, result.compiled
    if shutil.which("pdffonts") is None:
        pytest.skip("pdffonts (poppler-utils) not installed")
    fonts = subprocess.run(
        ["pdffonts", str(result.pdf)], capture_output=True, text=True, check=True
    ).stdout
    assert "Type 1" in fonts and "Type 3" not in fonts, fonts


def test_a_trial_without_artifacts_and_a_missing_final_are_one_line_each(tmp_path: Path) -> None:
    sweep = _sweep("faked", [{"name": "a"}])
    (trial,) = expand_sweep(sweep)
    tracker = TrialTracker(sweep.name)
    # FINISHED with scores, but no artifacts; on the sweep's data (its identity matches)
    run = tracker.start(trial, data_hash=data_fingerprint(trial.config.data))
    for stem in ("val_accuracy", "val_precision", "val_recall"):
        tracker.client.log_metric(run.run_id, f"{stem}_mean", 0.5)
    tracker.client.set_terminated(run.run_id, "FINISHED")
    result = write_appendix([sweep], tmp_path, finals=["a"], compile_pdf=False)
    assert len(result.missing) == 2, result.missing
    assert "trial a" in result.missing[0] and "no artifacts to draw them from" in result.missing[0]
    assert result.missing[1].startswith("final a of sweep faked: never run")
    assert "not run: no artifacts" in (tmp_path / "faked" / "figure-loss.tex").read_text()
    assert "not run" in (tmp_path / "final" / "final.tex").read_text()
    with pytest.raises(ConfigError, match="--final typo"):
        write_appendix([sweep], tmp_path, finals=["typo"], compile_pdf=False)


def test_cli_says_each_missing_piece_and_that_pdflatex_is_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep_file = tmp_path / "never.yaml"
    sweep_file.write_text(
        "name: never-run\nbase:\n  data: {source: synthetic, synthetic_size: 210}\n"
        "  model: {preset: report-model1}\nvariants:\n  - name: only\n"
    )
    TrialTracker("something-else")  # a store exists, the sweep's experiment does not
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # no pdflatex
    result = CliRunner().invoke(app, ["appendix", str(sweep_file), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert sum(line.startswith("missing: sweep never-run: never run") for line in lines) == 1
    assert any(line.startswith("pdflatex not on PATH") for line in lines)
    assert (tmp_path / "out" / "appendix.tex").is_file()
    assert (tmp_path / "out" / "appendix.md").is_file()


def test_a_final_run_gives_its_test_split_scores(tmp_path: Path) -> None:
    sweep = _sweep("finals", [{"name": "a"}, {"name": "b", "set": {"model.activation": "elu"}}])
    first, _ = expand_sweep(sweep)
    tracker = TrialTracker(sweep.name)
    run = tracker.start(first, data_hash="fake", extra_tags={"ferablate.role": "final"})
    scores = {"publictest_accuracy": 0.61, "privatetest_accuracy": 0.63, "test_accuracy": 0.62}
    for key, value in scores.items():
        tracker.client.log_metric(run.run_id, key, value)
    tracker.client.set_terminated(run.run_id, "FINISHED")
    result = write_appendix([sweep], tmp_path, finals=["a", "b"], compile_pdf=False)
    table = (tmp_path / "final" / "final.tex").read_text()
    assert r"a & finals & PublicTest & 0.610" in table
    assert r"a & finals & PrivateTest & 0.630" in table
    assert r"b & finals & not run" in table
    assert [line for line in result.missing if line.startswith("final ")] == [
        "final b of sweep finals: never run; run `ferablate final <sweep> --variant b`"
    ]


def test_runs_under_other_settings_are_announced_once_per_sweep(
    study: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING")
    write_appendix(
        [GRID_A], tmp_path, overrides={"train.epochs": 2}, tracking_uri=study, compile_pdf=False
    )  # grid-a ran with train.epochs=1: the ablation, claims and compare tables read no run
    lines = [r.getMessage() for r in caplog.records if "also ran with" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "add --set train.epochs=1" in lines[0]
