"""What a trial produces: per-fold, per-epoch metrics, final weights and predictions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ferablate.config import TrialConfig
from ferablate.engine._folds import FoldPlan, FoldSpec
from ferablate.engine._metrics import FoldStatus, mean_std

__all__ = ["EpochMetrics", "FoldResult", "TrialCallback", "TrialInfo", "TrialResult", "epoch_mean"]


@dataclass(frozen=True)
class EpochMetrics:
    """One fold's scores after one epoch."""

    fold: int
    epoch: int  # 1-based
    train_loss: float
    val_loss: float
    val_accuracy: float
    val_precision: float  # macro
    val_recall: float  # macro

    def scores(self) -> dict[str, float]:
        """The metric values only (what MLflow logs), without fold/epoch."""
        values = asdict(self)
        del values["fold"], values["epoch"]
        return values


def epoch_mean(metrics: Sequence[EpochMetrics]) -> dict[str, float]:
    """Mean over folds of each score of one epoch (``val_accuracy_mean``, ...)."""
    return {k: v for k, v in mean_std([m.scores() for m in metrics]).items() if k.endswith("_mean")}


@dataclass
class FoldResult:
    fold: int  # index in the plan, 0 .. repeats * k - 1 (EpochMetrics.fold)
    name: str  # "fold-<i>" with one repeat, "r<repeat>-f<fold>" with several (run names)
    repeat: int  # 0-based split this fold belongs to
    history: list[EpochMetrics]  # one entry per epoch, in order
    train_size: int  # training faces per epoch (after balancing)
    n_train_distinct: int  # distinct original training faces (no balancing copies): t-test n_train
    n_val_distinct: int  # distinct original validation faces: the t-test's n_val
    # indices into TrialResult.plan.images (the Training split, or the report-balanced pool)
    val_indices: np.ndarray
    val_labels: np.ndarray
    val_predictions: np.ndarray  # predicted class per validation face, last epoch
    state_dict: dict[str, torch.Tensor]  # final weights, plain (folds=1) layout, on CPU
    status: FoldStatus = "ok"  # "collapsed": stayed at chance (see engine.fold_status)
    # publictest_accuracy / _precision / _recall of this fold's model (train.score_publictest)
    publictest: dict[str, float] | None = None

    @property
    def final(self) -> EpochMetrics:
        return self.history[-1]


@dataclass
class TrialResult:
    """A trained trial's result (the one type for it): per-fold histories, predictions, weights."""

    config: TrialConfig
    folds: list[FoldResult]
    device: str
    precision: str
    seconds: float  # wall time of training + validation
    faces_trained: int  # training faces seen over all folds and epochs
    # the folds' faces: fold.val_indices index plan.images / plan.labels
    plan: FoldPlan | None = None

    @property
    def faces_per_second(self) -> float:
        return self.faces_trained / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> dict[str, float]:
        """Mean and std over folds of every final-epoch score (``val_accuracy_mean``, ...)."""
        return mean_std([fold.final.scores() for fold in self.folds])

    @property
    def collapsed_folds(self) -> list[FoldResult]:
        """The folds that stayed at chance (``status == "collapsed"``), in plan order."""
        return [fold for fold in self.folds if fold.status == "collapsed"]

    def publictest_summary(self) -> dict[str, float]:
        """Mean over fold models of each PublicTest score (``publictest_accuracy_mean``, ...);
        empty unless the trial ran with ``train.score_publictest``."""
        scores = [fold.publictest for fold in self.folds if fold.publictest is not None]
        return {k: v for k, v in mean_std(scores).items() if k.endswith("_mean")} if scores else {}

    @property
    def best_fold(self) -> int:
        """Index of the fold with the best final validation accuracy (for single-fold figures)."""
        return int(np.argmax([fold.final.val_accuracy for fold in self.folds]))


@dataclass(frozen=True)
class TrialInfo:
    """Told to callbacks before the first step."""

    folds: int  # fold models: repeats x k
    epochs: int
    steps_per_epoch: int  # optimisation steps per epoch over all fold groups
    train_sizes: Sequence[int]
    device: str
    precision: str
    packed: bool
    fold_specs: tuple[FoldSpec, ...] = ()  # per fold (EpochMetrics.fold indexes it): its name
    repeats: int = 1


class TrialCallback:
    """Hooks into a running trial; every method is optional. Raising stops the trial."""

    def on_trial_start(self, info: TrialInfo) -> None:
        """Called once, after data and models are ready."""

    def on_step(self, epoch: int, step: int, steps: int, loss: float | None) -> None:
        """Called after each optimisation step; ``loss`` (running mean) only every few steps."""

    def on_epoch_end(self, epoch: int, metrics: Sequence[EpochMetrics]) -> None:
        """Called after every fold finished ``epoch``; ``metrics`` holds one entry per fold."""
