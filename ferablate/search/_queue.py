"""An Optuna study as the trial queue: claim a WAITING trial (or sample a new one), tell Optuna.

Optuna's storage is the distributed engine: claiming is Optuna's atomic WAITING -> RUNNING
transition, liveness is its heartbeat table, and a dead worker's trial is failed and re-queued
by :func:`optuna.storages.fail_stale_trials` (see :class:`StaleTrialHandler`). ``ask``/``tell``
is used instead of ``optimize`` so that a grid study never samples a trial of its own; the
heartbeat thread ``optimize`` would run is therefore run here. ``runner.work_queue`` drives it.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from ferablate._errors import ConfigError
from ferablate._logging import get_logger
from ferablate._outcome import TrialOutcome, outcome_of
from ferablate.config import Trial, TrialConfig, resolve_trial
from ferablate.engine import EpochMetrics, TrialCallback
from ferablate.search._space import parameter_count, suggest_patch
from ferablate.search._study import ATTR, StudySpec, counted_trials
from ferablate.tracking import TAG, WAIT, Claim, TrialReport, identify_trials

if TYPE_CHECKING:
    import optuna
    from optuna.storages import RDBStorage
    from optuna.trial import FrozenTrial, TrialState

__all__ = ["PruningCallback", "StudyQueue", "TrialLeaseLost", "optuna_state"]

_log = get_logger(__name__)


class TrialLeaseLost(BaseException):  # a stop signal like KeyboardInterrupt, not an error
    """This worker's trial was failed as stale and re-queued: stop training it now."""


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


class StudyQueue:
    """The trials of an Optuna study, claimed through its RDB storage (``tracking.TrialQueue``).

    ``claim`` first re-queues the trials of dead workers (``fail_stale_trials``), then takes a
    WAITING trial or, in a search below its target, samples a new one; while other workers'
    trials run it answers ``WAIT`` (one may die and come back WAITING). ``stored(trial)``: a
    search trial whose config already FINISHED in the store (its result is reused, not rerun).
    """

    def __init__(
        self,
        study: optuna.Study,
        storage: RDBStorage,
        spec: StudySpec,
        stored: Callable[[Trial], TrialReport | None] | None = None,
        max_trials: int | None = None,
        timeout: float | None = None,
    ) -> None:
        self.study, self.storage, self.spec = study, storage, spec
        self._stored = stored
        self._max_trials, self._timeout = max_trials, timeout
        self._study_id = storage.get_study_id_from_name(study.study_name)
        self._interval = float(storage.heartbeat_interval or 10)
        self._started = time.monotonic()
        self._claimed = 0
        self.total = 0

    def claim(self) -> Claim | Literal["wait"] | None:
        from optuna.exceptions import ExperimentalWarning
        from optuna.storages import fail_stale_trials
        from optuna.trial import TrialState

        if self._max_trials is not None and self._claimed >= self._max_trials:
            return None
        if self._timeout is not None and time.monotonic() - self._started > self._timeout:
            return None
        with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.9
            warnings.simplefilter("ignore", ExperimentalWarning)
            fail_stale_trials(self.study)  # re-queues trials of dead workers (StaleTrialHandler)
        trial = self._take()
        if trial is None:
            running = self._trials(TrialState.RUNNING)
            return WAIT if running else None
        self._claimed += 1
        self.total = max(self._claimed, len(self.study.get_trials(deepcopy=False)))
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(
            self._study_id, trial.number
        )
        return self._planned(trial, (trial, trial_id, time.monotonic()))

    def _trials(self, *states: TrialState) -> list[FrozenTrial]:
        return self.storage.get_all_trials(self._study_id, deepcopy=False, states=states or None)

    def _take(self) -> optuna.Trial | None:
        """Atomically take a WAITING trial, else (search below target) create one; None if neither."""
        import optuna
        from optuna.trial import TrialState

        for waiting in self._trials(TrialState.WAITING):
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(
                self._study_id, waiting.number
            )
            try:
                if not self.storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                    continue  # another worker took it first
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
            self.storage.record_heartbeat(trial_id)
            return _trial(self.study, trial_id)
        target = self.study.user_attrs.get(ATTR.TARGET)
        if (
            self.spec.kind != "search"
            or target is None
            or counted_trials(self._trials()) >= int(target)
        ):
            return None
        trial_id = self.storage.create_new_trial(self._study_id)
        self.storage.record_heartbeat(trial_id)
        return _trial(self.study, trial_id)

    def _planned(self, trial: optuna.Trial, handle: tuple[optuna.Trial, int, float]) -> Claim:
        """The claimed Optuna trial as a ferablate trial: its config, identity, callbacks."""
        try:
            grid = self.spec.kind == "grid"
            planned = _grid_trial(trial) if grid else _search_trial(trial, self.spec)
        except ConfigError as exc:  # rejected before training: it never becomes a trial
            name = f"optuna-{trial.number}"
            base = TrialConfig.model_validate(self.spec.base or {})
            never = Trial(name=name, variant=name, config=base, patch={}, index=trial.number)
            rejected = TrialReport(never, TrialOutcome.REJECTED, message=str(exc))
            return Claim(never, self._claimed, self.total, ended=rejected, handle=handle)
        try:
            planned = identify_trials([planned])[0]  # fingerprints the data: missing data ends here
        except BaseException as exc:
            self.study.tell(
                trial, state=optuna_state(outcome_of(exc).outcome), skip_if_finished=True
            )
            raise
        callbacks: list[TrialCallback] = [_LeaseCheck(self.storage, handle[1])]
        if not grid:
            trial.set_user_attr(ATTR.TRIAL, planned.name)
            trial.set_user_attr(ATTR.CONFIG, planned.config.model_dump_json())
            trial.set_user_attr(ATTR.CONFIG_HASH, planned.config_hash)
            callbacks.append(PruningCallback(trial))
        tags = {
            TAG.SWEEP: self.spec.experiment,
            TAG.STUDY: self.study.study_name,
            TAG.OPTUNA_TRIAL: str(trial.number),
        }
        reused = self._stored(planned) if self._stored is not None and not grid else None
        return Claim(
            planned,
            self._claimed,
            self.total,
            callbacks=callbacks,
            tags=tags,
            ended=reused,
            handle=handle,
        )

    def heartbeat(self, claim: Claim) -> _Heartbeat:
        _, trial_id, _ = claim.handle
        return _Heartbeat(self.storage, trial_id, self._interval)

    def finish(self, claim: Claim, report: TrialReport) -> TrialReport:
        """Tell Optuna the trial's value (finished, or a stored result reused) or its failure."""
        trial, _, _ = claim.handle
        if report.run_id:
            trial.set_user_attr(ATTR.RUN_ID, report.run_id)
        value = report.value
        valid = value is not None and not math.isnan(value)
        if report.status is TrialOutcome.SKIPPED and valid:  # the identity already FINISHED
            trial.set_user_attr(ATTR.ORIGIN, "reused")
            return self._tell(claim, report, TrialOutcome.SKIPPED)
        if report.status is TrialOutcome.FINISHED and valid:
            return self._tell(claim, report, TrialOutcome.FINISHED)
        failed = TrialOutcome.FAILED if report.status is TrialOutcome.FINISHED else report.status
        message = report.message or "no mean val accuracy"
        return self._tell(claim, dataclasses.replace(report, message=message), failed)

    def release(self, claim: Claim, exc: BaseException) -> TrialReport | None:
        """A pruned or lost trial ends here; any other stop fails it in Optuna and propagates."""
        trial, _, _ = claim.handle
        if isinstance(exc, TrialLeaseLost):
            _log.warning("trial %s: %s", claim.trial.name, exc)
            return self._tell(claim, TrialReport(claim.trial, TrialOutcome.LOST), TrialOutcome.LOST)
        ending = outcome_of(exc)
        if ending.outcome is TrialOutcome.PRUNED:
            pruned = TrialReport(claim.trial, TrialOutcome.PRUNED, message=str(exc))
            return self._tell(claim, pruned, TrialOutcome.PRUNED)
        self.study.tell(trial, state=optuna_state(ending.outcome), skip_if_finished=True)
        return None

    def _tell(self, claim: Claim, report: TrialReport, outcome: TrialOutcome) -> TrialReport:
        """Tell Optuna how the trial ended (unless lost); the report as told."""
        import optuna

        trial, _, started = claim.handle
        scored = outcome in (TrialOutcome.FINISHED, TrialOutcome.SKIPPED)
        message = report.message
        try:
            if not scored and outcome not in (TrialOutcome.PRUNED, TrialOutcome.LOST):
                trial.set_user_attr(ATTR.FAILURE, outcome.value)  # oom: "no fit in memory"
                trial.set_user_attr(ATTR.FAILURE_REASON, message[:2000])
            if (state := optuna_state(outcome)) is not None:
                self.study.tell(trial, report.value if scored else None, state=state)
        except optuna.exceptions.UpdateFinishedTrialError:  # re-queued while we trained
            _log.warning(
                "trial %s ended after it was re-queued as stale; its retry counts", claim.trial.name
            )
            outcome, message = TrialOutcome.LOST, "ended after the trial was re-queued"
        seconds = report.seconds or time.monotonic() - started
        return dataclasses.replace(
            report, status=outcome, message=message, number=trial.number, seconds=seconds
        )
