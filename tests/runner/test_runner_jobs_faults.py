"""``--jobs`` under faults: a job killed mid-trial is noticed, its trial trained again, and the
sweep ends complete; a killed parent leaves no job behind; ``--jobs`` is capped."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ferablate.runner import RunOptions
from ferablate.runner._jobs import cap_jobs
from ferablate.tracking._claims import _pid_alive

SWEEP = """name: killed
base:
  data: {source: synthetic, synthetic_size: 140}
  model: {family: sequential, convs: [{channels: 4}], dense: [8]}
  train: {folds: 2, epochs: EPOCHS, batch_size: 32}
variants: [{name: a}, {name: b, set: {train.seed: 2}}]
"""


def _sweep(tmp_path: Path, epochs: int) -> Path:
    path = tmp_path / "killed.yaml"
    path.write_text(SWEEP.replace("EPOCHS", str(epochs)))
    return path


def _start(tmp_path: Path, sweep: Path, *args: str) -> subprocess.Popen[str]:
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    command = [sys.executable, "-m", "ferablate", "run", str(sweep), "--tracking-uri", uri]
    return subprocess.Popen(
        [*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _trial_runs(db: Path) -> list[tuple[str, str, str]]:
    """(status, config hash, owner pid) of every trial run in the store."""
    if not db.exists():
        return []
    query = """
        select r.status, h.value, coalesce(p.value, '') from runs r
        join tags t on t.run_uuid = r.run_uuid and t.key = 'ferablate.role' and t.value = 'trial'
        join tags h on h.run_uuid = r.run_uuid and h.key = 'ferablate.config_hash'
        left join tags p on p.run_uuid = r.run_uuid and p.key = 'ferablate.pid'
        where r.lifecycle_stage = 'active'
    """
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            return [tuple(row) for row in connection.execute(query)]
    except sqlite3.OperationalError:  # the schema is still being written
        return []


def _children(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (Linux /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def _wait_for(condition: object, seconds: float, what: str) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()  # type: ignore[operator]
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")


@pytest.mark.slow  # three processes start torch; ~30-60 s on an idle 2-core machine
@pytest.mark.timeout(300)
@pytest.mark.parametrize("queue", ["store", "study"])
def test_a_job_killed_mid_trial_is_replaced_and_the_sweep_ends_with_every_trial_once(
    tmp_path: Path, queue: str
) -> None:
    # The same loop on either queue. On a study the dead job's Optuna trial comes back after
    # the grace period (heartbeat 1 s: 3 s) and the new job (or its sibling) trains it.
    db = tmp_path / "mlruns" / "mlflow.db"
    study = ("--storage", f"sqlite:///{tmp_path / 'optuna.db'}", "--heartbeat", "1")
    args = ("--jobs", "2", "--no-figures", *(study if queue == "study" else ()))
    parent = _start(tmp_path, _sweep(tmp_path, epochs=8), *args)
    try:
        running = _wait_for(
            lambda: [r for r in _trial_runs(db) if r[0] == "RUNNING" and r[2]], 120, "a trial"
        )
        victim = int(running[0][2])  # type: ignore[index]
        assert victim in _children(parent.pid)
        os.kill(victim, signal.SIGKILL)
        _, err = parent.communicate(timeout=180)
    finally:
        parent.kill()
    assert parent.returncode == 0, err
    runs = _trial_runs(db)
    finished = [config_hash for status, config_hash, _ in runs if status == "FINISHED"]
    assert len(finished) == 2 and len(set(finished)) == 2  # every trial once
    assert [status for status, *_ in runs].count("KILLED") == 1  # the killed job's run
    assert "RUNNING" not in {status for status, *_ in runs}
    said = " ".join(err.split())  # rich wraps the line at 80 columns
    assert f"(pid {victim}) died (SIGKILL)" in said and "a new job takes over" in said


@pytest.mark.slow  # two job processes start
@pytest.mark.timeout(120)
def test_killing_the_parent_leaves_no_job_alive(tmp_path: Path) -> None:
    parent = _start(tmp_path, _sweep(tmp_path, epochs=200), "--jobs", "2")
    try:
        jobs = _wait_for(
            lambda: [p for p in _children(parent.pid) if _is_job(p)] or None, 90, "the jobs"
        )
        children = _children(parent.pid)
        assert len(jobs) == 2  # type: ignore[arg-type]
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        _wait_for(lambda: not any(_pid_alive(p) for p in children), 5, "the jobs to end")
    finally:
        parent.kill()
        for child in _children(os.getpid()):
            if _is_job(child):
                os.kill(child, signal.SIGKILL)


def _is_job(pid: int) -> bool:
    try:
        return "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()  # not the tracker
    except OSError:
        return False


def test_jobs_are_capped_at_the_trials_to_run_and_warn_above_the_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ferablate.runner import _jobs

    class Records(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.WARNING)
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    records = Records()  # on the module's own logger: whatever the CLI did to propagation
    logger = logging.getLogger(_jobs.__name__)
    logger.addHandler(records)
    monkeypatch.setattr(_jobs, "available_cores", lambda: 2)
    try:
        assert cap_jobs(100_000, 1) == 1
        assert cap_jobs(2, 5) == 2 and cap_jobs(3, 2) == 2
        assert cap_jobs(4, None) == 4
    finally:
        logger.removeHandler(records)
    assert records.messages == [
        "--jobs 100000 is more than the 2 core(s) here: starting 1 job(s)",
        "--jobs 3 is more than the 2 core(s) here: starting 2 job(s)",
        "--jobs 4 is more than the 2 core(s) here: starting 4 job(s), which share the cores",
    ]


def test_a_zombie_does_not_look_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    _wait_for(lambda: _state(child.pid) == "Z", 30, "the child to end")
    try:
        assert not _pid_alive(child.pid)  # dead but not reaped: kill(pid, 0) still finds it
    finally:
        child.wait()
    assert _pid_alive(os.getpid())


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def test_jobs_100000_on_a_one_trial_sweep_trains_it_here(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ferablate.config import load_sweep
    from ferablate.runner import _jobs, run_sweep

    def no_processes(*args: object, **kwargs: object) -> None:
        raise AssertionError("a process per job was started for one trial")

    monkeypatch.setattr(_jobs, "run_jobs", no_processes)
    path = tmp_path / "one.yaml"
    path.write_text(SWEEP.replace("EPOCHS", "1").replace(", {name: b, set: {train.seed: 2}}", ""))
    reports = run_sweep(load_sweep(path), options=RunOptions(figures=False, jobs=100_000))
    assert [r.status for r in reports] == ["finished"]
