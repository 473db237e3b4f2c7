"""Progress hooks: what the runner tells whoever draws its progress (the CLI's bars and lines)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ferablate.config import Trial
    from ferablate.engine import TrialCallback
    from ferablate.tracking import TrialReport

__all__ = ["QuietObserver", "StudyObserver", "StudyReady", "SweepObserver"]


@dataclass(frozen=True)
class StudyReady:
    """A study opened (and filled) before this process starts working on it."""

    study: str
    queued: tuple[str, ...] | None = None  # grid: sweep trials queued now (None: no sweep queued)
    skipped: tuple[str, ...] = ()  # grid: sweep trials already finished, queued or running
    base_queued: bool = False  # search: the base config is queued as trial 0


class SweepObserver(Protocol):
    """Progress hooks for a sweep (the CLI draws rich progress bars from these)."""

    def on_trial_start(self, trial: Trial, position: int, total: int) -> TrialCallback | None:
        """Called before a trial trains; may return a callback for its steps and epochs."""

    def on_trial_stage(self, trial: Trial, stage: str) -> None:
        """Called when a trial enters a step outside its epochs ("loading data", "figures", …)."""

    def on_trial_end(self, outcome: TrialReport, position: int, total: int) -> None:
        """Called after every trial, skipped ones included."""


class StudyObserver(SweepObserver, Protocol):
    """Progress hooks for study work: a sweep observer that also hears about the study."""

    def on_study_ready(self, ready: StudyReady) -> None:
        """Called once the study is open and filled, before the first trial."""

    def on_worked(self, worked: TrialReport) -> None:
        """Called after each study trial this process ran, with what Optuna was told."""


class QuietObserver:
    """A :class:`StudyObserver` that reports nothing."""

    def on_trial_start(self, trial: Trial, position: int, total: int) -> TrialCallback | None:
        return None

    def on_trial_stage(self, trial: Trial, stage: str) -> None:
        return None

    def on_trial_end(self, outcome: TrialReport, position: int, total: int) -> None:
        return None

    def on_study_ready(self, ready: StudyReady) -> None:
        return None

    def on_worked(self, worked: TrialReport) -> None:
        return None
