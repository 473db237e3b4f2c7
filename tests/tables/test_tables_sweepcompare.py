"""``compare_sweep`` on tiny trained trials: a better variant, a seed re-run, a different split."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from ferablate._errors import ConfigError
from ferablate.cli import app
from ferablate.config import DataConfig, Sweep, Trial, expand_sweep, parse_sweep, trial_identity
from ferablate.data import FaceData
from ferablate.data._subset import stratified_limit
from ferablate.runner import DataCache, RunOptions, run_sweep
from ferablate.tables import (
    COLLAPSED_MARK,
    compare_sweep,
    render_sweep_comparison,
    sweep_scores,
    sweep_tables,
)
from ferablate.tracking import git_commit

CSV_HEADER = "variant,baseline,metric,n,delta,ci_low,ci_high,p_value,p_better,p_equivalent,p_worse,paired,verdict,mde,repeats_needed,p_adjusted"
BASE: dict[str, Any] = {
    "data": {"source": "synthetic"},  # the faces come from _templates() (learnable in seconds)
    "model": {
        "family": "sequential",
        "convs": [{"channels": 4}, {"channels": 8}],
        "dense": [16],
        "activation": "elu",
    },
    "train": {"folds": 4, "epochs": 1, "batch_size": 16, "lr": 1e-4},
}


def _templates(n: int = 280, seed: int = 0) -> FaceData:
    """Noisy faces of 7 class templates (+ a PublicTest split): a tiny net learns them in 4
    epochs at lr 5e-3 and stays at chance after 1 epoch at lr 1e-4."""
    rng = np.random.default_rng(seed)
    total = n + n // 4
    labels = rng.permutation(np.arange(total) % 7)
    rows, cols = np.mgrid[0:48, 0:48]
    templates = np.stack(
        [128 + 60 * np.sin(cols / (3 + c) + c) * np.cos(rows / (4 + c)) for c in range(7)]
    )
    images = np.clip(templates[labels] + rng.normal(0.0, 60.0, (total, 48, 48)), 0, 255)
    usage = np.array(["Training"] * n + ["PublicTest"] * (total - n))
    return FaceData(
        images.astype(np.uint8), labels.astype(np.int64), usage, "templates", "templates-0"
    )


def _loader(config: DataConfig) -> FaceData:
    faces = _templates()
    return stratified_limit(faces, config.limit, config.seed) if config.limit else faces


SWEEP: dict[str, Any] = {
    "name": "tiny-compare",
    "base": BASE,
    "variants": [
        {"name": "base"},
        {"name": "trained", "set": {"train.epochs": 4, "train.lr": 0.005}},  # designed better
        {"name": "seed1", "set": {"train.seed": 1}},  # same split (split_seed), other init
        {"name": "subset", "set": {"data.limit": 210}},  # another split
        {"name": "never-ran", "set": {"train.lr": 0.002}},
    ],
}


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Sweep, str]:
    """The sweep trained once (but its last variant) into a store shared by this module."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('compare') / 'mlflow.db'}"
    sweep = parse_sweep(SWEEP)
    ran = parse_sweep({**SWEEP, "variants": SWEEP["variants"][:4]})
    outcomes = run_sweep(
        ran, options=RunOptions(tracking_uri=uri, figures=False), data=DataCache(_loader)
    )
    assert [o.status for o in outcomes] == ["finished"] * 4
    return sweep, uri


def test_a_better_variant_is_better_and_a_seed_rerun_is_no_evidence(
    tracked: tuple[Sweep, str],
) -> None:
    sweep, uri = tracked
    result = compare_sweep(sweep, tracking_uri=uri)
    rows = {row.variant: row for row in result.comparisons}
    assert list(rows) == ["trained", "seed1", "subset", "never-ran"]
    trained = rows["trained"]
    assert (trained.verdict, trained.paired, trained.n) == ("better", True, 4)
    assert trained.p_value is not None and trained.p_value < 0.05
    assert trained.delta is not None and trained.delta > 0.4
    seed = rows["seed1"]
    assert (seed.verdict, seed.paired, seed.n) == ("no evidence", True, 4)  # same split_seed
    subset = rows["subset"]
    assert not subset.paired and "unpaired: different split" in subset.note
    missing = rows["never-ran"]
    assert (missing.n, missing.delta) == (0, None) and "missing" in missing.note
    # the baseline stayed at chance: its collapsed folds are named in every paired row
    assert "collapsed folds: baseline" in trained.note


def test_scores_use_the_fold_params_and_tags_the_tracker_logged(tracked: tuple[Sweep, str]) -> None:
    sweep, uri = tracked
    scores, origins = sweep_scores(sweep, tracking_uri=uri)
    base = scores[0]
    assert sorted(base.scores["val_accuracy"]) == ["0", "1", "2", "3"]
    assert (base.n_train, base.n_val) == (210, 70)  # 280 faces, 4 folds, distinct faces
    assert base.collapsed  # 1 epoch at lr 1e-4: the tracker tagged the folds at chance
    assert base.split_key == scores[2].split_key != scores[3].split_key
    assert [origin.name for origin in origins] == ["base", "trained", "seed1", "subset"]
    assert scores[4].status.startswith("missing")


def test_text_csv_and_latex_carry_rows_and_provenance(tracked: tuple[Sweep, str]) -> None:
    sweep, uri = tracked
    result = compare_sweep(sweep, tracking_uri=uri)
    text = render_sweep_comparison(result, "text")
    (subset_line,) = [line for line in text.splitlines() if line.startswith("subset ")]
    assert "unpaired: different split" in subset_line
    commit = git_commit()[:8]
    for rendered in (text, render_sweep_comparison(result, "latex")):
        assert "templates-0" in rendered and "balance fold" in rendered
        assert "4 folds" in rendered and "1 repeat," in rendered and "epochs" in rendered
        assert commit in rendered
    csv = render_sweep_comparison(result, "csv")
    assert csv.splitlines()[0] == CSV_HEADER
    frame = pd.read_csv(io.StringIO(csv), keep_default_na=False)
    assert list(frame["paired"]) == [True, True, False, False]
    assert "templates" not in csv  # CSV: the rows, nothing else


def test_cli_compare_csv_header_is_exact_and_bayes_fills_probabilities(
    tracked: tuple[Sweep, str], tmp_path: Path
) -> None:
    _, uri = tracked
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(SWEEP))
    runner = CliRunner()
    result = runner.invoke(app, ["compare", str(path), "--tracking-uri", uri, "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == CSV_HEADER
    bayes = runner.invoke(
        app,
        [
            "compare",
            str(path),
            "--tracking-uri",
            uri,
            "-f",
            "csv",
            "--test",
            "bayes",
            "-b",
            "seed1",
        ],
    )
    assert bayes.exit_code == 0, bayes.output
    frame = pd.read_csv(io.StringIO(bayes.output), keep_default_na=False)
    assert list(frame["variant"]) == ["base", "trained", "subset", "never-ran"]
    assert frame.loc[1, "verdict"] == "better" and float(frame.loc[1, "p_better"]) > 0.95
    bad = runner.invoke(app, ["compare", str(path), "--tracking-uri", uri, "-b", "never-ran"])
    assert bad.exit_code != 0 and isinstance(bad.exception, ConfigError)
    assert "cannot be compared against" in str(bad.exception)


def test_table_vs_adds_the_delta_column_and_marks_collapsed_rows(
    tracked: tuple[Sweep, str],
) -> None:
    sweep, uri = tracked
    (table,) = sweep_tables(sweep, tracking_uri=uri, vs="base")
    delta = list(table.frame["Δ vs base"])
    assert delta[0] == "baseline" and delta[1].endswith("†") and delta[1].startswith("+")
    assert delta[3].endswith("(u)") and delta[4] == ""
    assert table.frame.loc[0, "acc."].endswith(COLLAPSED_MARK)
    assert "corrected resampled t-test" in table.caption
    assert f"{COLLAPSED_MARK} Folds that stayed at chance" in table.footer
    assert "Set for every trial" not in table.footer  # no --set: nothing shared but the base


# -- lineage and claims over the same trained trials (parent/claims change no config hash) ----

LINEAGE: dict[str, Any] = {
    **SWEEP,
    "variants": [
        {"name": "base"},
        {**SWEEP["variants"][1], "parent": "base"},
        {**SWEEP["variants"][2], "parent": "trained"},  # base's config and train.seed 1
        {**SWEEP["variants"][3]},  # no parent: against the first variant
        {**SWEEP["variants"][4], "parent": "trained"},
    ],
    "claims": [
        {"says": "an lr that learns beats one that cannot", "variant": "trained",
         "versus": "base", "expect": "better"},
        {"says": "the seed alone changes nothing", "variant": "seed1", "versus": "base",
         "expect": "equivalent"},
        {"says": "a smaller subset is not better", "variant": "subset", "versus": "base",
         "expect": "not-better"},
        {"says": "the untrained net beats the trained one", "variant": "base",
         "versus": "trained", "expect": "better"},
    ],
}  # fmt: skip


def identity(trial: Trial) -> str:
    return trial_identity(trial.config, data_fingerprint="faces", precision="fp32")


def test_compare_without_baseline_picks_each_variants_parent(tracked: tuple[Sweep, str]) -> None:
    sweep, uri = tracked
    lineage = parse_sweep(LINEAGE)
    assert [identity(t) for t in expand_sweep(lineage)] == [
        identity(t) for t in expand_sweep(sweep)
    ]  # parent and claims are not part of a trial's identity: nothing retrains
    result = compare_sweep(lineage, tracking_uri=uri)
    pairs = [(row.variant, row.baseline) for row in result.comparisons]
    assert pairs == [
        ("trained", "base"),
        ("seed1", "trained"),
        ("subset", "base"),
        ("never-ran", "trained"),
    ]
    seed = result.comparisons[1]
    assert seed.paired and seed.delta is not None and seed.delta < -0.4  # chance − trained
    frame = pd.read_csv(io.StringIO(render_sweep_comparison(result, "csv")))
    assert list(frame["baseline"]) == ["base", "trained", "base", "trained"]
    assert list(frame.columns)[-3:] == ["mde", "repeats_needed", "p_adjusted"]
    assert "its parent (column vs)" in result.caption and "Holm" in result.caption
    # --baseline still compares every row with one variant
    fixed = compare_sweep(lineage, baseline="base", tracking_uri=uri)
    assert {row.baseline for row in fixed.comparisons} == {"base"}


def test_table_vs_parent_puts_each_rows_delta_against_its_parent(
    tracked: tuple[Sweep, str],
) -> None:
    _, uri = tracked
    (table,) = sweep_tables(parse_sweep(LINEAGE), tracking_uri=uri, vs="parent")
    assert list(table.frame["parent"]) == ["", "base", "trained", "base", "trained"]
    delta = list(table.frame["Δ vs parent"])
    assert delta[1].startswith("+") and delta[1].endswith("†")
    assert delta[2].startswith("-") and delta[3].endswith("(u)") and delta[4] == ""
    assert "to the row's parent" in table.caption


def test_claims_on_tracked_runs(tracked: tuple[Sweep, str], tmp_path: Path) -> None:
    _, uri = tracked
    path = tmp_path / "lineage.yaml"
    path.write_text(yaml.safe_dump(LINEAGE, sort_keys=False))
    runner = CliRunner()
    result = runner.invoke(app, ["claims", str(path), "--tracking-uri", uri, "-f", "csv"])
    assert result.exit_code == 0, result.output
    header = "claim,variant,versus,expect,metric,n,delta,ci_low,ci_high,p_value,p_adjusted,mde,verdict,reason"
    assert result.output.splitlines()[0] == header
    frame = pd.read_csv(io.StringIO(result.output), keep_default_na=False)
    verdicts = dict(zip(frame["claim"], frame["verdict"], strict=True))
    assert verdicts["an lr that learns beats one that cannot"] == "supported"
    assert verdicts["the untrained net beats the trained one"] == "contradicted"
    # seed re-run at chance: 4 folds cannot show equivalence within ±0.01
    seed = frame[frame["variant"] == "seed1"].iloc[0]
    assert seed["verdict"] == "not shown" and seed["reason"].startswith("too few folds")
    subset = frame[frame["variant"] == "subset"].iloc[0]
    assert subset["verdict"] == "not shown"
    text = runner.invoke(app, ["claims", str(path), "--tracking-uri", uri, "--adjust", "none"])
    assert text.exit_code == 0, text.output
    assert "unpaired: different split" in text.output and "no adjustment" not in text.output
    assert "p not adjusted for the family" in text.output
    latex = runner.invoke(
        app, ["claims", str(path), "--tracking-uri", uri, "-f", "latex", "--test", "bayes"]
    )
    assert latex.exit_code == 0 and "probabilities are per row" in latex.output
