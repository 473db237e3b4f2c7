"""``optuna --trials N`` is the study's total: a killed search resumed with the same command
ends with N trials; ``--more N`` asks for N more."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from _tiny import tiny_base
from typer.testing import CliRunner

from ferablate.cli import app

SWEEP = {
    "name": "total",
    "base": tiny_base(epochs=2),
    "search": {"train.lr": {"low": 1e-3, "high": 1e-2, "log": True}},
}


def _complete(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            row = connection.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'")
            return int(row.fetchone()[0])
    except sqlite3.OperationalError:  # no tables yet
        return 0


def _states(storage: str) -> list[str]:
    study = optuna.load_study(study_name="total", storage=storage)
    return [t.state.name for t in study.trials]


@pytest.mark.slow  # two CLI processes, 4 + 1 tiny trials
@pytest.mark.timeout(300)
def test_a_killed_search_resumed_with_the_same_command_ends_at_its_total(tmp_path: Path) -> None:
    sweep = tmp_path / "total.yaml"
    sweep.write_text(yaml.safe_dump(SWEEP))
    db = tmp_path / "optuna.db"
    storage = f"sqlite:///{db}"
    args = ["optuna", str(sweep), "--trials", "4", "--storage", storage, "--seed", "0"]
    args += ["--sampler", "random", "--heartbeat", "1", "--grace", "2"]
    killed = subprocess.Popen(
        [sys.executable, "-m", "ferablate", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 200
        while _complete(db) < 2 and killed.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert killed.poll() is None, "the search ended before it could be killed"
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=30)
    finally:
        killed.kill()
    assert 2 <= _states(storage).count("COMPLETE") < 4

    result = CliRunner().invoke(app, args, catch_exceptions=False)  # the same command again
    assert result.exit_code == 0, result.output
    assert _states(storage).count("COMPLETE") == 4  # its total, not 4 more

    again = CliRunner().invoke(app, args, catch_exceptions=False)  # nothing left to do
    assert again.exit_code == 0, again.output
    assert _states(storage).count("COMPLETE") == 4

    more = CliRunner().invoke(app, [*args[:2], "--more", "1", *args[4:]], catch_exceptions=False)
    assert more.exit_code == 0, more.output
    assert _states(storage).count("COMPLETE") == 5


def test_trials_and_more_together_is_one_error_line(tmp_path: Path) -> None:
    from ferablate.cli._app import run_cli

    sweep = tmp_path / "total.yaml"
    sweep.write_text(yaml.safe_dump(SWEEP))
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    code = run_cli(["optuna", str(sweep), "--trials", "4", "--more", "1", "--storage", storage])
    assert code == 2
    assert not (tmp_path / "optuna.db").exists()
