"""Fold runs as the engine names them (R x k with repeats), their params and status tags; the
git commit of the package's own tree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ferablate.config import parse_sweep
from ferablate.runner import RunOptions, run_sweep
from ferablate.stats import fold_grid
from ferablate.tracking import TAG, RunStore, TrialTracker

REPO = Path(__file__).resolve().parents[2]
TINY: dict[str, Any] = {
    "data": {"source": "synthetic", "synthetic_size": 140},
    "model": {"family": "sequential", "convs": [{"channels": 4}], "dense": [8]},
    "train": {"folds": 2, "epochs": 1, "batch_size": 32},
}


def _run(name: str, **train: Any) -> str:
    base = {**TINY, "train": {**TINY["train"], **train}}
    (outcome,) = run_sweep(
        parse_sweep({"name": name, "base": base}), options=RunOptions(figures=False)
    )
    assert outcome.status == "finished", outcome.message
    assert outcome.run_id is not None
    return outcome.run_id


def test_repeats_give_r_times_k_fold_runs_named_r_f_with_distinct_face_params() -> None:
    run_id = _run("repeats", repeats=2, lr=1e-9)  # lr ~0: every fold stays at chance
    tracker = TrialTracker("repeats")
    folds = tracker.search(f"tags.`{TAG.PARENT}` = '{run_id}'")
    assert sorted(run.info.run_name for run in folds) == [
        f"base/r{r}-f{f}" for r in range(2) for f in range(2)
    ]
    assert sorted(run.data.tags[TAG.FOLD] for run in folds) == ["r0-f0", "r0-f1", "r1-f0", "r1-f1"]
    for run in folds:  # 140 faces, 2 folds: 70 distinct faces each side, before balancing
        assert run.data.params["n_train_distinct"] == "70"
        assert run.data.params["n_val_distinct"] == "70"
        assert run.data.tags[TAG.FOLD_STATUS] == "collapsed"
    stored = RunStore().load_trial(run_id)
    grid = fold_grid(stored.fold_metrics)  # the tags are names stats understands
    assert (grid.repeats, grid.folds) == (2, 2)
    assert stored.collapsed_folds == {"r0-f0", "r0-f1", "r1-f0", "r1-f1"}
    assert set(stored.tags[TAG.COLLAPSED_FOLDS].split(",")) == stored.collapsed_folds


def test_one_repeat_keeps_todays_run_names_and_fold_tags() -> None:
    run_id = _run("single")
    folds = TrialTracker("single").search(f"tags.`{TAG.PARENT}` = '{run_id}'")
    assert sorted(run.info.run_name for run in folds) == ["base/fold-0", "base/fold-1"]
    stored = RunStore().load_trial(run_id)
    assert sorted(stored.fold_metrics) == ["0", "1"]
    assert fold_grid(stored.fold_metrics).names == ("0", "1")
    assert stored.fold_params["0"]["n_val_distinct"] == "70"


def test_publictest_is_scored_only_when_asked_and_needs_publictest_faces() -> None:
    # Synthetic faces have a PublicTest split (1/8 of the training size); the trial run gets
    # the mean over the fold models.
    run_id = _run("public", score_publictest=True)
    metrics = RunStore().get_run(run_id).metrics
    assert 0.0 <= metrics["publictest_accuracy_mean"] <= 1.0
    assert {"publictest_precision_mean", "publictest_recall_mean"} <= set(metrics)
    plain = RunStore().get_run(_run("plain")).metrics
    assert not any(key.startswith("publictest_") for key in plain)


def test_git_commit_is_the_package_trees_from_any_working_directory(tmp_path: Path) -> None:
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    code = "import ferablate.tracking as t; print(t.git_commit())"
    outside = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert outside.stdout.strip() == (f"{head}+dirty" if dirty else head)
