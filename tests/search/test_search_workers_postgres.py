"""Workers sharing a grid through a PostgreSQL study: each trial once, a killed worker's trial redone,
one worker's ``--jobs 2`` processes sharing the study.

Needs the PostgreSQL server on 127.0.0.1:5432 (database ``test``); every test session creates
its own database and drops it at the end. Workers are real ``python -m ferablate worker``
processes sharing one SQLite MLflow store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from _tiny import tiny_base
from mlflow import MlflowClient

from ferablate.config import expand_sweep, parse_sweep
from ferablate.search import ATTR, StudySpec, enqueue_trials, open_storage, open_study
from ferablate.tracking import TAG, TrialTracker, resolve_tracking_uri

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

HEARTBEAT, GRACE = 1, 5  # seconds: a killed worker's trial comes back after ~5 s

GRID = {
    "name": "tiny-grid",
    "base": tiny_base(epochs=2),
    "variants": [{"name": "bn"}, {"name": "no-bn", "set": {"model.batch_norm": False}}],
    "grid": {"train.lr": [0.001, 0.002, 0.003]},
}


def _queue_grid(storage_url: str, study_name: str, sweep: dict[str, Any] = GRID) -> list[str]:
    trials = expand_sweep(parse_sweep(sweep))
    study, _ = open_study(
        open_storage(storage_url), study_name, StudySpec(kind="grid", experiment="tiny-grid")
    )
    queued, _ = enqueue_trials(study, trials)
    assert len(queued) == len(trials)
    TrialTracker(
        "tiny-grid"
    )  # create the MLflow DB once: two workers migrating one new SQLite file race
    return queued


def _worker(storage_url: str, study_name: str, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable, "-m", "ferablate", "worker", "--storage", storage_url, "--study", study_name,
        "--heartbeat", str(HEARTBEAT), "--grace", str(GRACE), "--no-figures", *extra,
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _wait(process: subprocess.Popen[bytes], log: Path, seconds: float = 240) -> None:
    try:
        code = process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"worker did not finish in {seconds}s:\n{log.read_text()[-3000:]}")
    assert code == 0, log.read_text()[-3000:]


def _trial_runs(status: str | None = None) -> list:  # type: ignore[type-arg]
    client = MlflowClient(resolve_tracking_uri())
    experiment = client.get_experiment_by_name("tiny-grid")
    if experiment is None:
        return []
    where = f"tags.`{TAG.ROLE}` = 'trial'" + (
        f" and attributes.status = '{status}'" if status else ""
    )
    return client.search_runs([experiment.experiment_id], where)


def _states(storage_url: str, study_name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study_name, storage=storage_url).get_trials()


def test_two_workers_run_each_grid_trial_exactly_once(postgres_url: str, tmp_path: Path) -> None:
    names = _queue_grid(postgres_url, "two-workers")
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    workers = [_worker(postgres_url, "two-workers", log) for log in logs]
    for process, log in zip(workers, logs, strict=True):
        _wait(process, log)

    trials = _states(postgres_url, "two-workers")
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 6
    assert sorted(t.user_attrs[ATTR.TRIAL] for t in trials) == sorted(names)
    runs = _trial_runs()
    assert sorted(r.data.tags[TAG.TRIAL] for r in runs) == sorted(names)  # no duplicate runs at all
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.tags[TAG.STUDY] for r in runs} == {"two-workers"}
    assert len({r.data.tags[TAG.HOST] + r.data.tags[TAG.PID] for r in runs}) == 2  # both worked

    # `ferablate run --storage` on the finished study queues nothing and trains nothing.
    from typer.testing import CliRunner

    from ferablate.cli import app

    sweep = tmp_path / "grid.yaml"
    import yaml

    sweep.write_text(yaml.safe_dump(GRID))
    result = CliRunner().invoke(
        app,
        ["run", str(sweep), "--storage", postgres_url, "--study", "two-workers"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert len(_states(postgres_url, "two-workers")) == 6
    assert len(_trial_runs()) == 6


def test_one_worker_with_two_jobs_runs_each_trial_once_in_both(
    postgres_url: str, tmp_path: Path
) -> None:
    grid = {**GRID, "grid": {"train.lr": [0.001, 0.003]}}  # 2 variants x 2 = 4 trials
    names = _queue_grid(postgres_url, "jobs", grid)
    assert len(names) == 4
    log = tmp_path / "worker.log"
    _wait(_worker(postgres_url, "jobs", log, "--jobs", "2"), log)

    trials = _states(postgres_url, "jobs")
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 4
    assert sorted(t.user_attrs[ATTR.TRIAL] for t in trials) == sorted(names)
    runs = _trial_runs()
    assert [r.info.status for r in runs] == ["FINISHED"] * 4  # no duplicate or stray runs
    assert sorted(r.data.tags[TAG.TRIAL] for r in runs) == sorted(names)
    assert len({r.data.tags[TAG.CONFIG_HASH] for r in runs}) == 4
    assert len({r.data.tags[TAG.PID] for r in runs}) == 2  # both job processes trained


def test_a_killed_workers_trial_is_finished_by_another(postgres_url: str, tmp_path: Path) -> None:
    names = _queue_grid(postgres_url, "kill")
    log_a, log_b = tmp_path / "worker-a.log", tmp_path / "worker-b.log"
    victim = _worker(postgres_url, "kill", log_a)
    deadline = time.monotonic() + 120
    while not _trial_runs("RUNNING"):  # wait until it trains (its MLflow run is open)
        if victim.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"worker never started a trial:\n{log_a.read_text()[-3000:]}")
        time.sleep(0.3)
    (running,) = [
        t for t in _states(postgres_url, "kill") if t.state == optuna.trial.TrialState.RUNNING
    ]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()

    rescuer = _worker(postgres_url, "kill", log_b)
    _wait(rescuer, log_b)

    trials = _states(postgres_url, "kill")
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.user_attrs[ATTR.TRIAL] for t in complete) == sorted(names)  # all 6, each once
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert [t.number for t in failed] == [running.number]
    retry = [t for t in complete if t.system_attrs.get("failed_trial") == running.number]
    assert [t.user_attrs[ATTR.TRIAL] for t in retry] == [running.user_attrs[ATTR.TRIAL]]

    finished = _trial_runs("FINISHED")
    assert sorted(r.data.tags[TAG.TRIAL] for r in finished) == sorted(names)
    (killed,) = [r for r in _trial_runs() if r.info.status != "FINISHED"]
    assert killed.info.status == "KILLED"
    assert killed.data.tags[TAG.FAILURE] == "killed"
    assert killed.data.tags[TAG.OPTUNA_TRIAL] == str(running.number)
    assert killed.data.tags[TAG.TRIAL] == running.user_attrs[ATTR.TRIAL]
