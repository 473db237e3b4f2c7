"""Run a sweep on the MLflow store: expand it, skip finished trials, work the rest off the queue.

The store itself is the queue (``tracking.StoreQueue``): each trial is claimed before it trains,
so any number of processes may run one sweep on one store (``--jobs N`` starts N of them, one
progress view); a trial another process holds is passed over and waited for at the end. The
store is read first, without torch: a sweep whose trials all finished answers without
importing the engine. Figures are drawn by a background process from the stored run, so they
never hold the next trial back.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ferablate._logging import get_logger
from ferablate.config import (
    IDENTITY_VERSION,
    Sweep,
    Trial,
    TrialConfig,
    expand_sweep,
    experiment_name,
)
from ferablate.runner._loop import DataCache, OnResult, Trainer, work_queue
from ferablate.runner._observer import QuietObserver, SweepObserver
from ferablate.runner._options import RunOptions
from ferablate.tracking import (
    TAG,
    StoreQueue,
    TrialReport,
    finished_hashes,
    identify_trials,
    is_legacy_run,
)

if TYPE_CHECKING:
    from ferablate.runner._figures import FigureSink
    from ferablate.runner._jobs import JobObserver
    from ferablate.tracking import TrialTracker

__all__ = ["SweepPlan", "check_devices", "open_tracker", "preflight", "run_sweep"]

_log = get_logger(__name__)


def run_sweep(
    sweep: Sweep,
    overrides: Mapping[str, Any] | None = None,
    options: RunOptions | None = None,
    observer: SweepObserver | None = None,
    data: DataCache | None = None,
    on_result: OnResult | None = None,
) -> list[TrialReport]:
    """Run every trial of ``sweep`` (in order); trials already FINISHED are skipped unless
    ``options.rerun``. Returns one report per trial, in sweep order.

    ``options.jobs`` > 1 starts that many processes here (``runner/_jobs.py``). With
    ``options.figures`` every finished trial's run also gets the report's six figures under
    ``figures/``, drawn in the background and waited for at the end (stage "figures").
    """
    options = options or RunOptions()
    if options.jobs > 1 and on_result is not None:  # a hook of this process cannot run in a job's
        raise ValueError("run_sweep: on_result needs jobs=1 (it runs in the training process)")
    observer = observer or QuietObserver()
    trials = expand_sweep(sweep, overrides)
    check_devices(trial.config for trial in trials)  # before any store is opened
    trials = identify_trials(trials)  # data fingerprint: a stat
    experiment = experiment_name(sweep, overrides)
    plan = SweepPlan(sweep.name, experiment, len(trials), int(time.time() * 1000), options)
    reports, pending = _skip_finished(plan, trials, observer)
    if pending:  # only now: the engine, torch, the data
        data = data or DataCache()
        preflight(pending, data)
        from ferablate.runner._figures import FigureDrawer
        from ferablate.runner._jobs import cap_jobs

        jobs = cap_jobs(options.jobs, len(pending)) if options.jobs > 1 else 1
        with FigureDrawer(options.tracking_uri, observer, enabled=options.figures) as drawer:
            if jobs > 1:
                reports.update(_train_in_processes(plan, pending, jobs, observer, drawer.submit))
            else:
                tracker = open_tracker(plan)
                trainer = Trainer(tracker, data, observer, on_result)
                queue = plan.queue(tracker, pending, data)
                reports.update(work_queue(queue, trainer, observer, drawer.submit, options.poll))
    return [reports[position] for position in sorted(reports)]


def _skip_finished(
    plan: SweepPlan, trials: Sequence[Trial], observer: SweepObserver
) -> tuple[dict[int, TrialReport], list[tuple[int, Trial]]]:
    """The reports of trials already FINISHED (by position) and the trials still to train."""
    finished = {} if plan.options.rerun else finished_hashes(plan.experiment, plan.tracking_uri)
    reports: dict[int, TrialReport] = {}
    pending: list[tuple[int, Trial]] = []
    legacy = 0
    for position, trial in enumerate(trials, start=1):
        done = finished.get(trial.config_hash)
        if done is None:
            pending.append((position, trial))
            continue
        legacy += is_legacy_run(done.tags)
        message = f"already FINISHED as run {done.run_id}"
        reports[position] = TrialReport.from_stored(trial, done, message)
        observer.on_trial_end(reports[position], position, len(trials))
    if legacy:
        _log.warning(
            "%d finished trial(s) of '%s' were stored before trial identity v%d; recognised by "
            "their stored config, data hash and precision (see docs/tracking.md)",
            legacy, plan.experiment, IDENTITY_VERSION,
        )  # fmt: skip
    return reports, pending


def check_devices(configs: Iterable[TrialConfig]) -> None:
    """Refuse a ``train.device`` this machine lacks (``cuda`` without CUDA) before any store
    is opened; ``auto`` and ``cpu`` need no look, so no torch import."""
    wanted = {config.train.device for config in configs} - {"auto", "cpu"}
    if wanted:
        from ferablate.engine import check_device

        for device in sorted(wanted):
            check_device(device)


@dataclass(frozen=True)
class SweepPlan:
    """What every process working on one sweep invocation shares (picklable)."""

    sweep: str  # the sweep's name (run tag)
    experiment: str
    total: int  # trials in the sweep
    started: int  # ms since the epoch: runs ended after this are this sweep's work
    options: RunOptions

    @property
    def tracking_uri(self) -> str | None:
        return self.options.tracking_uri

    def queue(
        self, tracker: TrialTracker, pending: Sequence[tuple[int, Trial]], data: DataCache
    ) -> StoreQueue:
        """The sweep's pending trials as a queue on the store."""

        def data_hash(trial: Trial) -> str:
            return data(trial.config.data).content_hash

        since = (self.started if self.options.rerun else 0, self.started)
        return StoreQueue(tracker, pending, self.total, data_hash, {TAG.SWEEP: self.sweep}, since)


def preflight(pending: Sequence[tuple[int, Trial]], data: DataCache) -> None:
    """Check every trial to train against its data before any run is written."""
    from ferablate.engine import check_model_size, check_trial

    for _, trial in pending:
        check_trial(
            trial.config, data(trial.config.data).split("Training")[1], where=f"trial {trial.name}"
        )
        check_model_size(trial.config, where=f"trial {trial.name}")


def open_tracker(plan: SweepPlan, *, close_stale: bool = True) -> TrialTracker:
    """The sweep's tracker; with ``close_stale``, runs of ended processes are marked KILLED."""
    from ferablate.tracking import TrialTracker

    tracker = TrialTracker(plan.experiment, plan.tracking_uri)
    closed = tracker.close_stale_runs() if close_stale else 0
    if closed:
        _log.warning("marked %d run(s) of ended processes as KILLED", closed)
    return tracker


class _SweepJob:
    """What one ``--jobs`` process does on a sweep (picklable): the loop over the store queue."""

    def __init__(self, plan: SweepPlan, pending: Sequence[tuple[int, Trial]]) -> None:
        self.plan = plan
        self.pending = list(pending)

    def __call__(self, job: int, observer: JobObserver) -> dict[int, TrialReport]:
        from ferablate.runner._jobs import JobFigures
        from ferablate.tracking import resolve_tracking_uri

        tracker = open_tracker(self.plan, close_stale=False)  # the parent closed them once
        data = DataCache()
        queue = self.plan.queue(tracker, self.pending, data)
        figures: FigureSink | None = None  # --no-figures: not even the job's final trial's
        if self.plan.options.figures:
            figures = JobFigures(observer, resolve_tracking_uri(self.plan.tracking_uri))
        trainer = Trainer(tracker, data, observer)
        return work_queue(queue, trainer, observer, figures, self.plan.options.poll)


def _train_in_processes(
    plan: SweepPlan,
    pending: Sequence[tuple[int, Trial]],
    jobs: int,
    observer: SweepObserver,
    figures: FigureSink,
) -> dict[int, TrialReport]:
    """Train the pending trials in ``jobs`` processes (position -> report).

    A job that dies mid-trial (SIGKILL, the OOM killer) has its run closed KILLED here and a
    new job in its place: the trial is trained again, by that job or by a sibling that was
    waiting for it, so the sweep still ends with every trial trained once.
    """
    from ferablate.runner._jobs import run_jobs

    tracker = open_tracker(plan)  # stale runs closed once here, not by every job at once
    shown: dict[int, TrialReport] = {}  # what the observer heard, a dead job's trials too

    def show_end(position: int, report: TrialReport) -> bool:
        # A trial one job waited for and saw end in its sibling is reported once, by the sibling.
        if report.elsewhere:
            return False
        shown[position] = report
        return True

    def on_lost(job: int, how: str) -> None:
        tracker.close_stale_runs()  # the dead job's pid is reaped: its run is stale now

    per_job = run_jobs(jobs, _SweepJob(plan, pending), observer, figures, show_end, on_lost)
    reports = dict(shown)
    for position, report in (item for done in per_job for item in done.items()):
        if position not in reports or reports[position].elsewhere:
            reports[position] = report
    for position, report in sorted(reports.items()):
        if report.elsewhere:  # ended in a process outside this command: not reported yet
            observer.on_trial_end(report, position, plan.total)
    return reports
