"""Pure metric functions: one fold's scores, its collapse check and the mean/std over folds."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from ferablate.config import NUM_CLASSES

__all__ = [
    "COLLAPSE_LOSS_FRACTION",
    "FoldStatus",
    "confusion",
    "fold_metrics",
    "fold_status",
    "mean_std",
]

# A fold whose final-epoch training loss stays above this fraction of ln 7 (the loss of a
# uniform guess over 7 classes, 1.946) never left chance: 0.97 * ln 7 = 1.888. Learning folds
# are far below it after a few epochs (FER2013 model 1, ~40 % accuracy: ~1.5); the collapsed
# real fold that motivated the check ended at 1.946.
COLLAPSE_LOSS_FRACTION = 0.97

FoldStatus = Literal["ok", "collapsed"]


def fold_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy, macro precision and macro recall of one fold's validation predictions."""
    present = np.unique(y_true).tolist()  # macro over the classes that occur in this fold
    precision, recall, _, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=present, average="macro", zero_division=0
    )
    return {
        "val_accuracy": float(accuracy_score(y_true, y_pred)),
        "val_precision": float(precision),
        "val_recall": float(recall),
    }


def fold_status(train_loss: float, y_true: np.ndarray, y_pred: np.ndarray) -> FoldStatus:
    """``"collapsed"`` for a fold that stayed at chance, else ``"ok"``.

    Collapsed: the final-epoch training loss is above ``COLLAPSE_LOSS_FRACTION * ln 7``, or
    the fold predicts one class for every validation face although they hold several classes.
    """
    at_chance = train_loss > COLLAPSE_LOSS_FRACTION * math.log(NUM_CLASSES)
    one_class = len(np.unique(y_pred)) == 1 and len(np.unique(y_true)) > 1
    return "collapsed" if at_chance or one_class else "ok"


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """7x7 confusion counts, rows = true class."""
    return confusion_matrix(y_true, y_pred, labels=list(range(NUM_CLASSES)))


def mean_std(per_fold: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """``{"<name>_mean": ..., "<name>_std": ...}`` over folds (population std, as numpy)."""
    summary: dict[str, float] = {}
    for name in per_fold[0]:
        values = np.array([fold[name] for fold in per_fold], dtype=np.float64)
        summary[f"{name}_mean"] = float(values.mean())
        summary[f"{name}_std"] = float(values.std())
    return summary
