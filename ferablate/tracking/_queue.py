"""The trial queue: how trials are handed out to the processes that train them.

One protocol, :class:`TrialQueue`: ``claim`` a trial (or hear "wait": live processes hold the
rest; or None: nothing is left), train it while the queue keeps the claim alive
(``heartbeat``), then ``finish`` it with its report, or ``release`` it when an exception
stopped it. A holder that dies stops beating; the next claimant finds its trial stale, closes
its run KILLED and trains it. ``runner.work_queue`` drives any queue. Two backends:

- :class:`StoreQueue`: the MLflow store itself; a claim is the trial's RUNNING run
  (``tracking/_claims.py``). ``ferablate run``, its ``--jobs``, several machines on one store.
- ``search.StudyQueue``: an Optuna RDB study; a claim is a RUNNING Optuna trial.
  ``ferablate run --storage``, ``ferablate optuna``, ``ferablate worker``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from ferablate._outcome import TrialOutcome
from ferablate.config import Trial
from ferablate.tracking._runs import StoredRun
from ferablate.tracking._store import outcome_of_run

if TYPE_CHECKING:
    from ferablate.engine import TrialCallback, TrialResult
    from ferablate.tracking._tracker import TrialRun, TrialTracker

__all__ = ["WAIT", "Claim", "StoreQueue", "TrialQueue", "TrialReport"]

WAIT: Final = "wait"  # claim(): nothing to claim now, but live processes hold trials: ask again


@dataclass
class TrialReport:
    """What became of one trial in this process: trained, skipped, ended elsewhere, told Optuna."""

    trial: Trial
    status: TrialOutcome  # finished | skipped | failed | oom | diverged | pruned | rejected | lost
    summary: dict[str, float] = field(default_factory=dict)  # mean/std metrics over folds
    run_id: str | None = None
    seconds: float = 0.0
    message: str = ""
    result: TrialResult | None = None  # trained here: the engine's result (figures, the table)
    elsewhere: bool = False  # ended by another process while this one waited for it
    number: int | None = None  # the Optuna trial number (a study's trials)

    @property
    def value(self) -> float | None:
        """The score a study optimises: the mean validation accuracy over folds."""
        return self.summary.get("val_accuracy_mean")

    @classmethod
    def from_stored(
        cls, trial: Trial, run: StoredRun, message: str, *, elsewhere: bool = False
    ) -> TrialReport:
        """A trial whose run is already in the store: FINISHED (skipped) or ended elsewhere."""
        outcome = outcome_of_run(run.status, run.failure) or TrialOutcome.FAILED
        finished = outcome == TrialOutcome.FINISHED
        return cls(
            trial,
            TrialOutcome.SKIPPED if finished else outcome,
            summary={k: v for k, v in run.metrics.items() if k.endswith(("_mean", "_std"))},
            run_id=run.run_id,
            message=message if finished else f"{message}: {run.failure_reason}",
            elsewhere=elsewhere,
        )


@dataclass
class Claim:
    """A trial this process holds: train it, then ``finish`` or ``release`` it."""

    trial: Trial
    position: int  # 1-based, for progress: the trial's place in the sweep (study: claim order)
    total: int  # trials in the sweep or study, as known now
    run: TrialRun | None = None  # the claim's own RUNNING run (store queue); None: start one
    callbacks: Sequence[TrialCallback] = ()  # the queue's (pruning, lease checks)
    tags: Mapping[str, str] = field(default_factory=dict)  # run tags the queue adds
    ended: TrialReport | None = None  # nothing to train: ended elsewhere, reused or rejected
    handle: Any = None  # the backend's own (an Optuna trial)


class TrialQueue(Protocol):
    """Hands out trials: claim, heartbeat, finish, release; a dead holder's trial is taken over."""

    total: int  # trials in the sweep or study as known now (progress, a full store's message)

    def claim(self) -> Claim | Literal["wait"] | None:
        """The next trial this process holds, ``WAIT`` or None (nothing left)."""

    def heartbeat(self, claim: Claim) -> contextlib.AbstractContextManager[object]:
        """Keeps ``claim`` alive while it trains (other claimants see a live holder)."""

    def finish(self, claim: Claim, report: TrialReport) -> TrialReport:
        """Record how the trial ended; returns the report as the queue recorded it."""

    def release(self, claim: Claim, exc: BaseException) -> TrialReport | None:
        """Give the trial up after ``exc`` stopped it; a report if the queue took the
        exception as the trial's ending (pruned, lost), None to let it propagate."""


class StoreQueue:
    """The MLflow store as the queue: the given trials, in order, each claimed by starting its
    RUNNING run (``TrialTracker.claim``); a trial a live process holds is passed over and
    offered again after ``WAIT`` until it ends there (reported ``elsewhere``) or its holder
    dies (taken over)."""

    def __init__(
        self,
        tracker: TrialTracker,
        pending: Sequence[tuple[int, Trial]],
        total: int,
        data_hash: Callable[[Trial], str],
        tags: Mapping[str, str],
        since: tuple[int, int],
    ) -> None:
        self.tracker = tracker
        self.total = total  # trials in the sweep (position is the trial's place in it)
        self._data_hash = data_hash  # the content hash of the faces a trial trains on
        self._tags = dict(tags)
        # (finished_since, ended_since), ms: runs started before finished_since do not count
        # as done (--rerun); a failure started after ended_since is this sweep's: not retried
        self._finished_since, self._ended_since = since
        self._queue = list(pending)
        self._waiting: list[tuple[int, Trial]] = []

    def claim(self) -> Claim | Literal["wait"] | None:
        while self._queue or self._waiting:
            if not self._queue:
                self._queue, self._waiting = self._waiting, []
                return WAIT
            position, trial = self._queue.pop(0)
            claimed = self.tracker.claim(
                trial,
                data_hash=self._data_hash(trial),
                extra_tags=self._tags,
                finished_since=self._finished_since,
                ended_since=self._ended_since,
            )
            if not isinstance(claimed, StoredRun):
                return Claim(trial, position, self.total, run=claimed)
            if claimed.status == "RUNNING":  # another live process holds it: come back later
                self._waiting.append((position, trial))
                continue
            ended = TrialReport.from_stored(
                trial, claimed, f"ended in another process as run {claimed.run_id}", elsewhere=True
            )
            return Claim(trial, position, self.total, ended=ended)
        return None

    def heartbeat(self, claim: Claim) -> contextlib.AbstractContextManager[object]:
        """Nothing to add: the tracker's heartbeat thread beats each run from its start until
        the trainer ends it."""
        return contextlib.nullcontext()

    def finish(self, claim: Claim, report: TrialReport) -> TrialReport:
        return report  # the run itself was ended by the trainer (TrialRun.finish / end_from)

    def release(self, claim: Claim, exc: BaseException) -> TrialReport | None:
        return None  # the trainer ended the run KILLED; the exception stops the sweep
