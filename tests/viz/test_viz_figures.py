"""Each figure function, fed a tiny trained model and a few faces, writes a real PNG of its size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from ferablate._errors import ConfigError
from ferablate.config import TrialConfig, resolve_preset, validate_trial
from ferablate.data import synthetic_faces
from ferablate.engine import TrialResult, run_trial
from ferablate.models import create_model
from ferablate.viz import (
    COLUMN_WIDTH,
    DPI,
    FIGURE_NAMES,
    PAGE_WIDTH,
    activations_figure,
    augmentation_figure,
    confusion_figure,
    default_activation_layer,
    feature_maps,
    inputs_from_result,
    loss_curves_figure,
    occlusion_figure,
    parse_figure_names,
    save_png,
    trial_figures,
    weights_figure,
)


def _config(model: dict[str, object]) -> TrialConfig:
    raw = {
        "data": {"synthetic_size": 350},
        "model": model,
        "train": {"folds": 2, "epochs": 2, "batch_size": 32, "lr": 0.003, "device": "cpu"},
    }
    return validate_trial(resolve_preset(raw, "test"), "test")


@pytest.fixture(scope="module")
def trial() -> TrialResult:
    torch.manual_seed(0)
    config = _config({"preset": "baseline-model1", "batch_norm": False, "activation": "elu"})
    return run_trial(config, synthetic_faces(350, 0))


@pytest.fixture(scope="module")
def faces() -> tuple[np.ndarray, np.ndarray]:
    images, labels = synthetic_faces(60, 3)
    pick = [int(np.flatnonzero(labels == c)[0]) for c in range(7)]
    return images[pick], labels[pick]


def _model(trial: TrialResult) -> torch.nn.Module:
    model = create_model(trial.config.model)
    model.load_state_dict(trial.folds[trial.best_fold].state_dict)
    return model.eval()


def _assert_png(fig: Figure, path: Path, width_inches: float) -> None:
    """The PNG is figsize x dpi pixels, the intended paper width, and not blank."""
    save_png(fig, path)
    with Image.open(path) as image:
        size = image.size
        pixels = np.asarray(image.convert("L"), dtype=np.float64)
    expected = tuple(round(v * DPI) for v in fig.get_size_inches())
    assert size == expected
    assert size[0] == round(width_inches * DPI)
    assert 0.3 * DPI < size[1] < 6 * DPI
    assert pixels.std() > 20  # drawn content, not an empty canvas
    assert (pixels < 128).mean() > 0.01


def test_loss_curves(trial: TrialResult, tmp_path: Path) -> None:
    fig = loss_curves_figure([f.history for f in trial.folds], best_fold=trial.best_fold)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("validation (mean" in label for label in labels)
    _assert_png(fig, tmp_path / "loss.png", COLUMN_WIDTH)


def test_weights_sequential_and_inception(trial: TrialResult, tmp_path: Path) -> None:
    _assert_png(weights_figure(_model(trial)), tmp_path / "weights.png", COLUMN_WIDTH)
    inception = create_model(_config({"preset": "report-model2"}).model).eval()
    fig = weights_figure(inception)
    titles = [ax.get_title() for ax in fig.axes]
    assert sum(title.startswith("branch ") for title in titles) == 4  # a, b, c, d side by side
    _assert_png(fig, tmp_path / "weights-inception.png", PAGE_WIDTH)


def test_activations(
    trial: TrialResult, faces: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    model = _model(trial)
    layer = default_activation_layer(model)
    assert isinstance(dict(model.named_modules())[layer], torch.nn.ELU)  # after the first conv
    assert feature_maps(model, faces[0][0], layer).shape == (8, 48, 48)
    _assert_png(activations_figure(model, faces[0][3]), tmp_path / "activations.png", PAGE_WIDTH)
    with pytest.raises(ConfigError, match="no layer 'nope'"):
        activations_figure(model, faces[0][3], layer="nope")


def test_occlusion(
    trial: TrialResult, faces: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    fig = occlusion_figure(_model(trial), *faces)
    assert [ax.get_title().split("\n")[0] for ax in fig.axes[:7]] == [
        "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral",
    ]  # fmt: skip
    _assert_png(fig, tmp_path / "occlusion.png", PAGE_WIDTH)


def test_confusion(trial: TrialResult, tmp_path: Path) -> None:
    labels = np.concatenate([f.val_labels for f in trial.folds])
    predictions = np.concatenate([f.val_predictions for f in trial.folds])
    fig = confusion_figure(labels, predictions)
    rows = fig.axes[0].get_images()[0].get_array()
    assert np.allclose(np.asarray(rows).sum(axis=1), 1.0)  # row-normalised; every class present
    assert "happy" in [t.get_text() for t in fig.axes[0].get_xticklabels()]
    _assert_png(fig, tmp_path / "confusion.png", COLUMN_WIDTH)


def test_augmentation(faces: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    fig = augmentation_figure(*faces, copies=3, seed=1)
    mosaic = np.asarray(fig.axes[0].get_images()[0].get_array())
    tiles = mosaic.reshape(-1)[np.isfinite(mosaic.reshape(-1))]
    assert tiles.size == 4 * 7 * 48 * 48  # original + 3 versions of 7 faces
    assert not np.allclose(mosaic[:48, :48], mosaic[50:98, :48])  # augmented differs from original
    _assert_png(fig, tmp_path / "augmentation.png", PAGE_WIDTH)


def test_trial_figures_draws_the_requested_set(trial: TrialResult) -> None:
    inputs = inputs_from_result(trial)
    assert len(inputs.labels) == 350 and inputs.faces.shape[1:] == (48, 48)
    assert list(trial_figures(inputs)) == list(FIGURE_NAMES)
    assert list(trial_figures(inputs, parse_figure_names("confusion,loss"))) == [
        "loss",
        "confusion",
    ]
    with pytest.raises(ConfigError, match="unknown figure"):
        parse_figure_names("loss,heatmap")
