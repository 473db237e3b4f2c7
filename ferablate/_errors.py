"""The one error tree of ferablate.

Every error a user can cause or fix (a bad sweep file, a missing data file, a trial that did
not fit in memory) is a :class:`FerablateError`; the CLI prints it as one line and exits
non-zero. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "DivergedError",
    "FerablateError",
    "OutOfMemoryError",
    "SearchError",
    "StoreFullError",
    "TrackingError",
    "TrialError",
]


class FerablateError(Exception):
    """Base of every error ferablate raises on purpose."""


class ConfigError(FerablateError, ValueError):
    """A sweep file, config key or CLI value is invalid; the message says how to fix it."""


class DataError(FerablateError, ValueError):
    """A data file is missing, unreadable or has a bad row."""


class TrialError(FerablateError, RuntimeError):
    """A trial could not be trained."""


class OutOfMemoryError(TrialError):
    """A trial ran out of device or host memory (a result: "no fit in memory")."""


class DivergedError(TrialError):
    """The training loss became non-finite (NaN or inf): the trial's result would be meaningless."""

    def __init__(self, message: str, *, fold: str | None = None, epoch: int | None = None) -> None:
        super().__init__(message)
        self.fold = fold  # fold name (e.g. "f2" or "r1-f2"), when known
        self.epoch = epoch  # 1-based epoch in which the loss stopped being finite


class TrackingError(FerablateError, RuntimeError):
    """The MLflow store could not be reached or holds something unexpected."""


class StoreFullError(TrackingError):
    """The store could not be written: its disk is full. Stops a sweep (exit 1); re-run to resume."""

    exit_code = 1  # not a bad input: the same command works once space is freed

    def __init__(self, path: str, *, stopped: str = "") -> None:
        self.path = path  # the folder or file that could not be written
        self.stopped = stopped  # where the sweep stopped, e.g. "after 2 of 6 trials"
        where = f"; the sweep stopped {stopped}" if stopped else ""
        super().__init__(f"no space left on {path}{where} — free space and run it again to resume")

    def __reduce__(self) -> tuple[object, ...]:
        # Rebuilt from its fields, not its message (a --jobs process sends it to the parent).
        return (_store_full_error, (self.path, self.stopped))

    def stopped_at(self, stopped: str) -> StoreFullError:
        """The same error, saying where the sweep stopped."""
        return StoreFullError(self.path, stopped=stopped)


def _store_full_error(path: str, stopped: str) -> StoreFullError:
    return StoreFullError(path, stopped=stopped)


class SearchError(FerablateError, RuntimeError):
    """An Optuna study or storage problem."""
