"""A worker on a shared study: claim a WAITING trial (or sample a new one), run it, tell Optuna.

Optuna's storage is the distributed engine: claiming is Optuna's atomic WAITING -> RUNNING
transition, liveness is its heartbeat table, and a dead worker's trial is failed and re-queued
by :func:`optuna.storages.fail_stale_trials` (see :class:`StaleTrialHandler`). ``ask``/``tell``
is used instead of ``optimize`` so that a grid study never samples a trial of its own; the
heartbeat thread ``optimize`` would run is therefore run here.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ferablate._errors import ConfigError
from ferablate._logging import get_logger
from ferablate._outcome import TrialOutcome, outcome_of
from ferablate.config import Trial, TrialConfig, resolve_trial
from ferablate.engine import EpochMetrics, TrialCallback
from ferablate.search._space import parameter_count, suggest_patch
from ferablate.search._study import ATTR, StudySpec, counted_trials

if TYPE_CHECKING:
    import optuna
    from optuna.storages import RDBStorage
    from optuna.trial import TrialState

__all__ = [
    "ExecutedTrial",
    "PruningCallback",
    "TrialExecutor",
    "TrialLeaseLost",
    "WorkedTrial",
    "optuna_state",
    "work",
]

_log = get_logger(__name__)


class ExecutedTrial(Protocol):
    """What the runner reports for one trial (``ferablate.runner.TrialReport``)."""

    status: TrialOutcome  # finished | skipped (a stored result reused) | failed | oom | diverged
    summary: dict[str, float]
    message: str
    run_id: str | None


class TrialExecutor(Protocol):
    def __call__(
        self, trial: Trial, callbacks: Sequence[TrialCallback], extra_tags: Mapping[str, str]
    ) -> ExecutedTrial: ...


class TrialLeaseLost(BaseException):  # a stop signal like KeyboardInterrupt, not an error
    """This worker's trial was failed as stale and re-queued: stop training it now."""


@dataclass(frozen=True)
class WorkedTrial:
    """One trial this worker ran."""

    number: int
    name: str
    outcome: TrialOutcome  # finished | skipped (reused) | pruned | rejected | failed | oom | diverged | killed | lost
    value: float | None  # mean val accuracy (finished trials)
    seconds: float
    message: str = ""


def optuna_state(outcome: TrialOutcome) -> TrialState | None:
    """The one mapping of outcomes to Optuna trial states (None: tell Optuna nothing)."""
    from optuna.trial import TrialState

    if outcome in (TrialOutcome.FINISHED, TrialOutcome.SKIPPED):  # skipped: a stored result reused
        return TrialState.COMPLETE
    if outcome in (TrialOutcome.PRUNED, TrialOutcome.REJECTED):  # TPE learns to avoid rejects
        return TrialState.PRUNED
    if outcome is TrialOutcome.LOST:  # the trial is no longer ours: its retry reports
        return None
    return TrialState.FAIL  # failed, oom ("no fit in memory"), diverged, killed


class PruningCallback(TrialCallback):
    """Reports the per-epoch mean validation accuracy over folds; stops pruned trials."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial

    def on_epoch_end(self, epoch: int, metrics: Sequence[EpochMetrics]) -> None:
        import optuna

        accuracy = sum(m.val_accuracy for m in metrics) / len(metrics)
        self.trial.report(accuracy, epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(
                f"pruned after epoch {epoch}: mean val accuracy {accuracy:.4f}"
            )


class _LeaseCheck(TrialCallback):
    """Stops training when the trial is no longer ours (failed as stale by another worker)."""

    def __init__(self, storage: RDBStorage, trial_id: int) -> None:
        self.storage = storage
        self.trial_id = trial_id

    def on_epoch_end(self, epoch: int, metrics: Sequence[EpochMetrics]) -> None:
        from optuna.trial import TrialState

        if self.storage.get_trial(self.trial_id).state != TrialState.RUNNING:
            raise TrialLeaseLost(
                f"optuna trial {self.trial_id} was re-queued after missed heartbeats"
            )


class _Heartbeat:
    """Records the trial's heartbeat every ``interval`` seconds on a daemon thread."""

    def __init__(self, storage: RDBStorage, trial_id: int, interval: float) -> None:
        self._storage, self._trial_id, self._interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"heartbeat-{trial_id}", daemon=True
        )

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._storage.record_heartbeat(self._trial_id)
            except Exception as exc:  # a DB hiccup: try again next beat
                _log.warning("heartbeat of trial %d failed: %s", self._trial_id, exc)


def _claim(
    study: optuna.Study, storage: RDBStorage, study_id: int, spec: StudySpec
) -> optuna.Trial | None:
    """Atomically take a WAITING trial, else (search below target) create one; None if neither."""
    import optuna
    from optuna.trial import TrialState

    for waiting in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, waiting.number)
        try:
            if not storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                continue  # another worker took it first
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        storage.record_heartbeat(trial_id)
        return _trial(study, trial_id)
    if spec.kind != "search":
        return None
    target = study.user_attrs.get(ATTR.TARGET)
    if target is None or counted_trials(storage.get_all_trials(study_id, deepcopy=False)) >= int(
        target
    ):
        return None
    trial_id = storage.create_new_trial(study_id)
    storage.record_heartbeat(trial_id)
    return _trial(study, trial_id)


def _trial(study: optuna.Study, trial_id: int) -> optuna.Trial:
    """The ``optuna.Trial`` of a trial claimed or created through the raw storage.

    The study reads through Optuna's trial cache, which must see the trial before its first
    suggest: TPE reads every trial first anyway, the random sampler does not (and the suggest
    then raised KeyError). Reading the RUNNING trials refreshes the cache.
    """
    import optuna
    from optuna.trial import TrialState

    study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return optuna.Trial(study, trial_id)


def _running(storage: RDBStorage, study_id: int) -> int:
    from optuna.trial import TrialState

    return len(storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)))


def _search_trial(trial: optuna.Trial, spec: StudySpec) -> Trial:
    """Sample the trial's config; ConfigError says why it is rejected (invalid or too big)."""
    assert spec.base is not None
    name = f"optuna-{trial.number}"
    patch = suggest_patch(trial, spec.dims)
    config = resolve_trial(spec.base, [(f"optuna trial {trial.number}", patch)])
    try:
        parameters = parameter_count(config)
    except ConfigError:
        raise
    except Exception as exc:  # e.g. a shape the model cannot be built with
        raise ConfigError(f"optuna trial {trial.number}: model cannot be built: {exc}") from exc
    trial.set_user_attr("ferablate.parameters", parameters)
    if parameters > spec.max_parameters:
        raise ConfigError(
            f"optuna trial {trial.number}: {parameters:,} parameters exceed the study's limit of {spec.max_parameters:,}"
        )
    return Trial(name=name, variant=name, config=config, patch=patch, index=trial.number)


def _grid_trial(trial: optuna.Trial) -> Trial:
    attrs = trial.user_attrs
    config = TrialConfig.model_validate_json(attrs[ATTR.CONFIG])
    return Trial(
        name=str(attrs[ATTR.TRIAL]),
        variant=str(attrs.get(ATTR.VARIANT, attrs[ATTR.TRIAL])),
        config=config,
        patch={},
        index=int(attrs.get(ATTR.INDEX, trial.number)),
    )


def _identified(trial: Trial) -> Trial:
    """``trial`` with its identity on this worker's data and machine."""
    from ferablate.tracking import identify_trials

    return identify_trials([trial])[0]


def _run_one(
    study: optuna.Study,
    storage: RDBStorage,
    study_id: int,
    trial: optuna.Trial,
    spec: StudySpec,
    execute: TrialExecutor,
    heartbeat_interval: float,
) -> WorkedTrial:
    import optuna

    from ferablate.tracking import TAG

    started = time.monotonic()
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
    name = f"optuna-{trial.number}"

    def done(outcome: TrialOutcome, message: str = "", value: float | None = None) -> WorkedTrial:
        """Tell Optuna how the trial ended (unless lost) and record it."""
        state = optuna_state(outcome)
        scored = outcome in (TrialOutcome.FINISHED, TrialOutcome.SKIPPED)
        if not scored and outcome not in (TrialOutcome.PRUNED, TrialOutcome.LOST):
            trial.set_user_attr(ATTR.FAILURE, outcome.value)  # oom is a result: "no fit in memory"
            trial.set_user_attr(ATTR.FAILURE_REASON, message[:2000])
        if state is not None:
            study.tell(trial, value if scored else None, state=state)
        return WorkedTrial(trial.number, name, outcome, value, time.monotonic() - started, message)

    with _Heartbeat(storage, trial_id, heartbeat_interval):
        try:
            planned = _grid_trial(trial) if spec.kind == "grid" else _search_trial(trial, spec)
        except ConfigError as exc:  # rejected before training
            return done(TrialOutcome.REJECTED, str(exc))
        name = planned.name
        try:
            planned = _identified(planned)  # fingerprints the data: missing data ends here
        except BaseException as exc:
            study.tell(trial, state=optuna_state(outcome_of(exc).outcome), skip_if_finished=True)
            raise
        if spec.kind == "search":
            trial.set_user_attr(ATTR.TRIAL, name)
            trial.set_user_attr(ATTR.CONFIG, planned.config.model_dump_json())
            trial.set_user_attr(ATTR.CONFIG_HASH, planned.config_hash)
        callbacks: list[TrialCallback] = [_LeaseCheck(storage, trial_id)]
        if spec.kind == "search":
            callbacks.append(PruningCallback(trial))
        tags = {TAG.STUDY: study.study_name, TAG.OPTUNA_TRIAL: str(trial.number)}
        try:
            try:
                executed = execute(planned, callbacks, tags)
            except TrialLeaseLost as exc:
                _log.warning("trial %s: %s", name, exc)
                return done(TrialOutcome.LOST, str(exc))
            except BaseException as exc:
                ending = outcome_of(exc)
                if ending.outcome is TrialOutcome.PRUNED:
                    return done(TrialOutcome.PRUNED, str(exc))
                study.tell(trial, state=optuna_state(ending.outcome), skip_if_finished=True)
                raise
            if executed.run_id:
                trial.set_user_attr(ATTR.RUN_ID, executed.run_id)
            value = executed.summary.get("val_accuracy_mean")
            valid = value is not None and not math.isnan(value)
            if executed.status is TrialOutcome.SKIPPED and valid:  # the hash already FINISHED
                trial.set_user_attr(ATTR.ORIGIN, "reused")
                return done(TrialOutcome.SKIPPED, executed.message, value=value)
            if executed.status is TrialOutcome.FINISHED and valid:
                return done(TrialOutcome.FINISHED, value=value)
            outcome = (
                TrialOutcome.FAILED if executed.status is TrialOutcome.FINISHED else executed.status
            )
            return done(outcome, executed.message or "no mean val accuracy")
        except optuna.exceptions.UpdateFinishedTrialError:  # re-queued while we trained
            _log.warning("trial %s ended after it was re-queued as stale; its retry counts", name)
            return done(TrialOutcome.LOST, "ended after the trial was re-queued")


def work(
    study: optuna.Study,
    storage: RDBStorage,
    spec: StudySpec,
    execute: TrialExecutor,
    *,
    max_trials: int | None = None,
    timeout: float | None = None,
    on_trial: Callable[[WorkedTrial], None] | None = None,
) -> list[WorkedTrial]:
    """Run the study's trials until none remain (nothing WAITING or RUNNING, target reached).

    While other workers' trials are RUNNING this worker waits: one of them may die, and its
    trial then comes back WAITING after the grace period.
    """
    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import fail_stale_trials

    interval = float(storage.heartbeat_interval or 10)
    study_id = storage.get_study_id_from_name(study.study_name)
    started = time.monotonic()
    worked: list[WorkedTrial] = []
    while max_trials is None or len(worked) < max_trials:
        if timeout is not None and time.monotonic() - started > timeout:
            break
        with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.9
            warnings.simplefilter("ignore", ExperimentalWarning)
            fail_stale_trials(study)  # re-queues trials of dead workers (StaleTrialHandler)
        trial = _claim(study, storage, study_id, spec)
        if trial is None:
            if not _running(storage, study_id):
                break
            time.sleep(min(interval, 2.0))
            continue
        result = _run_one(study, storage, study_id, trial, spec, execute, interval)
        worked.append(result)
        if on_trial is not None:
            on_trial(result)
    return worked
