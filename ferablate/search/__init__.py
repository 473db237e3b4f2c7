"""Search layer: Optuna studies on a shared RDB storage (search spaces, grid queues, workers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferablate.search._inspect import StudyTrialState, export_best_trial, study_trial_states
from ferablate.search._space import (
    DEFAULT_MAX_PARAMETERS,
    base_params,
    choice_label,
    config_for_params,
    dims_from_json,
    dims_to_json,
    parameter_count,
    params_to_patch,
    suggest_patch,
)
from ferablate.search._study import (
    ATTR,
    DEFAULT_STORAGE,
    PrunerKind,
    SamplerKind,
    StaleTrialHandler,
    StudySpec,
    best_study_sweep,
    best_trial,
    best_trial_sweep,
    counted_trials,
    enqueue_base_trial,
    enqueue_trials,
    open_storage,
    open_study,
    sampler_seed,
    set_target_trials,
    set_total_trials,
    study_totals,
    trial_config,
    trials_left,
)

if TYPE_CHECKING:
    from ferablate.search._queue import PruningCallback, StudyQueue, TrialLeaseLost, optuna_state
else:  # the worker imports the engine (torch); reading a study does not
    from ferablate._lazy import lazy_exports

    __getattr__ = lazy_exports(__name__, {"_queue": (
        "PruningCallback", "StudyQueue", "TrialLeaseLost", "optuna_state",
    )})  # fmt: skip

__all__ = [
    "ATTR",
    "DEFAULT_MAX_PARAMETERS",
    "DEFAULT_STORAGE",
    "PrunerKind",
    "PruningCallback",
    "SamplerKind",
    "StaleTrialHandler",
    "StudyQueue",
    "StudySpec",
    "StudyTrialState",
    "TrialLeaseLost",
    "base_params",
    "best_study_sweep",
    "best_trial",
    "best_trial_sweep",
    "choice_label",
    "config_for_params",
    "counted_trials",
    "dims_from_json",
    "dims_to_json",
    "enqueue_base_trial",
    "enqueue_trials",
    "export_best_trial",
    "open_storage",
    "open_study",
    "optuna_state",
    "parameter_count",
    "params_to_patch",
    "sampler_seed",
    "set_target_trials",
    "set_total_trials",
    "study_totals",
    "study_trial_states",
    "suggest_patch",
    "trial_config",
    "trials_left",
]
