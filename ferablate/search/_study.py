"""Optuna studies on an RDB storage: what a study is for (its spec), grid queues, best trials.

Everything a worker needs lives in the study itself (user attrs, JSON): the kind of study
(``grid``: run the enqueued trials only; ``search``: sample new ones up to a target count),
the MLflow experiment, the resolved base config and the search space. A remote
``ferablate worker`` therefore needs only the storage URL and the study name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from ferablate._errors import ConfigError, SearchError
from ferablate._logging import get_logger
from ferablate.config import SearchDim, Trial, TrialConfig
from ferablate.search._space import (
    DEFAULT_MAX_PARAMETERS,
    base_params,
    dims_from_json,
    dims_to_json,
)

if TYPE_CHECKING:
    import optuna
    from optuna.storages import RDBStorage
    from optuna.trial import FrozenTrial

__all__ = [
    "ATTR",
    "DEFAULT_STORAGE",
    "PrunerKind",
    "SamplerKind",
    "StaleTrialHandler",
    "StudySpec",
    "best_study_sweep",
    "best_trial",
    "best_trial_sweep",
    "counted_trials",
    "enqueue_base_trial",
    "enqueue_trials",
    "open_storage",
    "open_study",
    "sampler_seed",
    "set_target_trials",
    "set_total_trials",
    "study_totals",
    "trial_config",
    "trials_left",
]

_log = get_logger(__name__)

DEFAULT_STORAGE = "sqlite:///mlruns/optuna.db"


class ATTR:
    """Study and trial user-attr names (optuna-dashboard shows them; never rename)."""

    KIND = "ferablate.kind"  # study: "grid" | "search"
    EXPERIMENT = "ferablate.experiment"  # study: MLflow experiment of its trial runs
    BASE = "ferablate.base"  # study: resolved base config (JSON), --set overrides applied
    SPACE = "ferablate.space"  # study: search dims (JSON)
    SAMPLER = "ferablate.sampler"
    PRUNER = "ferablate.pruner"
    MAX_PARAMETERS = "ferablate.max_parameters"
    TARGET = "ferablate.target_trials"  # study: search stops at this many trials
    TRIAL = "ferablate.trial"  # trial: trial name (grid variant or optuna-<n>)
    VARIANT = "ferablate.variant"
    INDEX = "ferablate.index"
    CONFIG = "ferablate.config"  # trial: resolved config (JSON)
    CONFIG_HASH = "ferablate.config_hash"
    RUN_ID = "ferablate.run_id"  # trial: MLflow parent run
    ORIGIN = "ferablate.origin"  # trial: "base" (the base config, enqueued first) | "reused"
    FAILURE = "ferablate.failure"  # trial: oom | error | rejected
    FAILURE_REASON = "ferablate.failure_reason"


class _Choice(StrEnum):
    @classmethod
    def parse(cls, value: str, option: str) -> Self:
        """The member named ``value``; ConfigError naming ``option`` and the choices if none."""
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(member.value for member in cls)
            raise ConfigError(f"{option} '{value}': use one of {choices}") from None


class SamplerKind(_Choice):
    """The Optuna sampler of a search study."""

    tpe = "tpe"
    random = "random"


class PrunerKind(_Choice):
    """The Optuna pruner of a search study (grid studies never prune)."""

    median = "median"
    hyperband = "hyperband"
    none = "none"


@dataclass(frozen=True)
class StudySpec:
    """What a study runs; stored in its user attrs."""

    kind: Literal["grid", "search"]
    experiment: str
    base: Mapping[str, Any] | None = None  # search only
    dims: tuple[SearchDim, ...] = ()  # search only
    sampler: SamplerKind = SamplerKind.tpe
    pruner: PrunerKind = PrunerKind.median
    max_parameters: int = DEFAULT_MAX_PARAMETERS

    def __post_init__(self) -> None:  # plain strings (user attrs, callers) become the enums
        object.__setattr__(self, "sampler", SamplerKind.parse(self.sampler, "sampler"))
        object.__setattr__(self, "pruner", PrunerKind.parse(self.pruner, "pruner"))

    def user_attrs(self) -> dict[str, Any]:
        return {
            ATTR.KIND: self.kind,
            ATTR.EXPERIMENT: self.experiment,
            ATTR.BASE: json.dumps(self.base, sort_keys=True) if self.base is not None else None,
            ATTR.SPACE: json.dumps(dims_to_json(self.dims)),
            ATTR.SAMPLER: self.sampler.value,
            ATTR.PRUNER: self.pruner.value,
            ATTR.MAX_PARAMETERS: self.max_parameters,
        }

    @classmethod
    def from_user_attrs(cls, attrs: Mapping[str, Any], study_name: str) -> StudySpec:
        if ATTR.KIND not in attrs:
            raise SearchError(
                f"study '{study_name}' was not made by ferablate (no {ATTR.KIND} attr); "
                f"start it with 'ferablate optuna' or 'ferablate run SWEEP --storage URL'"
            )
        base = attrs.get(ATTR.BASE)
        return cls(
            kind=attrs[ATTR.KIND],
            experiment=attrs[ATTR.EXPERIMENT],
            base=json.loads(base) if base else None,
            dims=dims_from_json(json.loads(attrs.get(ATTR.SPACE) or "[]")),
            sampler=attrs.get(ATTR.SAMPLER, "tpe"),
            pruner=attrs.get(ATTR.PRUNER, "median"),
            max_parameters=int(attrs.get(ATTR.MAX_PARAMETERS, DEFAULT_MAX_PARAMETERS)),
        )

    def epochs(self) -> int:
        train = (self.base or {}).get("train") or {}
        return int(train.get("epochs", 5))


# -- storage ------------------------------------------------------------------------------------


class StaleTrialHandler:
    """Called by Optuna for each trial whose worker stopped sending heartbeats.

    Re-queues the trial (:class:`optuna.storages.RetryHeartbeatStaleTrialCallback`) and ends the
    dead worker's MLflow run as KILLED (``ferablate.failure=killed``), so the store never holds a
    run that looks alive and ``ferablate table`` uses the retry's FINISHED run.
    """

    def __init__(self, tracking_uri: str | None, max_retry: int | None = 3) -> None:
        import warnings

        import optuna

        self.tracking_uri = tracking_uri
        with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        _log.warning(
            "trial %d of study '%s' lost its worker; re-queued", trial.number, study.study_name
        )
        self._retry(study, trial)
        try:
            self.close_runs(study, trial.number)
        except Exception as exc:  # never let MLflow trouble stop the retry
            _log.warning("could not close the MLflow run of trial %d: %s", trial.number, exc)

    def close_runs(self, study: optuna.Study, number: int) -> int:
        from ferablate.tracking import TrialTracker

        experiment = study.user_attrs.get(ATTR.EXPERIMENT)
        if not experiment:
            return 0
        tracker = TrialTracker(str(experiment), self.tracking_uri)
        reason = f"worker stopped sending heartbeats; optuna trial {number} re-queued"
        return tracker.close_study_trial_runs(study.study_name, number, reason)


def open_storage(
    url: str,
    *,
    heartbeat_interval: int = 10,
    grace_period: int | None = None,
    stale_handler: StaleTrialHandler | None = None,
    create: bool = True,
) -> RDBStorage:
    """An Optuna RDB storage with heartbeats (SQLite for one machine, PostgreSQL for many).

    Without ``create`` (a worker joining, an export reading) a missing SQLite file is a
    SearchError, not a new empty storage.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # ferablate reports each trial itself
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if scheme not in ("sqlite", "postgresql", "mysql"):
        raise SearchError(
            f"--storage '{url}': use an SQLAlchemy URL such as sqlite:///mlruns/optuna.db or "
            f"postgresql+psycopg://user@host:5432/db (heartbeats need an RDB storage)"
        )
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        db_path = Path(url.removeprefix("sqlite:///"))
        if not create and not db_path.is_file():
            raise SearchError(
                f"--storage '{url}': no Optuna storage at {db_path}; check the URL, or start "
                f"the study with 'ferablate optuna' or 'ferablate run SWEEP --storage URL'"
            )
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # e.g. a regular file on the way
            raise SearchError(
                f"--storage '{url}': cannot make the folder {db_path.parent} "
                f"({exc.strerror or exc}); check the path"
            ) from None
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs={"pool_pre_ping": True} if scheme != "sqlite" else None,
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period or 3 * heartbeat_interval,
                heartbeat_stale_trial_callback=stale_handler,
            )
    except Exception as exc:
        raise SearchError(
            f"--storage '{url}': cannot open the Optuna storage: {str(exc).splitlines()[0]}"
        ) from exc


def sampler_seed(seed: int | None, trials_so_far: int) -> int | None:
    """The sampler seed of a session that joins a study holding ``trials_so_far`` trials.

    ``--seed`` alone would replay the first session's samples on every resume; mixed with
    the study's size, a resumed (or second) session draws new ones, reproducibly.
    """
    if seed is None:
        return None
    import numpy as np

    return int(np.random.SeedSequence([seed, trials_so_far]).generate_state(1)[0])


def _sampler(spec: StudySpec, seed: int | None) -> optuna.samplers.BaseSampler:
    import optuna

    if spec.sampler is SamplerKind.random:
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=8)


def _pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    import optuna

    if spec.pruner is PrunerKind.none or spec.kind == "grid":
        return optuna.pruners.NopPruner()
    if spec.pruner is PrunerKind.hyperband:
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=spec.epochs(), reduction_factor=3
        )
    # Prune from epoch 2 on, once 4 trials have finished: epoch 1 is too noisy to judge.
    return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=2)


def open_study(
    storage: RDBStorage,
    name: str,
    spec: StudySpec | None = None,
    *,
    seed: int | None = None,
) -> tuple[optuna.Study, StudySpec]:
    """Create or load study ``name``; with ``spec``, check it matches what the study holds."""
    import optuna

    existing = {
        s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
    }
    if name not in existing:
        if spec is None:
            raise SearchError(
                f"no study '{name}' in the storage (studies: {', '.join(sorted(existing)) or 'none'})"
            )
        study = optuna.create_study(
            storage=storage, study_name=name, direction="maximize", load_if_exists=True
        )
        for key, value in spec.user_attrs().items():
            study.set_user_attr(key, value)
    stored = optuna.load_study(study_name=name, storage=storage)
    held = StudySpec.from_user_attrs(stored.user_attrs, name)
    if spec is not None and (held.kind, held.base, held.dims) != (spec.kind, spec.base, spec.dims):
        what = (
            "kind"
            if held.kind != spec.kind
            else "base config (or --set overrides)"
            if held.base != spec.base
            else "search space"
        )
        raise SearchError(
            f"study '{name}' was created with another {what}; resume it unchanged or pick a new --study NAME"
        )
    seed = sampler_seed(seed, len(stored.get_trials(deepcopy=False)))
    study = optuna.load_study(
        study_name=name, storage=storage, sampler=_sampler(held, seed), pruner=_pruner(held)
    )
    return study, held


# -- counting and queues ------------------------------------------------------------------------


def counted_trials(trials: Iterable[FrozenTrial]) -> int:
    """Trials that count towards a search's target: all but heartbeat failures (retried)."""
    from optuna.trial import TrialState

    counting = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
    return sum(
        1
        for t in trials
        if t.state in counting or (t.state == TrialState.FAIL and ATTR.FAILURE in t.user_attrs)
    )


def trials_left(study: optuna.Study, max_trials: int | None = None) -> int | None:
    """The most trials one process may still run on ``study`` (None: no bound known)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    left = sum(1 for t in trials if t.state in (TrialState.WAITING, TrialState.RUNNING))
    target = study.user_attrs.get(ATTR.TARGET)
    if target is not None:  # a search samples new trials up to its target
        left += max(0, int(target) - counted_trials(trials))
    return left if max_trials is None else min(left, max_trials)


def study_totals(study: optuna.Study) -> dict[str, int]:
    """Optuna state name -> trials of the whole study (the states it holds)."""
    from optuna.trial import TrialState

    states = [trial.state for trial in study.get_trials(deepcopy=False)]
    return {state.name: states.count(state) for state in TrialState if state in states}


def set_total_trials(study: optuna.Study, total: int) -> int:
    """Set the search's target to ``total`` trials in all (``optuna --trials``): the same
    command resumes a killed search to the same end; returns the trials still to sample."""
    study.set_user_attr(ATTR.TARGET, total)
    return max(0, total - counted_trials(study.get_trials(deepcopy=False)))


def set_target_trials(study: optuna.Study, more: int) -> int:
    """Raise the search's target to (trials so far) + ``more``; returns the new target."""
    target = counted_trials(study.get_trials(deepcopy=False)) + more
    study.set_user_attr(ATTR.TARGET, target)
    return target


def enqueue_base_trial(study: optuna.Study, spec: StudySpec) -> bool:
    """Queue the base config as a new search's first trial, so the search is measured
    against its starting point (and TPE starts from it); False when the study already has
    trials or the base lies outside the space.
    """
    if spec.kind != "search" or spec.base is None or study.get_trials(deepcopy=False):
        return False
    params = base_params(spec.base, spec.dims)
    if params is None:
        _log.info("the base config lies outside the search space; not queued as a trial")
        return False
    study.enqueue_trial(params=params, user_attrs={ATTR.ORIGIN: "base"})
    return True


def enqueue_trials(
    study: optuna.Study,
    trials: Sequence[Trial],
    finished_hashes: Iterable[str] = (),
    *,
    rerun: bool = False,
) -> tuple[list[str], list[str]]:
    """Queue a sweep's trials (WAITING) unless finished, queued or running; (queued, skipped).

    ``rerun`` queues finished trials again (never ones already WAITING or RUNNING).
    """
    from optuna.trial import TrialState

    busy = (
        (TrialState.WAITING, TrialState.RUNNING)
        if rerun
        else (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING)
    )
    present = {
        t.user_attrs.get(ATTR.CONFIG_HASH) for t in study.get_trials(deepcopy=False, states=busy)
    }
    present |= set(finished_hashes)
    if any(trial.identity is None for trial in trials):  # identity: data and this machine
        from ferablate.tracking import identify_trials

        trials = identify_trials(trials)
    queued, skipped = [], []
    for trial in trials:
        if trial.config_hash in present:
            skipped.append(trial.name)
            continue
        study.enqueue_trial(
            params={},
            user_attrs={
                ATTR.TRIAL: trial.name,
                ATTR.VARIANT: trial.variant,
                ATTR.INDEX: trial.index,
                ATTR.CONFIG: trial.config.model_dump_json(),
                ATTR.CONFIG_HASH: trial.config_hash,
            },
        )
        present.add(trial.config_hash)
        queued.append(trial.name)
    return queued, skipped


def trial_config(trial: FrozenTrial) -> TrialConfig:
    """The resolved config a study trial ran (or will run) with."""
    raw = trial.user_attrs.get(ATTR.CONFIG)
    if raw is None:
        raise SearchError(
            f"optuna trial {trial.number} has no {ATTR.CONFIG} attr (rejected before it trained?)"
        )
    return TrialConfig.model_validate_json(raw)


def best_trial(trials: Iterable[FrozenTrial]) -> FrozenTrial | None:
    """The COMPLETE trial with the highest value; on a tie the earliest (lowest number)."""
    from optuna.trial import TrialState

    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    return max(complete, key=lambda t: (t.value, -t.number)) if complete else None


def best_trial_sweep(study: optuna.Study) -> dict[str, Any]:
    """The best COMPLETE trial as a sweep mapping with one variant ``best`` (for ``ferablate final``)."""
    best = best_trial(study.get_trials(deepcopy=False))
    if best is None or best.value is None:
        raise SearchError(
            f"study '{study.study_name}' has no COMPLETE trial yet; run 'ferablate optuna' first"
        )
    config = trial_config(best)
    return {
        "name": f"{study.study_name}-best",
        "description": (
            f"Best trial of Optuna study '{study.study_name}': trial {best.number}, "
            f"mean val accuracy {best.value:.4f} (hash {best.user_attrs.get(ATTR.CONFIG_HASH, '?')})."
        ),
        "base": config.model_dump(mode="json"),
        "variants": [{"name": "best"}],
    }


def best_study_sweep(storage_url: str, study_name: str) -> dict[str, Any]:
    """:func:`best_trial_sweep` of study ``study_name`` in the storage at ``storage_url``."""
    study, _ = open_study(open_storage(storage_url, create=False), study_name)
    return best_trial_sweep(study)
