"""Sweeps and searches on a shared Optuna study: open it, fill it, work its queue until done.

``ferablate run --storage``, ``ferablate optuna`` and ``ferablate worker`` are these three
functions, each the runner loop over a ``search.StudyQueue``; any number of processes on any
machines may work on one study at once. Progress goes to a :class:`StudyObserver`. Optuna
itself is named only in ``ferablate.search``: this module hands its study objects on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ferablate._errors import ConfigError
from ferablate._logging import get_logger
from ferablate.config import Sweep, Trial, expand_sweep, experiment_name, resolve_trial
from ferablate.runner._loop import DataCache, Trainer, work_queue
from ferablate.runner._observer import QuietObserver, StudyObserver, StudyReady
from ferablate.runner._options import RunOptions, SearchOptions
from ferablate.runner._sweep import check_devices
from ferablate.search import (
    ATTR,
    DEFAULT_STORAGE,
    StaleTrialHandler,
    StudySpec,
    best_trial,
    enqueue_base_trial,
    enqueue_trials,
    open_storage,
    open_study,
    set_target_trials,
    set_total_trials,
    study_totals,
    trials_left,
)
from ferablate.tracking import RunStore, TrialReport, finished_hashes, identify_trials

if TYPE_CHECKING:
    from ferablate.runner._figures import FigureSink
    from ferablate.runner._jobs import JobObserver
    from ferablate.tracking import TrialTracker

__all__ = ["BestTrial", "StudyReport", "run_search", "run_sweep_on_storage", "work_on_study"]

_log = get_logger(__name__)

Prepare = Callable[[Any, StudySpec], StudyReady]  # (the optuna.Study, its spec): fill it first


@dataclass(frozen=True)
class BestTrial:
    """The study's best trial as a report names it (one rule: ``search.best_trial``)."""

    number: int
    name: str
    value: float  # mean val accuracy over folds


@dataclass(frozen=True)
class StudyReport:
    """What this process did on a study, and where the study stands now."""

    study: str
    worked: list[TrialReport]  # the trials this process ran, in order
    seconds: float
    totals: dict[str, int] = field(default_factory=dict)  # Optuna state -> trials, whole study
    best: BestTrial | None = None


def work_on_study(
    options: RunOptions,
    observer: StudyObserver | None = None,
    spec: StudySpec | None = None,
    prepare: Prepare | None = None,
) -> StudyReport:
    """Open (or create, with ``spec``) study ``options.study`` on ``options.storage``, run
    ``prepare``, then work on its queue until done.

    Trials of grid studies log the report's figures like ``ferablate run`` (unless not
    ``options.figures``); search trials do not (figures of 50 samples are rarely looked at).
    With ``options.jobs`` > 1, that many processes here work on the study, sharing
    ``max_trials``; each samples with its own seed (``seed + job``).
    """
    from ferablate.runner._figures import FigureDrawer
    from ferablate.runner._jobs import cap_jobs, run_jobs

    if not options.storage or not options.study:
        raise ValueError("work_on_study: options.storage and options.study are required")
    observer = observer or QuietObserver()
    started = time.monotonic()
    storage, study, held = _open(options, spec)
    observer.on_study_ready(prepare(study, held) if prepare else StudyReady(options.study))
    jobs = cap_jobs(options.jobs, trials_left(study, options.max_trials)) if options.jobs > 1 else 1
    figures = options.figures and held.kind == "grid"
    with FigureDrawer(options.tracking_uri, observer, enabled=figures) as drawer:
        if jobs > 1:
            per_job = run_jobs(
                jobs, _StudyJob(replace(options, jobs=jobs)), observer, drawer.submit
            )
            worked = [report for done in per_job for report in done.values()]
        else:
            work = _work_here(storage, study, held, options, observer, drawer.submit)
            worked = list(work.values())
    return _study_report(study, worked, time.monotonic() - started)


def _open(options: RunOptions, spec: StudySpec | None) -> tuple[Any, Any, StudySpec]:
    """The storage, the study and its spec (created with ``spec``; else it must exist)."""
    assert options.storage is not None and options.study is not None
    storage = open_storage(
        options.storage,
        heartbeat_interval=options.heartbeat,
        grace_period=options.grace,
        stale_handler=StaleTrialHandler(options.tracking_uri),
        create=spec is not None,  # a worker joins a study: its storage must exist
    )
    study, held = open_study(storage, options.study, spec, seed=options.seed)
    return storage, study, held


def _work_here(
    storage: Any,
    study: Any,
    spec: StudySpec,
    options: RunOptions,
    observer: StudyObserver,
    figures: FigureSink | None,
) -> dict[int, TrialReport]:
    """The runner loop in this process over the study's queue."""
    from ferablate.search import StudyQueue
    from ferablate.tracking import TrialTracker

    tracker = TrialTracker(spec.experiment, options.tracking_uri)
    stored = _stored_result(tracker, spec.experiment)
    queue = StudyQueue(study, storage, spec, stored, options.max_trials, options.timeout)
    trainer = Trainer(tracker, DataCache(), observer)
    poll = min(options.poll, options.heartbeat)  # a re-queued trial is seen within one beat
    return work_queue(queue, trainer, observer, figures, poll)


def _stored_result(tracker: TrialTracker, experiment: str) -> Callable[[Trial], TrialReport | None]:
    """A sampled config that already FINISHED in the store: its result, not a rerun."""

    def stored(trial: Trial) -> TrialReport | None:
        run = RunStore(client=tracker.client).newest_finished(
            experiment, config_hash=trial.config_hash
        )
        if run is None or "val_accuracy_mean" not in run.metrics:
            return None
        message = f"config {trial.config_hash} already FINISHED as run {run.run_id}; result reused"
        return TrialReport.from_stored(trial, run, message)

    return stored


class _StudyJob:
    """What one of ``options.jobs`` processes does on a study (picklable): work with its share
    of ``max_trials`` and its own sampler seed."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options

    def __call__(self, job: int, observer: JobObserver) -> dict[int, TrialReport]:
        from ferablate.runner._jobs import JobFigures
        from ferablate.tracking import resolve_tracking_uri

        options, jobs = self.options, self.options.jobs
        if options.max_trials is not None:
            share = options.max_trials // jobs + (job < options.max_trials % jobs)
            if share == 0:
                return {}
            options = replace(options, max_trials=share)
        if options.seed is not None:
            options = replace(options, seed=options.seed + job)
        storage, study, held = _open(options, None)
        figures = None
        if options.figures and held.kind == "grid":
            figures = JobFigures(observer, resolve_tracking_uri(options.tracking_uri))
        return _work_here(storage, study, held, options, observer, figures)


def _study_report(study: Any, worked: list[TrialReport], seconds: float) -> StudyReport:
    top = best_trial(study.get_trials(deepcopy=False))
    best = None
    if top is not None and top.value is not None:
        best = BestTrial(top.number, str(top.user_attrs.get(ATTR.TRIAL, "")), top.value)
    return StudyReport(study.study_name, worked, seconds, study_totals(study), best)


def run_sweep_on_storage(
    sweep: Sweep,
    overrides: Mapping[str, Any] | None,
    options: RunOptions,
    observer: StudyObserver | None = None,
) -> StudyReport:
    """Queue the sweep's trials in a grid study on ``options.storage`` (skipping finished
    ones), then work on them; any ``ferablate worker`` on the same study helps."""
    trials = expand_sweep(sweep, overrides)
    check_devices(trial.config for trial in trials)  # before the study or any store is opened
    trials = identify_trials(trials)

    def prepare(study: Any, held: StudySpec) -> StudyReady:
        rerun = options.rerun
        finished = set() if rerun else set(finished_hashes(held.experiment, options.tracking_uri))
        queued, skipped = enqueue_trials(study, trials, finished, rerun=rerun)
        return StudyReady(study.study_name, tuple(queued), tuple(skipped))

    spec = StudySpec(kind="grid", experiment=experiment_name(sweep, overrides))
    options = replace(options, study=options.study or sweep.name)
    return work_on_study(options, observer, spec, prepare)


def run_search(
    sweep: Sweep,
    overrides: Mapping[str, Any] | None = None,
    search: SearchOptions | None = None,
    options: RunOptions | None = None,
    observer: StudyObserver | None = None,
) -> StudyReport:
    """Run the study's Optuna trials over the sweep's ``search:`` space up to
    ``search.trials`` in all (the base config first in a new study); ``search.more`` instead
    raises the target by that many. Resumable: the same call after a kill ends with the same
    number; workers may join."""
    search = search or SearchOptions(trials=20)
    if (search.trials is None) == (search.more is None):
        raise ConfigError("give --trials N (the study's total) or --more N (added), not both")
    if not sweep.search:
        raise ConfigError(
            f"{sweep.source}: no 'search:' mapping; add dotted keys with {{low, high}} or {{choices}}"
        )
    base = resolve_trial(sweep.base, [("--set", dict(overrides))] if overrides else [])
    check_devices([base])  # before the study or any store is opened
    options = options or RunOptions()
    name = options.study or sweep.name
    spec = StudySpec(
        kind="search",
        experiment=name,
        base=base.model_dump(mode="json"),
        dims=sweep.search,
        sampler=search.sampler,
        pruner=search.pruner,
        max_parameters=search.max_parameters,
    )

    def prepare(study: Any, held: StudySpec) -> StudyReady:
        if search.more is not None:
            set_target_trials(study, search.more)
        elif search.trials is not None and set_total_trials(study, search.trials) == 0:
            _log.warning(
                "study '%s' already holds its %d trial(s) (--trials is the study's total); "
                "ask for more with --more N",
                study.study_name,
                search.trials,
            )
        base_queued = enqueue_base_trial(study, held)  # one of the trials: the target is set first
        return StudyReady(study.study_name, base_queued=base_queued)

    storage = options.storage or DEFAULT_STORAGE
    options = replace(options, storage=storage, study=name, figures=False, jobs=1)
    return work_on_study(options, observer, spec, prepare)
