"""The CLI as a user meets it: one-line errors, dry runs, summaries, data info."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ferablate.cli import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _ferablate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ferablate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bad_sweep_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nbase:\n  model: {preset: baseline-model1}\n  train: {epocs: 3}\n")
    result = _ferablate("run", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:") and "bad.yaml" in lines[0] and "train.epochs" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "mlruns").exists()  # nothing tracked on bad input

    debug = _ferablate("--debug", "run", str(bad), cwd=tmp_path)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_missing_sweep_and_bad_override(tmp_path: Path) -> None:
    result = _ferablate("run", "nope.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "no such sweep file" in result.stderr
    sweep = REPO / "sweeps" / "quickstart.yaml"
    result = _ferablate("run", str(sweep), "--set", "train.epochs", "--dry-run", cwd=tmp_path)
    assert result.returncode == 2 and "expected key=value" in result.stderr


def test_dry_run_lists_trials_without_touching_mlflow(tmp_path: Path) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        "name: s\nbase: {model: {preset: baseline-model1}}\n"
        "variants: [{name: base}, {name: elu, set: {model.activation: elu}}]\n"
        "grid: {train.lr: [0.001, 0.01]}\n"
    )
    result = runner.invoke(app, ["run", str(sweep), "--dry-run", "--set", "train.epochs=1"])
    assert result.exit_code == 0, result.output
    assert "4 trial(s)" in result.output
    assert "elu[lr=0.01]" in result.output and "model.activation=elu" in result.output
    db = Path(__import__("os").environ["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///"))
    assert not db.exists()


def test_summary_prints_the_layer_table_and_total() -> None:
    result = runner.invoke(app, ["summary", "report-model1"])
    assert result.exit_code == 0, result.output
    assert "700,439" in result.output and "Conv2d" in result.output
    result = runner.invoke(app, ["summary", str(REPO / "sweeps" / "quickstart.yaml")])
    assert result.exit_code == 0 and "Linear" in result.output


def test_data_info_counts_a_csv(tmp_path: Path) -> None:
    pixels = " ".join(["0"] * 2304)
    rows = ["emotion,pixels,Usage"] + [
        f"{c % 7},{pixels},{'Training' if c < 10 else 'PublicTest'}" for c in range(12)
    ]
    path = tmp_path / "tiny.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(rows) + "\n")
    result = runner.invoke(app, ["data", "info", str(path)])
    assert result.exit_code == 0, result.output
    assert "Training" in result.output and "PublicTest" in result.output


def test_results_table_keeps_every_column_in_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from ferablate.cli import _run
    from ferablate.config import Trial, resolve_preset, validate_trial
    from ferablate.runner import TrialReport as TrialOutcome

    config = validate_trial(resolve_preset({"model": {"preset": "report-model1"}}, "t"), "t")
    name = "report-model1-no-max-pool-after-layer-five-dilation-two"
    trial = Trial(name=name, variant=name, config=config, patch={}, index=0)
    summary = {"val_accuracy_mean": 0.5, "val_accuracy_std": 0.01, "val_precision_mean": 0.4,
               "val_precision_std": 0.02, "val_recall_mean": 0.45, "val_recall_std": 0.03}  # fmt: skip
    outcomes = [
        TrialOutcome(trial, "finished", summary, seconds=812.0),
        TrialOutcome(trial, "oom", message="out of memory"),
    ]
    narrow = Console(width=80, record=True)
    monkeypatch.setattr(_run, "console", narrow)
    _run._print_results("grid", outcomes)
    text = narrow.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    for expected in ("0.500±0.010", "0.400±0.020", "0.450±0.030", "812s", "finished", "no fit"):
        assert expected in text, text
