"""Identity end to end (issue 19.1): what a re-run skips, and what table/compare/status show."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ferablate._machine as machine
from ferablate._errors import ConfigError
from ferablate.config import legacy_config_hash, parse_sweep
from ferablate.runner import RunOptions, run_sweep, sweep_status
from ferablate.tables import sweep_rows
from ferablate.tables._sweepcompare import compare_sweep, sweep_scores
from ferablate.tracking import TAG, StoredRun, TrialTracker


def write_csv(path: Path, seed: int, per_class: int = 6) -> Path:
    """A tiny FER2013 CSV (Kaggle layout): ``per_class`` Training faces of each emotion."""
    rng = np.random.default_rng(seed)
    rows = ["emotion,pixels,Usage"]
    for label in range(7):
        for _ in range(per_class):
            rows.append(f"{label},{' '.join(map(str, rng.integers(0, 256, 48 * 48)))},Training")
    path.write_text("\n".join(rows) + "\n")
    return path


MODEL = {"family": "sequential", "convs": [{"channels": 4}], "dense": [8]}
TRAIN = {"folds": 2, "epochs": 2, "batch_size": 32}


def _sweep(data: dict[str, Any], name: str = "ident", variants: int = 1) -> Any:
    names = [{"name": "a"}, {"name": "b", "set": {"model.activation": "elu"}}][:variants]
    return parse_sweep(
        {"name": name, "base": {"data": data, "model": MODEL, "train": TRAIN}, "variants": names}
    )


@pytest.fixture
def bf16_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU machine whose ``precision: auto`` resolves to bf16, on any test machine."""
    monkeypatch.setattr(machine, "cpu_has_fast_bf16", lambda: True)
    monkeypatch.setattr(machine, "_gpu_device_nodes", lambda: False)


def _statuses(reports: list[Any]) -> list[str]:
    return [str(report.status) for report in reports]


@pytest.mark.usefixtures("bf16_cpu")
def test_data_content_is_identity_the_path_and_speed_settings_are_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    csv = write_csv(tmp_path / "faces.csv", seed=1)
    sweep = _sweep({"source": "fer2013", "path": str(csv)})
    assert _statuses(run_sweep(sweep, options=RunOptions(figures=False))) == ["finished"]

    moved = tmp_path / "moved" / "same-faces.csv"
    moved.parent.mkdir()
    shutil.move(csv, moved)
    same = {"data.path": str(moved)}
    assert _statuses(run_sweep(sweep, same, options=RunOptions(figures=False))) == [
        "skipped"
    ]  # moved: same trial
    unchanged = {**same, "train.pack_folds": False, "train.eval_batch_size": 7}
    assert _statuses(run_sweep(sweep, unchanged, options=RunOptions(figures=False))) == ["skipped"]
    explicit = {**same, "train.precision": "bf16"}  # what auto resolved to here
    assert _statuses(run_sweep(sweep, explicit, options=RunOptions(figures=False))) == ["skipped"]
    fp32 = {**same, "train.precision": "fp32"}
    assert _statuses(run_sweep(sweep, fp32, options=RunOptions(figures=False))) == ["finished"]

    other = write_csv(tmp_path / "other.csv", seed=2)  # other faces: another trial
    assert _statuses(
        run_sweep(sweep, {"data.path": str(other)}, options=RunOptions(figures=False))
    ) == ["finished"]
    write_csv(moved, seed=3)  # the file replaced at the same path: another trial again
    replaced = run_sweep(sweep, same, options=RunOptions(figures=False))
    assert _statuses(replaced) == ["finished"]

    moved.unlink()  # tables read where the data is not: the data hash comes from the store
    with caplog.at_level(logging.WARNING, logger="ferablate"):
        (row,) = sweep_rows(sweep, overrides=same)
    assert (row.status, row.run_id) == ("finished", replaced[0].run_id)
    assert "FER2013 data not found" in caplog.text and row.data_hash in caplog.text


def test_a_store_written_with_the_old_hashing_is_recognised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sweep = _sweep({"source": "synthetic", "synthetic_size": 140}, name="old-store", variants=2)
    first = run_sweep(sweep, options=RunOptions(figures=False))
    assert _statuses(first) == ["finished", "finished"]
    tracker = TrialTracker("old-store")
    for run in tracker.search(f"tags.`{TAG.ROLE}` = 'trial'"):  # as today's release wrote them
        stored = StoredRun.from_mlflow(run)
        tracker.client.set_tag(stored.run_id, TAG.CONFIG_HASH, legacy_config_hash(stored.config))
        tracker.client.delete_tag(stored.run_id, TAG.IDENTITY)
    assert all(TAG.IDENTITY not in r.data.tags for r in tracker.search(""))

    with caplog.at_level(logging.WARNING, logger="ferablate"):
        again = run_sweep(sweep, options=RunOptions(figures=False))
    assert _statuses(again) == ["skipped", "skipped"]  # no retraining
    assert [r.run_id for r in again] == [r.run_id for r in first]
    assert "2 finished trial(s) of 'old-store' were stored before trial identity v2" in caplog.text
    assert [row.status for row in sweep_rows(sweep)] == ["finished", "finished"]
    assert [t.state for t in sweep_status(sweep).trials] == ["finished", "finished"]


def test_table_compare_and_status_agree_on_runs_under_other_settings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sweep = _sweep({"source": "synthetic", "synthetic_size": 140}, name="agree", variants=2)
    ran = {"train.epochs": 1}
    assert _statuses(run_sweep(sweep, ran, options=RunOptions(figures=False))) == [
        "finished",
        "finished",
    ]

    with caplog.at_level(logging.WARNING, logger="ferablate"):  # the file's epochs: 2
        rows = sweep_rows(sweep)
        scores, _ = sweep_scores(sweep)
    status = sweep_status(sweep)
    assert [row.status for row in rows] == ["missing", "missing"]  # never the 1-epoch rows
    assert [score.status for score in scores] == ["missing", "missing"]
    assert [trial.state for trial in status.trials] == ["waiting", "waiting"]
    hint = "variants of this sweep also ran with train.epochs=1 (2 runs); add --set train.epochs=1"
    lines = [r.getMessage() for r in caplog.records if hint in r.getMessage()]
    assert len(lines) == 2  # one line from table, one from compare
    assert status.notes == (lines[0],)
    with pytest.raises(ConfigError, match=re.escape(f"no run under these settings; {hint}")):
        compare_sweep(sweep)  # the note, not "run it first"

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ferablate"):
        rows = sweep_rows(sweep, overrides=ran)
        compared = compare_sweep(sweep, ran)
    assert [row.status for row in rows] == ["finished", "finished"]
    assert [c.n for c in compared.comparisons] == [2]  # b against a, fold by fold
    assert [t.state for t in sweep_status(sweep, ran).trials] == ["finished", "finished"]
    assert sweep_status(sweep, ran).notes == () and "also ran with" not in caplog.text
