"""Run a sweep: expand it, skip finished trials, train the rest, log each to MLflow.

A failing trial is logged FAILED with its reason and the sweep goes on; an out-of-memory
trial is tagged ``oom`` (the table shows "no fit in memory"), a diverged one ``diverged``.
Ctrl-C marks the running trial KILLED before it stops the sweep, so the store never holds a
run that looks alive but is not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ferablate._errors import StoreFullError
from ferablate._logging import get_logger
from ferablate._outcome import TrialOutcome
from ferablate.config import DataConfig, Sweep, Trial, expand_sweep, experiment_name
from ferablate.data import FaceData, load_data
from ferablate.engine import TrialCallback, TrialResult, check_trial, run_trial
from ferablate.tracking import TAG, TrialRun, TrialTracker

__all__ = ["DataCache", "SweepObserver", "TrialReport", "execute_trial", "run_sweep", "with_figures"]

_log = get_logger(__name__)


@dataclass
class TrialReport:
    """What became of one trial of a sweep."""

    trial: Trial
    status: TrialOutcome  # finished | skipped | failed | oom | diverged (pruned/killed: raised)
    summary: dict[str, float] = field(default_factory=dict)  # mean/std metrics (finished or skipped)
    run_id: str | None = None
    seconds: float = 0.0
    message: str = ""
    result: TrialResult | None = None


class SweepObserver(Protocol):
    """Progress hooks for a sweep (the CLI draws rich progress bars from these)."""

    def on_trial_start(self, trial: Trial, position: int, total: int) -> TrialCallback | None:
        """Called before a trial trains; may return a callback for its steps and epochs."""

    def on_trial_stage(self, trial: Trial, stage: str) -> None:
        """Called when a trial enters a step outside its epochs ("loading data", "figures", …)."""

    def on_trial_end(self, outcome: TrialReport, position: int, total: int) -> None:
        """Called after every trial, skipped ones included."""


class QuietObserver:
    """A :class:`SweepObserver` (and ``StudyObserver``) that reports nothing."""

    def on_trial_start(self, trial: Trial, position: int, total: int) -> TrialCallback | None:
        return None

    def on_trial_stage(self, trial: Trial, stage: str) -> None:
        return None

    def on_trial_end(self, outcome: TrialReport, position: int, total: int) -> None:
        return None

    def on_study_ready(self, ready: Any) -> None:
        return None

    def on_worked(self, worked: Any) -> None:
        return None


class DataCache:
    """Loads each distinct data config once per process (trials of a sweep share faces)."""

    def __init__(self, loader: Callable[[DataConfig], FaceData] = load_data) -> None:
        self._loader = loader
        self._loaded: dict[DataConfig, FaceData] = {}

    def __call__(self, config: DataConfig) -> FaceData:
        if config not in self._loaded:
            self._loaded[config] = self._loader(config)
        return self._loaded[config]


def execute_trial(
    trial: Trial,
    tracker: TrialTracker,
    data: DataCache,
    callbacks: Sequence[TrialCallback] = (),
    extra_tags: Mapping[str, str] | None = None,
    on_result: Callable[[TrialRun, TrialResult], None] | None = None,
    observer: SweepObserver | None = None,
) -> TrialReport:
    """Train one trial into a new MLflow parent run; failures are logged, not raised.

    ``on_result`` runs after training and before the run is marked FINISHED (figures hook in
    here). What ends a trial without being its failure (KeyboardInterrupt, a pruning signal)
    ends the run as KILLED and propagates. ``observer`` hears the steps outside the epochs.
    """
    observer = observer or QuietObserver()
    observer.on_trial_stage(trial, "loading data")
    faces = data(trial.config.data)
    run = tracker.start(trial, data_hash=faces.content_hash, extra_tags=extra_tags)
    try:
        held_out = {"publictest": faces.split("PublicTest")} if trial.config.train.score_publictest else {}
        result = run_trial(trial.config, faces.split("Training"), [run, *callbacks], **held_out)
        if on_result is not None:
            observer.on_trial_stage(trial, "figures")
            on_result(run, result)
        observer.on_trial_stage(trial, "saving weights")
        run.finish(result)
    except BaseException as exc:
        ending = run.end_from(exc)
        if not ending.outcome.is_failure:
            raise
        if ending.detail:  # not an error ferablate raised on purpose: say so now
            _log.error("trial %s failed: %s", trial.name, ending.reason)
        return TrialReport(trial, ending.outcome, run_id=run.run_id, message=ending.reason)
    return TrialReport(
        trial,
        TrialOutcome.FINISHED,
        summary=result.summary(),
        run_id=run.run_id,
        seconds=result.seconds,
        result=result,
    )


def with_figures(
    on_result: Callable[[TrialRun, TrialResult], None] | None = None, split: str | None = None
) -> Callable[[TrialRun, TrialResult], None]:
    """``on_result`` preceded by logging the trial's figures (a figure failure only warns)."""
    from ferablate.viz import log_trial_figures

    def hook(run: TrialRun, result: TrialResult) -> None:
        log_trial_figures(run, result, split=split)
        if on_result is not None:
            on_result(run, result)

    return hook


def run_sweep(
    sweep: Sweep,
    overrides: Mapping[str, Any] | None = None,
    *,
    rerun: bool = False,
    tracking_uri: str | None = None,
    observer: SweepObserver | None = None,
    data: DataCache | None = None,
    on_result: Callable[[TrialRun, TrialResult], None] | None = None,
    figures: bool = True,
) -> list[TrialReport]:
    """Run every trial of ``sweep`` (in order); trials already FINISHED are skipped unless ``rerun``.

    With ``figures`` every finished trial's run also gets the report's six figures under
    ``figures/`` (drawn before ``on_result`` runs).
    """
    observer = observer or QuietObserver()
    if figures:
        on_result = with_figures(on_result)
    data = data or DataCache()
    trials = expand_sweep(sweep, overrides)
    for pending in trials:  # fail before the store is opened: bad input writes nothing
        check_trial(pending.config, data(pending.config.data).split("Training")[1], where=f"trial {pending.name}")
    tracker = TrialTracker(experiment_name(sweep, overrides), tracking_uri)
    closed = tracker.close_stale_runs()
    if closed:
        _log.warning("marked %d run(s) of ended processes as KILLED", closed)
    finished = {} if rerun else tracker.finished_trials()
    outcomes: list[TrialReport] = []
    for position, trial in enumerate(trials, start=1):
        done = finished.get(trial.config_hash)
        if done is not None:
            outcome = TrialReport(
                trial,
                TrialOutcome.SKIPPED,
                summary={k: v for k, v in done.metrics.items() if k.endswith(("_mean", "_std"))},
                run_id=done.run_id,
                message=f"already FINISHED as run {done.run_id}",
            )
        else:
            callback = observer.on_trial_start(trial, position, len(trials))
            try:
                outcome = execute_trial(
                    trial,
                    tracker,
                    data,
                    callbacks=[callback] if callback else [],
                    extra_tags={TAG.SWEEP: sweep.name},
                    on_result=on_result,
                    observer=observer,
                )
            except StoreFullError as exc:  # the store cannot be written: stop, a re-run resumes
                raise exc.stopped_at(f"after {position - 1} of {len(trials)} trials") from exc
        outcomes.append(outcome)
        observer.on_trial_end(outcome, position, len(trials))
    return outcomes
