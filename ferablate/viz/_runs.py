"""Figure inputs rebuilt from a run's stored artifacts, so figures never need retraining.

The artifacts (weights, per-epoch histories, validation predictions) are read through
``ferablate.tracking.RunStore`` (which owns their layout); faces come from ``load_data`` again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ferablate._errors import ConfigError
from ferablate.config import DataConfig
from ferablate.data import FaceData, load_data
from ferablate.tracking import TAG, RunArtifacts, RunStore
from ferablate.viz._trial import TrialFigureInputs, trial_figures, write_figures

__all__ = ["draw_run_figures", "inputs_from_run"]


def inputs_from_run(
    store: RunStore | Any,
    run_id: str,
    load_faces: Callable[[DataConfig], FaceData] = load_data,
) -> TrialFigureInputs:
    """Figure inputs of a FINISHED trial or final run, from its artifacts and its data config.

    ``store``: a :class:`~ferablate.tracking.RunStore`, a tracking URI or an ``MlflowClient``.
    """
    runs = RunStore.of(store)
    run = runs.get_run(run_id)
    if run.role == "fold":
        parent = run.tags.get(TAG.PARENT, "")
        raise ConfigError(
            f"run {run_id} is a fold run of trial run {parent or '?'}; figures are drawn per "
            f"trial: ferablate viz {parent or 'TRIAL_RUN_ID'}"
        )
    config = run.config
    stored = runs.artifacts(run_id)
    faces = load_faces(config.data)
    if stored.role == "final":
        return _final_inputs(config, stored, faces)
    best = stored.best_fold
    training_images, _ = faces.split("Training")
    folds = stored.predictions
    indices = folds[best].val_indices
    assert indices is not None  # trial runs store each fold's validation indices
    # balance="report" validates on augmented copies too (indices past the Training split); they
    # are not stored, so the figures use the original faces only.
    keep = indices < len(training_images)
    return TrialFigureInputs(
        config=config,
        histories=stored.histories,
        best_fold=best,
        state_dict=stored.state_dict,
        faces=training_images[indices[keep]],
        face_labels=folds[best].labels[keep],
        labels=np.concatenate([f.labels for f in folds]),
        predictions=np.concatenate([f.predictions for f in folds]),
    )


def _final_inputs(config: Any, stored: RunArtifacts, faces: FaceData) -> TrialFigureInputs:
    (scored,) = stored.predictions
    assert scored.usage is not None  # final runs store each test face's split
    splits = list(dict.fromkeys(scored.usage.tolist()))
    images, labels = faces.split(splits)  # the order the final run scored them in
    return TrialFigureInputs(
        config=config,
        histories=stored.histories,
        best_fold=0,
        state_dict=stored.state_dict,
        faces=images,
        face_labels=labels,
        labels=scored.labels,
        predictions=scored.predictions,
        split="test split" if len(splits) == 1 else f"test splits ({' + '.join(splits)})",
    )


def draw_run_figures(
    store: RunStore | Any,
    run_id: str,
    names: Sequence[str],
    folder: Path,
    *,
    dpi: int,
    activation_layer: str | None = None,
    log: bool = False,
) -> list[Path]:
    """Redraw figures ``names`` of a stored run into ``folder`` (PNG); with ``log`` also put
    them under ``figures/`` of the run. Returns the files written."""
    runs = RunStore.of(store)
    inputs = inputs_from_run(runs, run_id)
    drawn = trial_figures(
        inputs, names, activation_layer=activation_layer, seed=inputs.config.train.seed
    )
    paths = write_figures(drawn, folder, dpi)
    if log:
        runs.log_figures(run_id, folder)
    return paths
