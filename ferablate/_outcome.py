"""How a trial ended: the one vocabulary shared by the runner, the search worker and tracking.

:func:`outcome_of` is the one place an exception is classified. Tracking maps an outcome to
an MLflow run status and a ``ferablate.failure`` tag (``ferablate.tracking``), the search
worker to an Optuna trial state (``ferablate.search``); nothing else names a way to end.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from enum import StrEnum

from ferablate._errors import DivergedError, FerablateError, OutOfMemoryError, StoreFullError

__all__ = ["TrialEnding", "TrialOutcome", "outcome_of"]


class TrialOutcome(StrEnum):
    """How one trial ended (values are what reports print and tests compare with)."""

    FINISHED = "finished"  # trained and logged
    SKIPPED = "skipped"  # already FINISHED in the store: not trained again
    FAILED = "failed"  # an error (bad config or data, a bug)
    OOM = "oom"  # did not fit in memory: a result ("no fit in memory")
    DIVERGED = "diverged"  # the training loss became non-finite: a result, not a score
    PRUNED = "pruned"  # stopped early by the Optuna pruner
    REJECTED = "rejected"  # a sampled config that cannot be trained (invalid or too big)
    KILLED = "killed"  # interrupted: Ctrl-C, a dead process or worker
    LOST = "lost"  # the worker's study trial was re-queued as stale; another worker retries it

    @property
    def is_failure(self) -> bool:
        """The trial ended without a score because of its config or an error (MLflow FAILED)."""
        return self in (TrialOutcome.FAILED, TrialOutcome.OOM, TrialOutcome.DIVERGED)


@dataclass(frozen=True)
class TrialEnding:
    """An outcome with its reason; ``detail`` holds the traceback of an unexpected error."""

    outcome: TrialOutcome
    reason: str
    detail: str = ""


def outcome_of(exc: BaseException) -> TrialEnding:
    """Classify the exception that ended a trial.

    :class:`~ferablate.DivergedError` -> ``DIVERGED`` (reason names fold and epoch),
    :class:`~ferablate.OutOfMemoryError` -> ``OOM``, :class:`~ferablate.StoreFullError` -> ``KILLED`` (it
    stops the sweep), any other :class:`~ferablate.FerablateError`
    -> ``FAILED`` (its message), Optuna's ``TrialPruned`` -> ``PRUNED``, ``KeyboardInterrupt``
    -> ``KILLED``, another stop signal (``BaseException``) -> ``KILLED``, any other exception
    -> ``FAILED`` as ``"Type: message"`` with its traceback in ``detail``.
    """
    if isinstance(exc, DivergedError):
        where = f"fold {exc.fold if exc.fold is not None else '?'}, epoch {exc.epoch if exc.epoch is not None else '?'}"
        return TrialEnding(TrialOutcome.DIVERGED, f"diverged ({where}): {exc}")
    if isinstance(exc, OutOfMemoryError):
        return TrialEnding(TrialOutcome.OOM, str(exc))
    if isinstance(exc, StoreFullError):  # not the trial's fault: it stops the sweep, re-run resumes
        return TrialEnding(TrialOutcome.KILLED, str(exc))
    if isinstance(exc, FerablateError):
        return TrialEnding(TrialOutcome.FAILED, str(exc))
    if _is_pruned(exc):
        return TrialEnding(TrialOutcome.PRUNED, f"TrialPruned: {exc}")
    if isinstance(exc, KeyboardInterrupt):
        return TrialEnding(TrialOutcome.KILLED, "interrupted by the user (SIGINT)")
    reason = f"{type(exc).__name__}: {exc}"
    if not isinstance(exc, Exception):  # SystemExit, a lost lease: stop signals, not errors
        return TrialEnding(TrialOutcome.KILLED, reason)
    detail = "".join(traceback.format_exception(exc, limit=8))
    return TrialEnding(TrialOutcome.FAILED, reason, detail)


def _is_pruned(exc: BaseException) -> bool:
    """Optuna's ``TrialPruned`` (or a subclass), known by its class, not imported: Optuna is
    imported by ``ferablate.search`` alone, and nothing else could have raised its signal."""
    return any(
        cls.__name__ == "TrialPruned" and cls.__module__.partition(".")[0] == "optuna"
        for cls in type(exc).__mro__
    )
