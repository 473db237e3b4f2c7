"""Figure inputs rebuilt from a run's MLflow artifacts, so figures never need retraining.

A trial run (``ferablate.role=trial``) stores ``weights/fold-<i>.pt``, ``history.json`` (per
fold, per epoch) and ``predictions.json`` (per fold: indices into the Training split, labels,
predictions); a final run (``role=final``) stores ``weights/final.pt``, a flat ``history.json``
and the test faces' predictions in ``split()`` order. Faces come from ``load_data`` again.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ferablate._errors import TrackingError
from ferablate.config import DataConfig
from ferablate.engine import EpochMetrics
from ferablate.tracking import TAG, config_from_run
from ferablate.viz._trial import TrialFigureInputs

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from ferablate.data import FaceData

__all__ = ["inputs_from_run"]


def _default_loader(config: DataConfig) -> FaceData:
    from ferablate.data import load_data

    return load_data(config)


def inputs_from_run(
    client: MlflowClient,
    run_id: str,
    load_faces: Callable[[DataConfig], FaceData] = _default_loader,
) -> TrialFigureInputs:
    """Figure inputs of a FINISHED trial or final run, from its artifacts and its data config."""
    import torch

    try:
        run = client.get_run(run_id)
    except Exception as exc:
        raise TrackingError(
            f"no MLflow run '{run_id}' in this store ({exc.__class__.__name__}); check the id and --tracking-uri"
        ) from exc
    config = config_from_run(run)
    role = run.data.tags.get(TAG.ROLE, "trial")
    with tempfile.TemporaryDirectory(prefix="ferablate-viz-") as tmp:
        history = _read_json(client, run_id, "history.json", tmp)
        predictions = _read_json(client, run_id, "predictions.json", tmp)
        if role == "final":
            histories = [[EpochMetrics(**entry) for entry in history]]
            best = 0
            weights = "weights/final.pt"
        else:
            histories = [[EpochMetrics(**entry) for entry in fold] for fold in history]
            best = int(np.argmax([fold[-1].val_accuracy for fold in histories]))
            weights = f"weights/fold-{best}.pt"
        try:
            local = client.download_artifacts(run_id, weights, tmp)
        except Exception as exc:
            raise TrackingError(
                f"run {run_id} has no artifact {weights}; it was not finished by ferablate"
            ) from exc
        state_dict = torch.load(local, map_location="cpu", weights_only=True)
    faces = load_faces(config.data)
    if role == "final":
        return _final_inputs(config, histories, state_dict, predictions, faces)
    training_images, _ = faces.split("Training")
    folds = [predictions[f"fold-{i}"] for i in range(len(histories))]
    indices = np.asarray(folds[best]["val_indices"], dtype=np.int64)
    # balance="report" validates on augmented copies too (indices past the Training split); they
    # are not stored, so the figures use the original faces only.
    keep = indices < len(training_images)
    return TrialFigureInputs(
        config=config,
        histories=histories,
        best_fold=best,
        state_dict=state_dict,
        faces=training_images[indices[keep]],
        face_labels=np.asarray(folds[best]["labels"], dtype=np.int64)[keep],
        labels=np.concatenate([np.asarray(f["labels"], dtype=np.int64) for f in folds]),
        predictions=np.concatenate([np.asarray(f["predictions"], dtype=np.int64) for f in folds]),
    )


def _final_inputs(
    config: Any,
    histories: list[list[EpochMetrics]],
    state_dict: Any,
    predictions: dict[str, Any],
    faces: FaceData,
) -> TrialFigureInputs:
    usage = np.asarray(predictions["usage"])
    splits = [name for name in dict.fromkeys(usage.tolist())]
    images, labels = faces.split(splits)  # the order the final run scored them in
    return TrialFigureInputs(
        config=config,
        histories=histories,
        best_fold=0,
        state_dict=state_dict,
        faces=images,
        face_labels=labels,
        labels=np.asarray(predictions["labels"], dtype=np.int64),
        predictions=np.asarray(predictions["predictions"], dtype=np.int64),
        split="test split" if len(splits) == 1 else f"test splits ({' + '.join(splits)})",
    )


def _read_json(client: MlflowClient, run_id: str, path: str, directory: str) -> Any:
    try:
        local = client.download_artifacts(run_id, path, directory)
    except Exception as exc:
        raise TrackingError(
            f"run {run_id} has no artifact {path}; it was not finished by ferablate"
        ) from exc
    return json.loads(Path(local).read_text())
