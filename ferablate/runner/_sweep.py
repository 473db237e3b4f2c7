"""Run a sweep: expand it, skip finished trials, train the rest, log each to MLflow.

A failing trial is logged FAILED with its reason and the sweep goes on; an out-of-memory
trial is tagged ``oom`` (the table shows "no fit in memory"), a diverged one ``diverged``.
Ctrl-C marks the running trial KILLED before it stops the sweep, so the store never holds a
run that looks alive but is not.

Any number of processes may run one sweep on one store (``--jobs N`` starts N of them): each
trial is *claimed* before it trains (``ferablate.tracking`` claims), a trial another process
holds is skipped and waited for at the end. The store is read first, without torch: a sweep
whose trials all finished answers without importing the engine. Figures are drawn by a
background process from the stored run, so they never hold the next trial back.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ferablate._errors import StoreFullError
from ferablate._logging import get_logger
from ferablate._outcome import TrialOutcome
from ferablate.config import (
    IDENTITY_VERSION,
    DataConfig,
    Sweep,
    Trial,
    TrialConfig,
    expand_sweep,
    experiment_name,
)
from ferablate.tracking import (
    TAG,
    StoredRun,
    finished_hashes,
    identify_trials,
    is_legacy_run,
    outcome_of_run,
)

if TYPE_CHECKING:  # the engine (torch) is imported only once a trial must train
    from ferablate.data import FaceData
    from ferablate.engine import TrialCallback, TrialResult
    from ferablate.runner._figures import FigureSink
    from ferablate.tracking import TrialRun, TrialTracker

__all__ = [
    "DataCache",
    "SweepObserver",
    "TrialReport",
    "check_devices",
    "execute_trial",
    "run_sweep",
    "with_figures",
]

_log = get_logger(__name__)

POLL_S = 2.0  # seconds between looks at trials other processes hold (randomised ±50 %)


@dataclass
class TrialReport:
    """What became of one trial of a sweep."""

    trial: Trial
    status: TrialOutcome  # finished | skipped | failed | oom | diverged (pruned/killed: raised)
    summary: dict[str, float] = field(
        default_factory=dict
    )  # mean/std metrics (finished or skipped)
    run_id: str | None = None
    seconds: float = 0.0
    message: str = ""
    result: TrialResult | None = None
    elsewhere: bool = False  # ended by another process while this one waited for it


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
    return train_claimed(trial, run, faces, callbacks, on_result, observer)


def train_claimed(
    trial: Trial,
    run: TrialRun,
    faces: FaceData,
    callbacks: Sequence[TrialCallback] = (),
    on_result: Callable[[TrialRun, TrialResult], None] | None = None,
    observer: SweepObserver | None = None,
) -> TrialReport:
    """Train ``trial`` into its started ``run`` (see :func:`execute_trial`)."""
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
    jobs: int = 1,
    poll: float = POLL_S,
) -> list[TrialReport]:
    """Run every trial of ``sweep`` (in order); trials already FINISHED are skipped unless ``rerun``.

    Trials are claimed before they train, so other processes may run the same sweep on the
    same store at once; ``jobs`` > 1 starts that many processes here (``runner/_jobs.py``), one
    progress view. With ``figures`` every finished trial's run also gets the report's six
    figures under ``figures/``, drawn in the background and waited for at the end (stage
    "figures"). Returns one report per trial, in sweep order.
    """
    if jobs > 1 and on_result is not None:  # a hook of this process cannot run in a job's
        raise ValueError("run_sweep: on_result needs jobs=1 (it runs in the training process)")
    observer = observer or QuietObserver()
    trials = expand_sweep(sweep, overrides)
    check_devices(trial.config for trial in trials)  # before any store is opened
    trials = identify_trials(trials)  # data fingerprint: a stat
    experiment = experiment_name(sweep, overrides)
    started = int(time.time() * 1000)
    finished = {} if rerun else finished_hashes(experiment, tracking_uri)
    reports: dict[int, TrialReport] = {}
    pending: list[tuple[int, Trial]] = []
    legacy = 0
    for position, trial in enumerate(trials, start=1):
        done = finished.get(trial.config_hash)
        if done is None:
            pending.append((position, trial))
            continue
        legacy += is_legacy_run(done.tags)
        reports[position] = _report_stored(trial, done, f"already FINISHED as run {done.run_id}")
        observer.on_trial_end(reports[position], position, len(trials))
    if legacy:
        _log.warning(
            "%d finished trial(s) of '%s' were stored before trial identity v%d; recognised by "
            "their stored config, data hash and precision (see docs/tracking.md)",
            legacy, experiment, IDENTITY_VERSION,
        )  # fmt: skip
    if pending:  # only now: the engine, torch, the data
        data = data or DataCache()
        preflight(pending, data)
        plan = SweepPlan(sweep.name, experiment, tracking_uri, len(trials), rerun, started, poll)
        if jobs > 1:
            from ferablate.runner._jobs import cap_jobs

            jobs = cap_jobs(jobs, len(pending))  # never more processes than trials to train
        if jobs > 1:
            from ferablate.runner._jobs import train_in_processes

            reports.update(train_in_processes(plan, pending, jobs, observer, figures=figures))
        else:
            from ferablate.runner._figures import FigureDrawer

            with FigureDrawer(plan.tracking_uri, observer, enabled=figures) as drawer:
                reports.update(
                    train_pending(plan, pending, observer, data, on_result, drawer.submit)
                )
    return [reports[position] for position in sorted(reports)]


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
    tracking_uri: str | None
    total: int  # trials in the sweep
    rerun: bool
    started: int  # ms since the epoch: runs ended after this are this sweep's work
    poll: float


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


def train_pending(
    plan: SweepPlan,
    pending: Sequence[tuple[int, Trial]],
    observer: SweepObserver,
    data: DataCache,
    on_result: Callable[[TrialRun, TrialResult], None] | None = None,
    figure_sink: FigureSink | None = None,
    *,
    close_stale: bool = True,
) -> dict[int, TrialReport]:
    """Claim and train each pending trial (position -> report); a trial another process holds
    is passed over, then waited for until it ends there (done) or its owner dies (taken over).

    ``close_stale``: first mark the runs of ended processes KILLED (a ``--jobs`` parent does
    that once for all its jobs).
    """
    tracker = open_tracker(plan, close_stale=close_stale)
    reports: dict[int, TrialReport] = {}
    queue, waiting = list(pending), []
    while queue:
        for position, trial in queue:
            try:
                report = _claim_and_train(plan, tracker, trial, position, observer, data, on_result)
            except StoreFullError as exc:  # the store cannot be written: stop, a re-run resumes
                raise exc.stopped_at(f"after {len(reports)} of {plan.total} trials") from exc
            if report is None:  # another live process holds it: come back later
                waiting.append((position, trial))
                continue
            reports[position] = report
            observer.on_trial_end(report, position, plan.total)
            if report.status == TrialOutcome.FINISHED and not report.elsewhere and figure_sink:
                last = position == queue[-1][0] and not waiting
                figure_sink(trial, position, report.run_id or "", last=last)
        queue, waiting = waiting, []
        if queue:
            time.sleep(plan.poll * random.uniform(0.5, 1.5))  # claimants that collided part ways
    return reports


def _claim_and_train(
    plan: SweepPlan,
    tracker: TrialTracker,
    trial: Trial,
    position: int,
    observer: SweepObserver,
    data: DataCache,
    on_result: Callable[[TrialRun, TrialResult], None] | None,
) -> TrialReport | None:
    faces = data(trial.config.data)
    claimed = tracker.claim(
        trial,
        data_hash=faces.content_hash,
        extra_tags={TAG.SWEEP: plan.sweep},
        finished_since=plan.started if plan.rerun else 0,
        ended_since=plan.started,
    )
    if isinstance(claimed, StoredRun):
        if claimed.status == "RUNNING":
            return None
        return _report_stored(
            trial, claimed, f"ended in another process as run {claimed.run_id}", elsewhere=True
        )
    callback = observer.on_trial_start(trial, position, plan.total)
    return train_claimed(trial, claimed, faces, [callback] if callback else [], on_result, observer)


def _report_stored(
    trial: Trial, run: StoredRun, message: str, *, elsewhere: bool = False
) -> TrialReport:
    """A trial whose run is already in the store (skipped, or ended by another process)."""
    outcome = outcome_of_run(run.status, run.failure) or TrialOutcome.FAILED
    finished = outcome == TrialOutcome.FINISHED
    return TrialReport(
        trial,
        TrialOutcome.SKIPPED if finished else outcome,
        summary={k: v for k, v in run.metrics.items() if k.endswith(("_mean", "_std"))},
        run_id=run.run_id,
        message=message if finished else f"{message}: {run.failure_reason}",
        elsewhere=elsewhere,
    )
