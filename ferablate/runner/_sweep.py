"""Run a sweep: expand it, skip finished trials, train the rest, log each to MLflow.

A failing trial is logged FAILED with its reason and the sweep goes on; an out-of-memory
trial is tagged ``oom`` (the table shows "no fit in memory"). Ctrl-C marks the running trial
KILLED before it stops the sweep, so the store never holds a run that looks alive but is not.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ferablate._errors import FerablateError, OutOfMemoryError
from ferablate._logging import get_logger
from ferablate.config import DataConfig, Sweep, Trial, expand_sweep
from ferablate.data import FaceData, load_data
from ferablate.engine import TrialCallback, TrialResult, check_trial, run_trial
from ferablate.tracking import TAG, TrialRun, TrialTracker

__all__ = ["DataCache", "SweepObserver", "TrialOutcome", "execute_trial", "run_sweep", "with_figures"]

_log = get_logger(__name__)

Status = Literal["finished", "skipped", "failed", "oom", "pruned"]


@dataclass
class TrialOutcome:
    trial: Trial
    status: Status
    summary: dict[str, float] = field(default_factory=dict)  # mean/std metrics (finished or skipped)
    run_id: str | None = None
    seconds: float = 0.0
    message: str = ""
    result: TrialResult | None = None


class SweepObserver(Protocol):
    """Progress hooks for a sweep (the CLI draws rich progress bars from these)."""

    def on_trial_start(self, trial: Trial, position: int, total: int) -> TrialCallback | None:
        """Called before a trial trains; may return a callback for its steps and epochs."""

    def on_trial_end(self, outcome: TrialOutcome, position: int, total: int) -> None:
        """Called after every trial, skipped ones included."""


class _QuietObserver:
    def on_trial_start(self, trial: Trial, position: int, total: int) -> TrialCallback | None:
        return None

    def on_trial_end(self, outcome: TrialOutcome, position: int, total: int) -> None:
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
) -> TrialOutcome:
    """Train one trial into a new MLflow parent run; failures are logged, not raised.

    ``on_result`` runs after training and before the run is marked FINISHED (figures hook in
    here). Exceptions that are not errors of the trial (KeyboardInterrupt, a pruning signal)
    end the run as KILLED and propagate.
    """
    faces = data(trial.config.data)
    run = tracker.start(trial, data_hash=faces.content_hash, extra_tags=extra_tags)
    outcome = TrialOutcome(trial, "failed", run_id=run.run_id)
    try:
        result = run_trial(trial.config, faces.split("Training"), [run, *callbacks])
        if on_result is not None:
            on_result(run, result)
        run.finish(result)
    except OutOfMemoryError as exc:
        run.fail("oom", str(exc))
        outcome.status, outcome.message = "oom", str(exc)
        return outcome
    except FerablateError as exc:
        run.fail("error", str(exc))
        outcome.message = str(exc)
        return outcome
    except Exception as exc:
        if type(exc).__name__ == "TrialPruned":  # optuna's pruning signal is an Exception subclass
            run.fail("pruned", f"TrialPruned: {exc}", status="KILLED")
            raise
        reason = f"{type(exc).__name__}: {exc}"
        run.fail("error", reason + "\n" + traceback.format_exc(limit=8))
        _log.error("trial %s failed: %s", trial.name, reason)
        outcome.message = reason
        return outcome
    except BaseException as exc:  # KeyboardInterrupt, SystemExit, pruning signals
        kind = "pruned" if type(exc).__name__ == "TrialPruned" else "killed"
        run.fail(kind, f"{type(exc).__name__}: {exc}", status="KILLED")
        raise
    outcome.status = "finished"
    outcome.summary = result.summary()
    outcome.seconds = result.seconds
    outcome.result = result
    return outcome


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
) -> list[TrialOutcome]:
    """Run every trial of ``sweep`` (in order); trials already FINISHED are skipped unless ``rerun``.

    With ``figures`` every finished trial's run also gets the report's six figures under
    ``figures/`` (drawn before ``on_result`` runs).
    """
    observer = observer or _QuietObserver()
    if figures:
        on_result = with_figures(on_result)
    data = data or DataCache()
    trials = expand_sweep(sweep, overrides)
    tracker = TrialTracker(sweep.name, tracking_uri)
    closed = tracker.close_stale_runs()
    if closed:
        _log.warning("marked %d run(s) of ended processes as KILLED", closed)
    finished = {} if rerun else tracker.finished_trials()
    for pending in (trial for trial in trials if trial.config_hash not in finished):  # fail before any run
        check_trial(pending.config, data(pending.config.data).split("Training")[1], where=f"trial {pending.name}")
    outcomes: list[TrialOutcome] = []
    for position, trial in enumerate(trials, start=1):
        done = finished.get(trial.config_hash)
        if done is not None:
            metrics = done.data.metrics
            outcome = TrialOutcome(
                trial,
                "skipped",
                summary={k: v for k, v in metrics.items() if k.endswith(("_mean", "_std"))},
                run_id=done.info.run_id,
                message=f"already FINISHED as run {done.info.run_id}",
            )
        else:
            callback = observer.on_trial_start(trial, position, len(trials))
            outcome = execute_trial(
                trial,
                tracker,
                data,
                callbacks=[callback] if callback else [],
                extra_tags={TAG.SWEEP: sweep.name},
                on_result=on_result,
            )
        outcomes.append(outcome)
        observer.on_trial_end(outcome, position, len(trials))
    return outcomes
