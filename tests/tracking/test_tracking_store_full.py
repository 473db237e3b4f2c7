"""A full disk stops a sweep with one line, marks what it can, and the next run resumes."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow import MlflowClient

from ferablate import StoreFullError
from ferablate.cli._app import run_cli
from ferablate.config import parse_sweep
from ferablate.runner import QuietObserver, RunOptions, run_sweep
from ferablate.tracking import TAG, TrialTracker
from ferablate.tracking._store import store_full_error

TINY = {
    "data": {"source": "synthetic", "synthetic_size": 300},
    "model": {"family": "sequential", "convs": [{"channels": 4}, {"channels": 8}], "dense": [16]},
    "train": {"folds": 2, "epochs": 1, "batch_size": 64, "lr": 0.003},
}
SWEEP = {"name": "full", "base": TINY, "grid": {"train.lr": [0.001, 0.002, 0.003]}}


def test_store_full_error_recognises_sqlite_and_enospc_through_wrappers() -> None:
    uri = "sqlite:////data/mlruns/mlflow.db"
    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as inner:
            raise RuntimeError("(sqlite3.OperationalError) insert failed") from inner
    except RuntimeError as wrapped:
        found = store_full_error(wrapped, uri)
    assert found is not None and found.path == "/data/mlruns"
    disk = store_full_error(OSError(errno.ENOSPC, "No space left on device", "/data/a.pt"), uri)
    assert disk is not None and disk.path == "/data"  # the folder that is full, not a file
    copy = OSError(errno.ENOSPC, "No space left on device", "/tmp/x/a.pt", None, "/data/mlruns/a")
    found = store_full_error(copy, uri)  # a copy's source is no place to free
    assert found is not None and found.path == "/data/mlruns"
    assert store_full_error(ValueError("bad value"), uri) is None
    message = str(disk.stopped_at("after 1 of 3 trials"))
    assert message.startswith("no space left on /data; the sweep stopped after 1 of 3 trials")


class _FillsDiskAtTrial(QuietObserver):
    def __init__(self, monkeypatch: pytest.MonkeyPatch, position: int) -> None:
        self.monkeypatch, self.position = monkeypatch, position

    def on_trial_start(self, trial: Any, position: int, total: int) -> None:
        if position == self.position:  # from now on every metric insert fails
            log_batch = MlflowClient.log_batch

            def full(client: MlflowClient, *args: Any, **kwargs: Any) -> None:
                if kwargs.get("metrics"):
                    raise sqlite3.OperationalError("database or disk is full")
                log_batch(client, *args, **kwargs)

            self.monkeypatch.setattr(MlflowClient, "log_batch", full)


def test_a_full_disk_stops_the_sweep_marks_the_trial_and_the_next_run_resumes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sweep = parse_sweep(SWEEP)
    log_batch = MlflowClient.log_batch
    with pytest.raises(StoreFullError, match=r"the sweep stopped after 1 of 3 trials"):
        run_sweep(
            sweep,
            options=RunOptions(figures=False),
            observer=_FillsDiskAtTrial(monkeypatch, position=2),
        )
    tracker = TrialTracker("full")
    runs = tracker.search(f"tags.`{TAG.ROLE}` = 'trial'")
    assert sorted(r.info.status for r in runs) == ["FINISHED", "KILLED"]  # never left RUNNING
    killed = next(r for r in runs if r.info.status == "KILLED")
    assert "no space left" in killed.data.tags[TAG.FAILURE_REASON]
    folds = tracker.search(f"tags.`{TAG.PARENT}` = '{killed.info.run_id}'")
    assert folds and {f.info.status for f in folds} == {"KILLED"}

    monkeypatch.setattr(MlflowClient, "log_batch", log_batch)  # space freed: the sweep resumes
    again = run_sweep(sweep, options=RunOptions(figures=False))
    assert [o.status for o in again] == ["skipped", "finished", "finished"]


def test_cli_prints_one_line_and_exits_1_when_artifacts_hit_enospc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "full.yaml"
    path.write_text(yaml.safe_dump({**SWEEP, "grid": {"train.lr": [0.001, 0.002]}}))

    def no_space(
        self: object, run_id: str, local_dir: str, artifact_path: str | None = None
    ) -> None:
        raise OSError(
            errno.ENOSPC, "No space left on device", str(tmp_path / "mlruns" / "artifacts")
        )

    monkeypatch.setattr(MlflowClient, "log_artifacts", no_space)
    assert run_cli(["run", str(path), "--no-figures"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: no space left on ") and "stopped after 0 of 2 trials" in last
    assert sum(line.startswith("error:") for line in err.splitlines()) == 1


def test_a_full_disk_is_one_line_and_mlflow_tracebacks_go_to_the_debug_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import logging

    path = tmp_path / "full.yaml"
    path.write_text(yaml.safe_dump({**SWEEP, "grid": {"train.lr": [0.001]}}))
    mlflow_log = logging.getLogger("mlflow.store.db.utils")

    def full(client: MlflowClient, *args: Any, **kwargs: Any) -> None:
        try:  # what MLflow's SQL store does with every error: log its traceback, re-raise
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as exc:
            mlflow_log.exception("SQLAlchemy database error. The following exception is caught.")
            raise RuntimeError("(sqlite3.OperationalError) database or disk is full") from exc

    monkeypatch.setattr(MlflowClient, "log_batch", full)
    assert run_cli(["run", str(path), "--no-figures"]) == 1
    err = capfd.readouterr().err
    assert "Traceback" not in err and "SQLAlchemy" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: no space left on {tmp_path / 'mlruns'}; the sweep stopped after 0 of 1 trials "
        "— free space and run it again to resume"
    ]
