"""Engine layer: trains one trial's k folds (packed, epoch-major) and scores them."""

from __future__ import annotations

from ferablate.engine._augment import AugmentConfig, augment_batch
from ferablate.engine._device import Precision, cpu_has_fast_bf16, select_device, select_precision
from ferablate.engine._folds import (
    FoldPlan,
    FoldSpec,
    balance_indices,
    plan_folds,
    repeat_seed,
    report_balanced_pool,
)
from ferablate.engine._metrics import (
    COLLAPSE_LOSS_FRACTION,
    FoldStatus,
    confusion,
    fold_metrics,
    fold_status,
    mean_std,
)
from ferablate.engine._preflight import check_device, check_model_size, check_trial
from ferablate.engine._result import (
    EpochMetrics,
    FoldResult,
    TrialCallback,
    TrialInfo,
    TrialResult,
    epoch_mean,
)
from ferablate.engine._trainer import (
    autocast_context,
    is_out_of_memory,
    run_trial,
    seed_for,
    train_final,
    train_plan,
)

__all__ = [
    "COLLAPSE_LOSS_FRACTION",
    "AugmentConfig",
    "EpochMetrics",
    "FoldPlan",
    "FoldResult",
    "FoldSpec",
    "FoldStatus",
    "Precision",
    "TrialCallback",
    "TrialInfo",
    "TrialResult",
    "augment_batch",
    "autocast_context",
    "balance_indices",
    "check_device",
    "check_model_size",
    "check_trial",
    "confusion",
    "cpu_has_fast_bf16",
    "epoch_mean",
    "fold_metrics",
    "fold_status",
    "is_out_of_memory",
    "mean_std",
    "plan_folds",
    "repeat_seed",
    "report_balanced_pool",
    "run_trial",
    "seed_for",
    "select_device",
    "select_precision",
    "train_final",
    "train_plan",
]
