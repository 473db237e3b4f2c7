"""Pure metric functions: one fold's scores and the mean/std over folds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_score, recall_score

from ferablate.config import NUM_CLASSES

__all__ = ["METRIC_NAMES", "confusion", "fold_metrics", "mean_std"]

# The report's three scores; precision and recall are macro averages over the 7 classes.
METRIC_NAMES = ("val_accuracy", "val_precision", "val_recall")


def fold_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy, macro precision and macro recall of one fold's validation predictions."""
    present = np.unique(y_true).tolist()  # macro over the classes that occur in this fold
    return {
        "val_accuracy": float(accuracy_score(y_true, y_pred)),
        "val_precision": float(
            precision_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
        ),
        "val_recall": float(
            recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
        ),
    }


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
