"""Sweeps and searches on a shared Optuna storage: open the study, queue, work until done.

``ferablate run --storage``, ``ferablate optuna`` and ``ferablate worker`` are these three
functions; any number of processes on any machines may work on one study at once. Progress
goes to a :class:`StudyObserver` (a :class:`SweepObserver` with two more hooks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from ferablate._errors import ConfigError
from ferablate._logging import get_logger
from ferablate._outcome import TrialOutcome
from ferablate.config import Sweep, Trial, expand_sweep, experiment_name, resolve_trial
from ferablate.engine import TrialCallback
from ferablate.runner._sweep import (
    DataCache,
    QuietObserver,
    SweepObserver,
    TrialReport,
    check_devices,
    execute_trial,
    with_figures,
)
from ferablate.search import (
    ATTR,
    DEFAULT_MAX_PARAMETERS,
    DEFAULT_STORAGE,
    PrunerKind,
    SamplerKind,
    StaleTrialHandler,
    StudySpec,
    WorkedTrial,
    best_trial,
    counted_trials,
    enqueue_base_trial,
    enqueue_trials,
    open_storage,
    open_study,
    set_target_trials,
    set_total_trials,
    work,
)
from ferablate.tracking import TAG, RunStore, TrialTracker, finished_hashes, identify_trials

if TYPE_CHECKING:
    import optuna

__all__ = [
    "BestTrial",
    "StudyObserver",
    "StudyReady",
    "StudyReport",
    "WorkerOptions",
    "run_search",
    "run_sweep_on_storage",
    "work_on_study",
]


_log = get_logger(__name__)


@dataclass(frozen=True)
class WorkerOptions:
    """How this process works on a study: where its trials are logged, how they stay alive."""

    tracking_uri: str | None = None  # MLflow store (None: $MLFLOW_TRACKING_URI or the default)
    heartbeat: int = 10  # seconds between a running trial's heartbeats
    grace: int | None = None  # seconds without heartbeat before re-queueing (None: 3x heartbeat)
    figures: bool = True  # grid trials log the report's figures; search trials never do
    jobs: int = 1  # processes on this machine working on the study


@dataclass(frozen=True)
class StudyReady:
    """A study opened (and filled) before this process starts working on it."""

    study: str
    queued: tuple[str, ...] | None = None  # grid: sweep trials queued now (None: no sweep queued)
    skipped: tuple[str, ...] = ()  # grid: sweep trials already finished, queued or running
    base_queued: bool = False  # search: the base config is queued as trial 0


@dataclass(frozen=True)
class BestTrial:
    number: int
    name: str
    value: float  # mean val accuracy over folds


@dataclass(frozen=True)
class StudyReport:
    """What this process did on a study, and where the study stands now."""

    study: str
    worked: list[WorkedTrial]  # the trials this process ran, in order
    seconds: float
    totals: dict[str, int] = field(default_factory=dict)  # Optuna state -> trials, whole study
    best: BestTrial | None = None  # the study's best trial (one rule: search.best_trial)


class StudyObserver(SweepObserver, Protocol):
    """Progress hooks for study work: a sweep observer that also hears about the study."""

    def on_study_ready(self, ready: StudyReady) -> None:
        """Called once the study is open and filled, before the first trial."""

    def on_worked(self, worked: WorkedTrial) -> None:
        """Called after each trial this process ran, with what Optuna was told."""


def work_on_study(
    storage_url: str,
    study_name: str,
    *,
    spec: StudySpec | None = None,
    prepare: Callable[[optuna.Study, StudySpec], StudyReady] | None = None,
    options: WorkerOptions | None = None,
    max_trials: int | None = None,
    timeout: float | None = None,
    seed: int | None = None,
    observer: StudyObserver | None = None,
) -> StudyReport:
    """Open (or create, with ``spec``) the study, run ``prepare``, then work until done.

    Trials of grid studies log the report's figures like ``ferablate run`` (unless not
    ``options.figures``); search trials do not (figures of 50 samples are rarely looked at).
    With ``options.jobs`` > 1, that many processes here work on the study
    (``runner/_jobs.py``), sharing ``max_trials``; each samples with its own seed
    (``seed + job``).
    """
    import optuna

    options = options or WorkerOptions()
    observer = observer or QuietObserver()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the observer reports each trial
    started = time.monotonic()
    storage = open_storage(
        storage_url,
        heartbeat_interval=options.heartbeat,
        grace_period=options.grace,
        stale_handler=StaleTrialHandler(options.tracking_uri),
        create=spec is not None,  # a worker joins a study: its storage must exist
    )
    study, held = open_study(storage, study_name, spec, seed=seed)
    observer.on_study_ready(prepare(study, held) if prepare is not None else StudyReady(study_name))
    if options.jobs > 1:
        from ferablate.runner._jobs import cap_jobs

        options = replace(options, jobs=cap_jobs(options.jobs, _work_left(study, max_trials)))
    if options.jobs > 1:
        from ferablate.runner._jobs import run_jobs

        work_here = _StudyJob(
            storage_url,
            study_name,
            options.jobs,
            dict(
                options=replace(options, jobs=1), max_trials=max_trials, timeout=timeout, seed=seed
            ),
        )
        reports: list[StudyReport] = run_jobs(options.jobs, work_here, observer)
        worked_here = [trial for report in reports for trial in report.worked]
        return _study_report(study, worked_here, time.monotonic() - started)
    tracker = TrialTracker(held.experiment, options.tracking_uri)
    data = DataCache()
    on_result = with_figures() if options.figures and held.kind == "grid" else None
    position = 0

    def execute(
        trial: Trial, callbacks: Sequence[TrialCallback], extra_tags: Mapping[str, str]
    ) -> TrialReport:
        nonlocal position
        position += 1
        total = max(position, len(study.get_trials(deepcopy=False)))
        reused = _reused(trial) if held.kind == "search" else None
        if reused is not None:  # a sampled config that already FINISHED: its result, not a rerun
            observer.on_trial_end(reused, position, total)
            return reused
        bar = observer.on_trial_start(trial, position, total)
        report = execute_trial(
            trial,
            tracker,
            data,
            [*callbacks, *([bar] if bar else [])],
            extra_tags={TAG.SWEEP: held.experiment, **extra_tags},
            on_result=on_result,
            observer=observer,
        )
        observer.on_trial_end(report, position, total)
        return report

    def _reused(trial: Trial) -> TrialReport | None:
        stored = RunStore(client=tracker.client).newest_finished(
            held.experiment, config_hash=trial.config_hash
        )
        if stored is None or "val_accuracy_mean" not in stored.metrics:
            return None
        return TrialReport(
            trial,
            TrialOutcome.SKIPPED,
            summary={k: v for k, v in stored.metrics.items() if k.endswith(("_mean", "_std"))},
            run_id=stored.run_id,
            message=f"config {trial.config_hash} already FINISHED as run {stored.run_id}; result reused",
        )

    worked = work(
        study,
        storage,
        held,
        execute,
        max_trials=max_trials,
        timeout=timeout,
        on_trial=observer.on_worked,
    )
    return _study_report(study, worked, time.monotonic() - started)


def _work_left(study: optuna.Study, max_trials: int | None) -> int | None:
    """The most trials this process may still run on ``study`` (None: no bound known)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    left = sum(1 for t in trials if t.state in (TrialState.WAITING, TrialState.RUNNING))
    target = study.user_attrs.get(ATTR.TARGET)
    if target is not None:  # a search samples new trials up to its target
        left += max(0, int(target) - counted_trials(trials))
    return left if max_trials is None else min(left, max_trials)


def _study_report(study: optuna.Study, worked: list[WorkedTrial], seconds: float) -> StudyReport:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    states = [trial.state for trial in trials]
    totals = {state.name: states.count(state) for state in TrialState if state in states}
    top = best_trial(trials)
    best = None
    if top is not None and top.value is not None:
        best = BestTrial(top.number, str(top.user_attrs.get(ATTR.TRIAL, "")), top.value)
    return StudyReport(study.study_name, worked, seconds, totals, best)


class _StudyJob:
    """What one of ``jobs`` processes does on a study (picklable): work with its share of
    ``max_trials`` and its own sampler seed."""

    def __init__(
        self, storage_url: str, study_name: str, jobs: int, options: dict[str, Any]
    ) -> None:
        self.storage_url = storage_url
        self.study_name = study_name
        self.jobs = jobs
        self.options = options

    def __call__(self, observer: Any) -> StudyReport:
        job = observer.events.job
        options = dict(self.options)
        if options["max_trials"] is not None:
            share = options["max_trials"] // self.jobs + (job < options["max_trials"] % self.jobs)
            if share == 0:
                return StudyReport(self.study_name, [], 0.0)
            options["max_trials"] = share
        if options["seed"] is not None:
            options["seed"] += job
        return work_on_study(self.storage_url, self.study_name, observer=observer, **options)


def run_sweep_on_storage(
    sweep: Sweep,
    overrides: Mapping[str, Any] | None,
    storage_url: str,
    study_name: str | None = None,
    *,
    rerun: bool = False,
    tracking_uri: str | None = None,
    heartbeat: int = 10,
    grace: int | None = None,
    figures: bool = True,
    observer: StudyObserver | None = None,
    jobs: int = 1,
) -> StudyReport:
    """Queue the sweep's trials in a grid study (skipping finished ones), then work on them;
    any ``ferablate worker`` on the same study helps."""
    trials = expand_sweep(sweep, overrides)
    check_devices(trial.config for trial in trials)  # before the study or any store is opened
    trials = identify_trials(trials)

    def prepare(study: optuna.Study, held: StudySpec) -> StudyReady:
        finished = set() if rerun else set(finished_hashes(held.experiment, tracking_uri))
        queued, skipped = enqueue_trials(study, trials, finished, rerun=rerun)
        return StudyReady(study.study_name, tuple(queued), tuple(skipped))

    return work_on_study(
        storage_url,
        study_name or sweep.name,
        spec=StudySpec(kind="grid", experiment=experiment_name(sweep, overrides)),
        prepare=prepare,
        options=WorkerOptions(tracking_uri, heartbeat, grace, figures, jobs),
        observer=observer,
    )


def run_search(
    sweep: Sweep,
    overrides: Mapping[str, Any] | None = None,
    *,
    trials: int | None = None,
    more: int | None = None,
    storage_url: str | None = None,
    study_name: str | None = None,
    sampler: SamplerKind = SamplerKind.tpe,
    pruner: PrunerKind = PrunerKind.median,
    max_parameters: int = DEFAULT_MAX_PARAMETERS,
    timeout: float | None = None,
    seed: int | None = None,
    tracking_uri: str | None = None,
    heartbeat: int = 10,
    grace: int | None = None,
    observer: StudyObserver | None = None,
) -> StudyReport:
    """Run the study's Optuna trials over the sweep's ``search:`` space up to ``trials`` in
    all (the base config first in a new study); ``more`` instead raises the target by that
    many. Resumable: the same call after a kill ends with the same number; workers may join."""
    if (trials is None) == (more is None):
        raise ConfigError("give --trials N (the study's total) or --more N (added), not both")
    name = study_name or sweep.name
    if not sweep.search:
        raise ConfigError(
            f"{sweep.source}: no 'search:' mapping; add dotted keys with {{low, high}} or {{choices}}"
        )
    base = resolve_trial(sweep.base, [("--set", dict(overrides))] if overrides else [])
    check_devices([base])  # before the study or any store is opened
    spec = StudySpec(
        kind="search",
        experiment=name,
        base=base.model_dump(mode="json"),
        dims=sweep.search,
        sampler=sampler,
        pruner=pruner,
        max_parameters=max_parameters,
    )

    def prepare(study: optuna.Study, held: StudySpec) -> StudyReady:
        if more is not None:
            set_target_trials(study, more)
        elif trials is not None and set_total_trials(study, trials) == 0:
            _log.warning(
                "study '%s' already holds its %d trial(s) (--trials is the study's total); "
                "ask for more with --more N",
                study.study_name,
                trials,
            )
        base_queued = enqueue_base_trial(
            study, held
        )  # one of the `trials`: the target is set first
        return StudyReady(study.study_name, base_queued=base_queued)

    return work_on_study(
        storage_url or DEFAULT_STORAGE,
        name,
        spec=spec,
        prepare=prepare,
        options=WorkerOptions(tracking_uri, heartbeat, grace),
        timeout=timeout,
        seed=seed,
        observer=observer,
    )
