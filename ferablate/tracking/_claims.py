"""Claims: each trial (config hash) of an experiment is trained by one live process at a time.

A claim is the trial's parent run itself: RUNNING, tagged with its owner's host and pid and a
heartbeat (seconds since the epoch) that a daemon thread refreshes every ``HEARTBEAT_S``. An
owner is alive while its pid lives (same host) or its heartbeat is younger than
``STALE_AFTER_S`` (other hosts); a dead owner's run is closed KILLED and the trial taken over.

MLflow has no compare-and-set, so a claim is made in three steps:

1. read every trial run with the hash (:func:`read_claims`): one that FINISHED (or that another
   process ended during this sweep) means done; a RUNNING one with a live owner means taken;
2. otherwise create the RUNNING run (the claim);
3. re-read the live RUNNING runs with the hash: the claim holds only if it is the only one
   (:func:`wins_claim`); else its run is deleted at once (it never trained) and the trial
   counts as taken, to be tried again later.

Why no trial is trained twice, on any store and without comparing clocks: say A and B both
hold a claim. A's re-read (3) did not see B's run, so B created it after that re-read, hence
after A's run existed; B's re-read came later still and saw A's run, so B lost. Contradiction.
Two claimants that see each other both lose and retry at random later times (a rare, cheap
collision). On a SQLite store the three steps also run under an ``fcntl`` lock beside the
database file (one machine), so there they never even collide.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ferablate._logging import get_logger
from ferablate._machine import process_alive as _pid_alive  # tests import it by this name
from ferablate.tracking._runs import RunStore, StoredRun, newest_by_identity
from ferablate.tracking._sqlite_read import finished_trials_sqlite
from ferablate.tracking._store import TAG, resolve_tracking_uri, search_runs

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = [
    "HEARTBEAT_S",
    "STALE_AFTER_S",
    "ClaimState",
    "Heartbeat",
    "finished_hashes",
    "owner_alive",
    "read_claims",
    "store_lock",
    "wins_claim",
]

_log = get_logger(__name__)

HEARTBEAT_S = 15.0  # seconds between a running trial's heartbeats
STALE_AFTER_S = 90.0  # a heartbeat this old means its owner (on another host) is gone


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


@contextlib.contextmanager
def store_lock(uri: str, purpose: str) -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock ``<db>.<purpose>.lock`` beside a SQLite store (no-op for
    other stores, and where ``fcntl`` is missing): store creation and claims are serialised
    between the processes of one machine."""
    path = _sqlite_path(uri)
    try:
        import fcntl
    except ImportError:  # Windows: no fcntl; the re-read rule still holds
        path = None
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(f"{path.name}.{purpose}.lock").open("a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def finished_hashes(experiment: str, tracking_uri: str | None = None) -> dict[str, StoredRun]:
    """trial identity -> newest FINISHED trial run of ``experiment``: what a sweep skips.

    Reads the store without the writers (so without torch); a SQLite store that does not exist
    yet has no finished trials and is not created here.
    """
    uri = resolve_tracking_uri(tracking_uri, create=False, missing_ok=True)
    path = _sqlite_path(uri)
    if path is not None and (not path.exists() or path.stat().st_size == 0):
        return {}  # no store yet, or an empty file: nothing finished (and nothing written)
    fast = finished_trials_sqlite(path, experiment) if path is not None else None
    if fast is not None:
        return newest_by_identity(fast)
    with store_lock(uri, "init"):
        return RunStore(uri).finished_by_hash(experiment)


def owner_alive(run: StoredRun, now: float | None = None, host: str | None = None) -> bool:
    """Whether the process that owns a RUNNING run still lives (see the module docstring)."""
    tags = run.tags
    pid = int(tags.get(TAG.PID, "0") or 0)
    if tags.get(TAG.HOST) == (host or socket.gethostname()):
        return pid == os.getpid() or _pid_alive(pid)
    beat = float(tags.get(TAG.HEARTBEAT, "") or run.start_time / 1000)
    return (now if now is not None else time.time()) - beat < STALE_AFTER_S


@dataclass(frozen=True)
class ClaimState:
    """The trial runs of one config hash, as a claimant sees them."""

    done: StoredRun | None  # ended: FINISHED (counts), or another process's failure this sweep
    live: list[StoredRun]  # RUNNING with a live owner (claims), oldest first
    dead: list[StoredRun]  # RUNNING, owner gone: to close KILLED and take over


def read_claims(
    client: MlflowClient,
    experiment_id: str,
    config_hash: str,
    *,
    finished_since: int = 0,
    ended_since: int | None = None,
) -> ClaimState:
    """Classify the trial runs with ``config_hash``. A FINISHED run started at or after
    ``finished_since`` (ms) is done; so is a run that ended FAILED (an error, oom, divergence:
    not KILLED) started at or after ``ended_since`` — another process's failure in this sweep
    is not trained again."""
    where = f"tags.`{TAG.ROLE}` = 'trial' and tags.`{TAG.CONFIG_HASH}` = '{config_hash}'"
    runs = [StoredRun.from_mlflow(r) for r in search_runs(client, [experiment_id], where, None)]
    now = time.time()
    done = next(
        (
            r
            for r in runs
            if (r.status == "FINISHED" and r.start_time >= finished_since)
            or (r.status == "FAILED" and ended_since is not None and r.start_time >= ended_since)
        ),
        None,
    )
    running = [r for r in runs if r.status == "RUNNING"]
    live = sorted(
        (r for r in running if owner_alive(r, now)), key=lambda r: (r.start_time, r.run_id)
    )
    return ClaimState(done, live, [r for r in running if r not in live])


def wins_claim(run_id: str, state: ClaimState) -> bool:
    """Whether run ``run_id`` holds the claim: it is the only live RUNNING run of its hash."""
    return [r.run_id for r in state.live] == [run_id]


class Heartbeat:
    """A daemon thread that stamps ``ferablate.heartbeat`` on the runs this process holds."""

    def __init__(self, client: MlflowClient, interval: float = HEARTBEAT_S) -> None:
        self._client = client
        self._interval = interval
        self._runs: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, run_id: str) -> None:
        with self._lock:
            self._runs.add(run_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._beat, name="ferablate-heartbeat", daemon=True
                )
                self._thread.start()

    def release(self, run_id: str) -> None:
        with self._lock:
            self._runs.discard(run_id)

    def _beat(self) -> None:
        while not self._wake.wait(self._interval):
            with self._lock:
                held = sorted(self._runs)
                if not held:  # nothing to keep alive: end; the next hold() starts a new thread
                    self._thread = None
                    return
            for run_id in held:
                try:
                    if self._client.get_run(run_id).info.status != "RUNNING":
                        self.release(run_id)  # ended (by its owner or closed as stale)
                        continue
                    self._client.set_tag(run_id, TAG.HEARTBEAT, f"{time.time():.0f}")
                except Exception as exc:  # the store is busy or gone: the next beat retries
                    _log.debug("heartbeat of run %s not written: %s", run_id, exc)
