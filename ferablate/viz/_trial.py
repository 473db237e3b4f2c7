"""A trial's six figures from one set of inputs, built from a TrialResult or a run's artifacts."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from ferablate._errors import ConfigError
from ferablate._logging import get_logger
from ferablate.config import CLASS_NAMES, TrialConfig
from ferablate.engine import EpochMetrics, TrialResult
from ferablate.viz._augmentation import augmentation_figure
from ferablate.viz._curves import confusion_figure, loss_curves_figure
from ferablate.viz._network import activations_figure, face_batch, weights_figure
from ferablate.viz._occlusion import occlusion_figure
from ferablate.viz._style import DPI, save_png

__all__ = [
    "FIGURE_DESCRIPTIONS",
    "FIGURE_NAMES",
    "TrialFigureInputs",
    "figure_hook",
    "inputs_from_result",
    "log_trial_figures",
    "parse_figure_names",
    "pick_faces",
    "trial_figures",
    "write_figures",
]

_log = get_logger(__name__)

# Report order: Figure 1 .. Figure 6. Each name is also the PNG's file name.
FIGURE_NAMES = ("loss", "weights", "activations", "occlusion", "confusion", "augmentation")
# What each figure shows, in one phrase (``ferablate viz`` says what it drew).
FIGURE_DESCRIPTIONS = {
    "loss": "loss curves (training and held-out loss per epoch, mean over folds)",
    "weights": "first conv layer's kernels (and an inception block's branches) of the best fold",
    "activations": "feature maps of one face",
    "occlusion": "occlusion sensitivity: where hiding a patch changes the prediction",
    "confusion": "confusion matrix of the held-out faces",
    "augmentation": "augmented training faces, one per class",
}
_SCORING_BATCH = 512  # faces per forward pass when choosing example faces


@dataclass(frozen=True)
class TrialFigureInputs:
    """Everything the six figures need, independent of where it came from."""

    config: TrialConfig
    histories: Sequence[Sequence[EpochMetrics]]  # per fold, per epoch
    best_fold: int  # whose weights and faces the single-model figures use
    state_dict: Mapping[str, torch.Tensor]  # best fold's weights, plain (folds=1) layout
    faces: np.ndarray  # (N, 48, 48) uint8: faces the best fold was scored on
    face_labels: np.ndarray  # (N,)
    labels: np.ndarray  # true classes of every scored face (all folds), for the confusion matrix
    predictions: np.ndarray  # predicted classes, same order
    split: str = "validation folds"  # what ``labels`` cover, for the confusion matrix's title
    class_names: Sequence[str] = CLASS_NAMES

    def model(self) -> nn.Module:
        """The best fold's plain model on the CPU, in eval mode."""
        from ferablate.models import create_model

        model = create_model(self.config.model)
        model.load_state_dict(dict(self.state_dict))
        # channels_last: occlusion's large forward batches ran 1.5x faster so on an AMD EPYC
        # (fp32, batch 252: 305 vs 451 ms); values are the same.
        return model.float().eval().to(memory_format=torch.channels_last)


def inputs_from_result(result: TrialResult, split: str | None = None) -> TrialFigureInputs:
    """Figure inputs of a finished trial (``run_trial`` or ``train_final``) still in memory."""
    if result.plan is None:
        raise ConfigError("the trial result has no fold plan (faces); figures need result.plan")
    best = result.best_fold
    fold = result.folds[best]
    return TrialFigureInputs(
        config=result.config,
        histories=[f.history for f in result.folds],
        best_fold=best,
        state_dict=fold.state_dict,
        faces=result.plan.images[fold.val_indices],
        face_labels=np.asarray(fold.val_labels),
        labels=np.concatenate([f.val_labels for f in result.folds]),
        predictions=np.concatenate([f.val_predictions for f in result.folds]),
        split=split or ("validation folds" if len(result.folds) > 1 else "held-out faces"),
    )


def parse_figure_names(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"loss,occlusion"`` (or a list, or None = all) -> validated names in report order."""
    if spec is None:
        return FIGURE_NAMES
    names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    unknown = [n for n in names if n not in FIGURE_NAMES]
    if unknown or not names:
        raise ConfigError(
            f"unknown figure(s) {', '.join(unknown) or '(none given)'}; choose from {','.join(FIGURE_NAMES)}"
        )
    return tuple(n for n in FIGURE_NAMES if n in names)


def pick_faces(model: nn.Module, faces: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """Index of one typical face per class present.

    Typical = among the faces the model classifies correctly (all of the class if none), the
    one whose own-class probability is the median: neither a lucky extreme nor a failure.
    """
    with torch.no_grad():
        probabilities = torch.cat(
            [
                torch.softmax(model(face_batch(faces[s : s + _SCORING_BATCH])), dim=1)
                for s in range(0, len(faces), _SCORING_BATCH)
            ]
        ).numpy()  # (N, classes)
    own = probabilities[np.arange(len(labels)), labels]
    correct = probabilities.argmax(axis=1) == labels
    chosen = []
    for c in range(classes):
        candidates = np.flatnonzero((labels == c) & correct)
        if candidates.size == 0:
            candidates = np.flatnonzero(labels == c)
        if candidates.size:
            order = candidates[np.argsort(own[candidates], kind="stable")]
            chosen.append(int(order[len(order) // 2]))
    return np.asarray(chosen, dtype=np.int64)


def trial_figures(
    inputs: TrialFigureInputs,
    which: Sequence[str] = FIGURE_NAMES,
    activation_layer: str | None = None,
    seed: int = 0,
) -> dict[str, Figure]:
    """The requested figures (names from :data:`FIGURE_NAMES`), in report order."""
    which = parse_figure_names(which)
    figures: dict[str, Figure] = {}
    model = inputs.model() if {"weights", "activations", "occlusion"} & set(which) else None
    examples = np.arange(0)
    if model is not None and {"activations", "occlusion"} & set(which) and len(inputs.faces):
        examples = pick_faces(model, inputs.faces, inputs.face_labels, len(inputs.class_names))
    faces, face_labels = inputs.faces[examples], inputs.face_labels[examples]
    for name in which:
        if name == "loss":
            best = inputs.best_fold if len(inputs.histories) > 1 else None
            held_out = "test" if inputs.split.startswith("test") else "validation"
            figures[name] = loss_curves_figure(inputs.histories, best, held_out)
        elif name == "confusion":
            figures[name] = confusion_figure(
                inputs.labels, inputs.predictions, inputs.class_names, inputs.split
            )
        elif name == "augmentation":
            sample = _one_per_class(inputs.faces, inputs.face_labels, len(inputs.class_names))
            figures[name] = augmentation_figure(
                inputs.faces[sample],
                inputs.face_labels[sample],
                seed=seed,
                class_names=inputs.class_names,
            )
        elif model is None:
            raise AssertionError("unreachable: the model is built for these figures")
        elif name == "weights":
            figures[name] = weights_figure(model)
        elif len(faces) == 0:
            _log.warning("no faces to draw the %s figure on; skipped", name)
        elif name == "activations":
            # A happy face if there is one: its cue (the mouth) is the easiest to see in feature maps.
            names = [inputs.class_names[int(label)] for label in face_labels]
            pick = names.index("happy") if "happy" in names else 0
            caption = inputs.class_names[int(face_labels[pick])]
            figures[name] = activations_figure(model, faces[pick], activation_layer, caption)
        elif name == "occlusion":
            figures[name] = occlusion_figure(model, faces, face_labels, inputs.class_names)
    return figures


def _one_per_class(faces: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    chosen = [int(np.argmax(labels == c)) for c in range(classes) if (labels == c).any()]
    return np.asarray(chosen or list(range(min(len(faces), 7))), dtype=np.int64)


def write_figures(
    figures: Mapping[str, Figure], directory: str | Path, dpi: int = DPI
) -> list[Path]:
    """Save each figure as ``<directory>/<name>.png``; returns the paths."""
    return [
        save_png(figure, Path(directory) / f"{name}.png", dpi) for name, figure in figures.items()
    ]


class _ArtifactSink(Protocol):
    def log_artifacts(self, local_dir: Path, artifact_path: str | None = None) -> None: ...


def log_trial_figures(
    run: _ArtifactSink,
    result: TrialResult,
    which: Sequence[str] = FIGURE_NAMES,
    split: str | None = None,
    strict: bool = False,
) -> float:
    """Draw the trial's figures and log them under ``figures/`` of its run; returns seconds taken.

    Figures are a by-product: unless ``strict``, a failure is logged as a warning and the
    trial still finishes.
    """
    started = time.perf_counter()
    try:
        figures = trial_figures(
            inputs_from_result(result, split), which, seed=result.config.train.seed
        )
        with tempfile.TemporaryDirectory(prefix="ferablate-figures-") as tmp:
            write_figures(figures, tmp)
            run.log_artifacts(Path(tmp), "figures")
    except Exception as exc:
        if strict:
            raise
        _log.warning("figures not logged: %s: %s", type(exc).__name__, exc)
    seconds = time.perf_counter() - started
    _log.info("figures drawn and logged in %.1f s", seconds)
    return seconds


def figure_hook(
    which: Sequence[str] = FIGURE_NAMES, split: str | None = None
) -> Callable[[_ArtifactSink, TrialResult], None]:
    """An ``on_result`` hook for the runners that logs the figures of every finished trial."""

    def hook(run: _ArtifactSink, result: TrialResult) -> None:
        log_trial_figures(run, result, which, split)

    return hook
