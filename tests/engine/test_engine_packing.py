"""Fold packing in the engine: folds stay independent, and packed == one-by-one in distribution."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from ferablate import ConfigError
from ferablate.config import TrialConfig, resolve_preset, validate_trial
from ferablate.engine import (
    FoldPlan,
    TrialResult,
    autocast_context,
    plan_folds,
    run_trial,
    select_precision,
    train_plan,
)
from ferablate.models import create_model


def _config(**train: Any) -> TrialConfig:
    raw = {
        "data": {"source": "synthetic", "balance": "none"},
        "model": {"preset": "baseline-model1", "dropout": 0.1},
        "train": {"folds": 3, "epochs": 4, "batch_size": 16, "lr": 1e-3, "device": "cpu", **train},
    }
    return validate_trial(resolve_preset(raw, "test"), "test")


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    """One thread: oneDNN's reductions then run in one fixed order (and tests share 2 cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def faces() -> tuple[np.ndarray, np.ndarray]:
    """700 noisy faces of 7 class templates: learnable in a few seconds, but not trivially."""
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.arange(700) % 7)
    rows, cols = np.mgrid[0:48, 0:48]
    templates = np.stack(
        [128 + 60 * np.sin(cols / (3 + c) + c) * np.cos(rows / (4 + c)) for c in range(7)]
    )
    images = templates[labels] + rng.normal(0.0, 60.0, (len(labels), 48, 48))
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64)


def _plan(faces: tuple[np.ndarray, np.ndarray], config: TrialConfig) -> FoldPlan:
    images, labels = faces
    return plan_folds(images, labels, config.train.folds, config.data.balance, config.train.seed)


def test_one_folds_weights_never_depend_on_another_folds_data(
    faces: tuple[np.ndarray, np.ndarray],
) -> None:
    config = _config(epochs=1, augment=True, precision="auto")
    plan = _plan(faces, config)
    rng = np.random.default_rng(1)
    other = list(plan.train_indices)
    # Fold 1 trains on other faces (same count, so the step count is unchanged).
    other[1] = rng.choice(
        np.setdiff1d(np.arange(len(plan.labels)), plan.val_indices[1]), len(other[1])
    )
    changed = FoldPlan(plan.images, plan.labels, tuple(other), plan.val_indices)
    first, second = train_plan(config, plan), train_plan(config, changed)
    for fold in (0, 2):
        for key, tensor in first.folds[fold].state_dict.items():
            assert torch.equal(tensor, second.folds[fold].state_dict[key]), f"fold {fold}: {key}"
        assert first.folds[fold].history == second.folds[fold].history
    weight = "features.0.weight"
    assert not torch.equal(first.folds[1].state_dict[weight], second.folds[1].state_dict[weight])


def _summary_and_splits(config: TrialConfig, faces: tuple[np.ndarray, np.ndarray]) -> TrialResult:
    return run_trial(config, faces)


def test_packed_and_one_by_one_training_agree(faces: tuple[np.ndarray, np.ndarray]) -> None:
    packed = _summary_and_splits(_config(pack_folds=True), faces)
    single = _summary_and_splits(_config(pack_folds=False), faces)
    for a, b in zip(packed.folds, single.folds, strict=True):
        assert np.array_equal(a.val_indices, b.val_indices)  # identical fold splits
        assert a.train_size == b.train_size
    accuracy_packed = packed.summary()["val_accuracy_mean"]
    accuracy_single = single.summary()["val_accuracy_mean"]
    assert accuracy_packed > 0.6  # both learn (chance is 1/7) ...
    assert abs(accuracy_packed - accuracy_single) < 0.05  # ... and agree within noise


def test_packed_equals_one_by_one_without_randomness(faces: tuple[np.ndarray, np.ndarray]) -> None:
    # No augmentation, no dropout, fp32: both see the same init and batches, so they differ
    # only by floating-point summation order.
    config = _config(epochs=1, augment=False, precision="fp32")
    config = config.model_copy(update={"model": config.model.model_copy(update={"dropout": 0.0})})
    packed = _summary_and_splits(config, faces)
    single = _summary_and_splits(
        config.model_copy(update={"train": config.train.model_copy(update={"pack_folds": False})}),
        faces,
    )
    for a, b in zip(packed.folds, single.folds, strict=True):
        assert np.mean(a.val_predictions == b.val_predictions) > 0.95
        assert a.final.val_loss == pytest.approx(b.final.val_loss, rel=0.02)
        assert a.final.train_loss == pytest.approx(b.final.train_loss, rel=0.02)
        # (No weight-by-weight check: a conv bias before BatchNorm gets a ~0 gradient whose
        # rounding noise Adam scales up to full-size steps, in either layout.)


def test_bf16_and_fp32_reach_the_same_accuracy(faces: tuple[np.ndarray, np.ndarray]) -> None:
    low = _summary_and_splits(_config(precision="bf16"), faces).summary()["val_accuracy_mean"]
    full = _summary_and_splits(_config(precision="fp32"), faces).summary()["val_accuracy_mean"]
    assert full > 0.6
    assert (
        abs(low - full) < 0.05
    )  # 3 small folds: within noise; the README gives the 1.5-point benchmark figure


# -- precision selection ---------------------------------------------------------------------


def test_precision_auto_on_cuda_follows_bf16_support(monkeypatch: pytest.MonkeyPatch) -> None:
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert select_precision("auto", cuda) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert select_precision("auto", cuda) == "fp32"
    assert select_precision("fp32", cuda) == "fp32"
    with pytest.raises(ConfigError, match=r"train\.precision"):
        select_precision("fp16", cuda)


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_autocast_context_sets_the_compute_dtype(precision: str) -> None:
    model = create_model("baseline-model1", folds=2).to(memory_format=torch.channels_last)
    x = torch.rand(3, 2, 48, 48).contiguous(memory_format=torch.channels_last)
    with autocast_context(torch.device("cpu"), precision):  # type: ignore[arg-type]
        out = model(x)
    assert out.dtype == (torch.bfloat16 if precision == "bf16" else torch.float32)
    assert next(model.parameters()).dtype == torch.float32  # master weights stay fp32
