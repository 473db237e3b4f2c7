"""``sweep_status`` / ``ferablate status``: a live trial with its epochs, skipped, killed, diverged, waiting."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ferablate import TrackingError, TrialOutcome
from ferablate.cli import app
from ferablate.config import expand_sweep, load_sweep
from ferablate.runner import sweep_status
from ferablate.tracking import TAG, TrialTracker, identify_trials

SWEEP = """\
name: watched
base:
  data: {source: synthetic, synthetic_size: 300}
  model: {preset: baseline-model1}
  train: {folds: 2, epochs: 3}
variants:  # distinct configs: a trial is its config hash
  - {name: live, set: {train.lr: 0.001}}
  - {name: earlier, set: {train.lr: 0.002}}
  - {name: dead, set: {train.lr: 0.003}}
  - {name: nan, set: {train.lr: 0.004}}
  - {name: later, set: {train.lr: 0.005}}
"""


def _dead_pid() -> str:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return str(child.pid)


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    """Five trials: one running here (epoch 1 logged), one finished by an earlier process,
    one left RUNNING by a dead process, one diverged, one not started."""
    path = tmp_path / "watched.yaml"
    path.write_text(SWEEP)
    live, earlier, dead, nan, _ = identify_trials(expand_sweep(load_sweep(path)))
    tracker = TrialTracker("watched")
    done = tracker.start(earlier, data_hash="d", extra_tags={TAG.PID: "1"})
    done.end(TrialOutcome.FINISHED)
    tracker.start(dead, data_hash="d", extra_tags={TAG.PID: _dead_pid()})
    failed = tracker.start(nan, data_hash="d")
    failed.end(TrialOutcome.DIVERGED, "diverged (fold 0, epoch 2): training loss nan")
    running = tracker.start(live, data_hash="d")
    running.log_metrics({"val_accuracy_mean": 0.2, "train_loss_mean": 1.9}, step=1)
    return path


def test_status_reads_each_trial_state_from_mlflow(sweep_file: Path) -> None:
    status = sweep_status(load_sweep(sweep_file))
    states = {t.name: t for t in status.trials}
    assert [states[n].state for n in ("live", "earlier", "dead", "nan", "later")] == [
        "running", "skipped", "killed", "diverged", "waiting",
    ]  # fmt: skip
    live = states["live"]
    assert live.detail.startswith(f"on {socket.gethostname()}:{os.getpid()} since ")
    assert (live.epochs_done, live.epochs) == (1, 3)
    assert "training loss nan" in states["nan"].detail
    assert status.elapsed is not None and status.remaining is not None and status.remaining > 0
    assert status.counts == {"waiting": 1, "running": 1, "diverged": 1, "killed": 1, "skipped": 1}


def test_status_command_plain_lines(sweep_file: Path) -> None:
    result = CliRunner().invoke(app, ["status", str(sweep_file)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "sweep 'watched' (experiment 'watched'): 1 waiting, 1 running" in lines[0]
    assert any(line.startswith("  live: running, on ") and "epoch 1/3" in line for line in lines), (
        lines
    )
    assert any(line.startswith("  earlier: skipped, run ") for line in lines), lines


def test_status_is_read_only(tmp_path: Path) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text(SWEEP)
    missing = tmp_path / "nowhere" / "mlflow.db"
    with pytest.raises(TrackingError, match="no MLflow store"):
        sweep_status(load_sweep(sweep), tracking_uri=f"sqlite:///{missing}")
    assert not missing.parent.exists()
    TrialTracker("another")  # a store without the sweep's experiment
    result = subprocess.run(
        [sys.executable, "-m", "ferablate", "status", str(sweep)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stderr.startswith(
        "error: no MLflow experiment 'watched'"
    ), result.stderr


def test_status_reads_and_renders_without_torch(sweep_file: Path) -> None:
    code = (
        "import sys\n"
        "from ferablate.config import load_sweep\n"
        "from ferablate.runner import sweep_status\n"
        "import ferablate.cli._status\n"
        f"status = sweep_status(load_sweep({str(sweep_file)!r}))\n"
        "assert status.counts['running'] == 1, status.counts\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.postgres
def test_status_of_a_study_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    import optuna

    from ferablate.search import StudySpec, enqueue_trials, open_storage, open_study

    path = tmp_path / "watched.yaml"
    path.write_text(SWEEP)
    trials = identify_trials(expand_sweep(load_sweep(path)))
    tracker = TrialTracker("watched")
    tracker.start(trials[1], data_hash="d").end(
        TrialOutcome.FINISHED
    )  # finished before: never queued
    study, _ = open_study(
        open_storage(postgres_url), "watched", StudySpec(kind="grid", experiment="watched")
    )
    queued, skipped = enqueue_trials(study, trials, tracker.finished_trials())
    assert queued == ["live", "dead", "nan", "later"]
    assert skipped == ["earlier"]
    asked = study.ask()  # a worker claims the first queued trial ...
    study.tell(asked, 0.4)  # ... and completes it
    study.ask()  # another claims the next: RUNNING, no MLflow run yet
    status = sweep_status(load_sweep(path), storage_url=postgres_url)
    states = {t.name: (t.state, t.study_state) for t in status.trials}
    assert states == {
        "live": ("finished", "COMPLETE"), "earlier": ("skipped", None), "dead": ("running", "RUNNING"),
        "nan": ("waiting", "WAITING"), "later": ("waiting", "WAITING"),
    }, states  # fmt: skip
    assert status.study == "watched"
    with pytest.raises(Exception, match="no study 'other'"):
        sweep_status(load_sweep(path), storage_url=postgres_url, study_name="other")
    assert {s.study_name for s in optuna.get_all_study_summaries(postgres_url)} == {"watched"}
