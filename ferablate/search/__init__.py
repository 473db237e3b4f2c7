"""Search layer: Optuna studies on a shared RDB storage (search spaces, grid queues, workers)."""

from __future__ import annotations

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
    StaleTrialHandler,
    StudySpec,
    best_trial_sweep,
    counted_trials,
    enqueue_base_trial,
    enqueue_trials,
    open_storage,
    open_study,
    set_target_trials,
    trial_config,
)
from ferablate.search._worker import (
    ExecutedTrial,
    PruningCallback,
    TrialExecutor,
    TrialLeaseLost,
    WorkedTrial,
    work,
)

__all__ = [
    "ATTR",
    "DEFAULT_MAX_PARAMETERS",
    "DEFAULT_STORAGE",
    "ExecutedTrial",
    "PruningCallback",
    "StaleTrialHandler",
    "StudySpec",
    "TrialExecutor",
    "TrialLeaseLost",
    "WorkedTrial",
    "base_params",
    "best_trial_sweep",
    "choice_label",
    "config_for_params",
    "counted_trials",
    "dims_from_json",
    "dims_to_json",
    "enqueue_base_trial",
    "enqueue_trials",
    "open_storage",
    "open_study",
    "parameter_count",
    "params_to_patch",
    "set_target_trials",
    "suggest_patch",
    "trial_config",
    "work",
]
