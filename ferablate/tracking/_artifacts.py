"""The artifact layout of ferablate runs, written and read here only.

A trial run (``ferablate.role=trial``) holds::

    weights/fold-<i>.pt   plain state dict per fold (torch.load(..., weights_only=True))
    history.json          per fold, per epoch: EpochMetrics fields
    predictions.json      per fold "fold-<i>": val_indices (into the Training split), labels, predictions
    config.json           the resolved TrialConfig
    figures/              the report's figures (PNG), when drawn

A final run (``role=final``) holds ``weights/final.pt``, a flat ``history.json``, the test faces'
``predictions.json`` (usage, labels, predictions in ``split()`` order), ``metrics.json``,
``config.json``, ``confusion/`` (CSV + PNG per split) and ``figures/``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ferablate._errors import TrackingError

if TYPE_CHECKING:  # the engine (torch) is imported when artifacts are read, not with the store
    import torch

    from ferablate.engine import EpochMetrics, TrialResult

__all__ = [
    "CONFUSION_DIR",
    "FIGURES_DIR",
    "FINAL_WEIGHTS",
    "RunArtifacts",
    "StoredPredictions",
    "fold_weights",
    "read_run_artifacts",
    "write_final_artifacts",
    "write_trial_artifacts",
]

FIGURES_DIR = "figures"
CONFUSION_DIR = "confusion"
FINAL_WEIGHTS = "weights/final.pt"
_HISTORY = "history.json"
_PREDICTIONS = "predictions.json"
_CONFIG = "config.json"
_METRICS = "metrics.json"


def fold_weights(fold: int) -> str:
    """Artifact path of a trial fold's weights."""
    return f"weights/fold-{fold}.pt"


def _fold_key(fold: int) -> str:
    return f"fold-{fold}"


def write_trial_artifacts(root: Path, result: TrialResult) -> None:
    """Fold weights, validation predictions, histories and the config of a trial, under ``root``."""
    import torch

    (root / "weights").mkdir()
    for fold in result.folds:
        torch.save(fold.state_dict, root / fold_weights(fold.fold))
    predictions = {
        _fold_key(fold.fold): {
            "val_indices": fold.val_indices.tolist(),
            "labels": fold.val_labels.tolist(),
            "predictions": fold.val_predictions.tolist(),
        }
        for fold in result.folds
    }
    (root / _PREDICTIONS).write_text(json.dumps(predictions))
    history = [[m.__dict__ for m in fold.history] for fold in result.folds]
    (root / _HISTORY).write_text(json.dumps(history))
    (root / _CONFIG).write_text(result.config.model_dump_json(indent=2))


def write_final_artifacts(
    root: Path,
    result: TrialResult,
    metrics: Mapping[str, float],
    usage: np.ndarray,
    write_confusion: Callable[[Path], None] | None = None,
) -> None:
    """Weights, test predictions (with each face's split), history, scores and config of a
    final run under ``root``; ``write_confusion`` fills ``confusion/``."""
    import torch

    fold = result.folds[0]
    (root / "weights").mkdir()
    torch.save(fold.state_dict, root / FINAL_WEIGHTS)
    predictions = {
        "usage": usage.tolist(),
        "labels": fold.val_labels.tolist(),
        "predictions": fold.val_predictions.tolist(),
    }
    (root / _PREDICTIONS).write_text(json.dumps(predictions))
    (root / _HISTORY).write_text(json.dumps([m.__dict__ for m in fold.history]))
    (root / _METRICS).write_text(json.dumps(dict(metrics), indent=2))
    (root / _CONFIG).write_text(result.config.model_dump_json(indent=2))
    if write_confusion is not None:
        (root / CONFUSION_DIR).mkdir()
        write_confusion(root / CONFUSION_DIR)


@dataclass(frozen=True)
class StoredPredictions:
    """One fold's (or a final run's) stored validation predictions."""

    labels: np.ndarray  # (N,) true class
    predictions: np.ndarray  # (N,) predicted class, last epoch
    # trial: indices into the Training split (or the balanced pool)
    val_indices: np.ndarray | None = None
    usage: np.ndarray | None = None  # final: each test face's split, in split() order


@dataclass(frozen=True)
class RunArtifacts:
    """What a FINISHED trial or final run stored, read back (figures are redrawn from it)."""

    role: str  # "trial" | "final"
    histories: list[list[EpochMetrics]]  # per fold, per epoch (final: one "fold")
    predictions: list[StoredPredictions]  # per fold (final: one)
    best_fold: int  # fold with the best last-epoch val accuracy (final: 0)
    state_dict: dict[str, torch.Tensor]  # weights of the best fold (final: the final model)


def read_run_artifacts(download: Callable[[str, str], str], run_id: str, role: str) -> RunArtifacts:
    """Read a run's artifacts through ``download(artifact_path, local_dir) -> local path``."""
    import torch

    from ferablate.engine import EpochMetrics

    with tempfile.TemporaryDirectory(prefix="ferablate-read-") as tmp:
        history = _read_json(download, run_id, _HISTORY, tmp)
        stored = _read_json(download, run_id, _PREDICTIONS, tmp)
        if role == "final":
            histories = [[EpochMetrics(**entry) for entry in history]]
            predictions = [_predictions(stored)]
            best, weights = 0, FINAL_WEIGHTS
        else:
            histories = [[EpochMetrics(**entry) for entry in fold] for fold in history]
            predictions = [_predictions(stored[_fold_key(i)]) for i in range(len(histories))]
            best = int(np.argmax([fold[-1].val_accuracy for fold in histories]))
            weights = fold_weights(best)
        local = _download(download, run_id, weights, tmp)
        state_dict = torch.load(local, map_location="cpu", weights_only=True)
    return RunArtifacts(role, histories, predictions, best, state_dict)


def _predictions(entry: Mapping[str, Any]) -> StoredPredictions:
    """A trial fold's entry (with ``val_indices``) or a final run's (with ``usage``)."""
    indices, usage = entry.get("val_indices"), entry.get("usage")
    return StoredPredictions(
        labels=np.asarray(entry["labels"], dtype=np.int64),
        predictions=np.asarray(entry["predictions"], dtype=np.int64),
        val_indices=None if indices is None else np.asarray(indices, dtype=np.int64),
        usage=None if usage is None else np.asarray(usage),
    )


def _download(download: Callable[[str, str], str], run_id: str, path: str, directory: str) -> str:
    try:
        return download(path, directory)
    except Exception as exc:
        raise TrackingError(
            f"run {run_id} has no artifact {path}; it was not finished by ferablate"
        ) from exc


def _read_json(download: Callable[[str, str], str], run_id: str, path: str, directory: str) -> Any:
    return json.loads(Path(_download(download, run_id, path, directory)).read_text())
