"""The one runner loop: claim a trial from a queue, train it, finish it; until none is left.

``ferablate run`` (the MLflow store as the queue), ``run --storage``, ``optuna`` and ``worker``
(an Optuna study as the queue) are this loop over a different :class:`~ferablate.tracking.
TrialQueue`; ``--jobs N`` runs it in N processes (``runner/_jobs.py``).

A failing trial is logged FAILED with its reason and the loop goes on; an out-of-memory trial
is tagged ``oom`` (the table shows "no fit in memory"), a diverged one ``diverged``. Ctrl-C
marks the running trial KILLED before it stops the loop, so the store never holds a run that
looks alive but is not.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ferablate._errors import StoreFullError
from ferablate._logging import get_logger
from ferablate._outcome import TrialOutcome
from ferablate.config import DataConfig, Trial
from ferablate.runner._observer import QuietObserver, StudyObserver, SweepObserver
from ferablate.tracking import WAIT, Claim, TrialQueue, TrialReport

if TYPE_CHECKING:  # the engine (torch) is imported only once a trial must train
    from ferablate.data import FaceData
    from ferablate.engine import TrialCallback, TrialResult
    from ferablate.runner._figures import FigureSink
    from ferablate.tracking import TrialRun, TrialTracker

__all__ = ["DataCache", "OnResult", "Trainer", "train_claimed", "with_figures", "work_queue"]

_log = get_logger(__name__)

OnResult = Callable[["TrialRun", "TrialResult"], None]  # runs after training, before FINISHED


class DataCache:
    """Loads each distinct data config once per process (trials of a sweep share faces)."""

    def __init__(self, loader: Callable[[DataConfig], FaceData] | None = None) -> None:
        if loader is None:
            from ferablate.data import load_data

            loader = load_data
        self._loader: Callable[[DataConfig], FaceData] = loader
        self._loaded: dict[DataConfig, FaceData] = {}

    def __call__(self, config: DataConfig) -> FaceData:
        if config not in self._loaded:
            self._loaded[config] = self._loader(config)
        return self._loaded[config]


@dataclass
class Trainer:
    """Trains a claimed trial into its run (the claim's own, else one started here)."""

    tracker: TrialTracker
    data: DataCache
    observer: SweepObserver
    on_result: OnResult | None = None

    def __call__(self, claim: Claim, callbacks: Sequence[TrialCallback]) -> TrialReport:
        run = claim.run
        if run is None:
            self.observer.on_trial_stage(claim.trial, "loading data")
        faces = self.data(claim.trial.config.data)
        if run is None:
            run = self.tracker.start(
                claim.trial, data_hash=faces.content_hash, extra_tags=claim.tags
            )
        return train_claimed(claim.trial, run, faces, callbacks, self.on_result, self.observer)


def train_claimed(
    trial: Trial,
    run: TrialRun,
    faces: FaceData,
    callbacks: Sequence[TrialCallback] = (),
    on_result: OnResult | None = None,
    observer: SweepObserver | None = None,
) -> TrialReport:
    """Train ``trial`` into its started ``run``; failures are logged, not raised.

    ``on_result`` runs after training and before the run is marked FINISHED. What ends a trial
    without being its failure (KeyboardInterrupt, a pruning signal) ends the run as KILLED and
    propagates. ``observer`` hears the steps outside the epochs.
    """
    from ferablate.engine import run_trial

    observer = observer or QuietObserver()
    try:
        held_out = (
            {"publictest": faces.split("PublicTest")} if trial.config.train.score_publictest else {}
        )
        result = run_trial(trial.config, faces.split("Training"), [run, *callbacks], **held_out)
        if on_result is not None:
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
    finally:
        run.tracker.heartbeat.release(run.run_id)
    return TrialReport(
        trial,
        TrialOutcome.FINISHED,
        summary=result.summary(),
        run_id=run.run_id,
        seconds=result.seconds,
        result=result,
    )


def with_figures(on_result: OnResult | None = None, split: str | None = None) -> OnResult:
    """``on_result`` preceded by logging the trial's figures (a figure failure only warns)."""
    from ferablate.viz import log_trial_figures

    def hook(run: TrialRun, result: TrialResult) -> None:
        log_trial_figures(run, result, split=split)
        if on_result is not None:
            on_result(run, result)

    return hook


def work_queue(
    queue: TrialQueue,
    train: Callable[[Claim, Sequence[TrialCallback]], TrialReport],
    observer: SweepObserver | StudyObserver,
    figures: FigureSink | None = None,
    poll: float = 2.0,
) -> dict[int, TrialReport]:
    """Claim, train and finish the queue's trials until it has none left: position -> report.

    ``figures`` gets each trial this process FINISHED, once the next claim shows whether more
    follows here (``last``: draw it now, with every thread). While live processes hold every
    trial left, ask again every ``poll`` seconds (randomised: claimants that collided part ways).
    """
    reports: dict[int, TrialReport] = {}
    held: tuple[Trial, int, str] | None = None  # the latest finished trial, for figures
    try:
        while (claim := queue.claim()) is not None:
            if held is not None and figures is not None:
                figures(*held, last=False)
            held = None
            if claim == WAIT:
                time.sleep(poll * random.uniform(0.5, 1.5))
                continue
            report = _work_one(queue, claim, train, observer)
            reports[claim.position] = report
            if report.status == TrialOutcome.FINISHED and report.run_id and not report.elsewhere:
                held = (claim.trial, claim.position, report.run_id)
    except StoreFullError as exc:  # the store cannot be written: stop, a re-run resumes
        raise exc.stopped_at(f"after {len(reports)} of {queue.total} trials") from exc
    if held is not None and figures is not None:
        figures(*held, last=True)
    return reports


def _work_one(
    queue: TrialQueue,
    claim: Claim,
    train: Callable[[Claim, Sequence[TrialCallback]], TrialReport],
    observer: SweepObserver | StudyObserver,
) -> TrialReport:
    """One claimed trial: trained (or already ended), finished, reported to the observer."""
    if claim.ended is not None:
        report = queue.finish(claim, claim.ended)
    else:
        progress = observer.on_trial_start(claim.trial, claim.position, claim.total)
        callbacks = [*claim.callbacks, *([progress] if progress is not None else [])]
        with queue.heartbeat(claim):
            try:
                report = train(claim, callbacks)
            except BaseException as exc:
                released = queue.release(claim, exc)
                if released is None:
                    raise
                report = released
            else:
                report = queue.finish(claim, report)
    if report.status != TrialOutcome.REJECTED:  # rejected: never became a trial to show
        observer.on_trial_end(report, claim.position, claim.total)
    on_worked = getattr(observer, "on_worked", None)  # a study's trial: what Optuna was told
    if report.number is not None and on_worked is not None:
        on_worked(report)
    return report
