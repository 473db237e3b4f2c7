"""Fold packing in the engine: folds stay independent, and packed == one-by-one in distribution;
the same for the R x k folds of repeated k-fold."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import torch

from ferablate import ConfigError
from ferablate.config import TrialConfig, resolve_preset, validate_trial
from ferablate.engine import (
    EpochMetrics,
    FoldPlan,
    TrialCallback,
    TrialInfo,
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


def _plan(faces: tuple[np.ndarray, np.ndarray], config: TrialConfig) -> FoldPlan:
    images, labels = faces
    train = config.train
    return plan_folds(images, labels, train.folds, config.data.balance, train.seed, train.repeats)


@pytest.mark.parametrize(("folds", "repeats"), [(3, 1), (2, 2)])
def test_one_folds_weights_never_depend_on_another_folds_data(
    faces: tuple[np.ndarray, np.ndarray], folds: int, repeats: int
) -> None:
    config = _config(epochs=1, augment=True, precision="auto", folds=folds, repeats=repeats)
    plan = _plan(faces, config)
    assert plan.folds == folds * repeats
    rng = np.random.default_rng(1)
    other = list(plan.train_indices)
    # Fold 1 trains on other faces (same count, so the step count is unchanged).
    other[1] = rng.choice(
        np.setdiff1d(np.arange(len(plan.labels)), plan.val_indices[1]), len(other[1])
    )
    changed = dataclasses.replace(plan, train_indices=tuple(other))
    first, second = train_plan(config, plan), train_plan(config, changed)
    for fold in (f for f in range(plan.folds) if f != 1):
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


@pytest.mark.parametrize(("folds", "repeats"), [(3, 1), (2, 2)])
def test_packed_equals_one_by_one_without_randomness(
    faces: tuple[np.ndarray, np.ndarray], folds: int, repeats: int
) -> None:
    # No augmentation, no dropout, fp32: both see the same init and batches, so they differ
    # only by floating-point summation order.
    config = _config(epochs=1, augment=False, precision="fp32", folds=folds, repeats=repeats)
    config = config.model_copy(update={"model": config.model.model_copy(update={"dropout": 0.0})})
    packed = _summary_and_splits(config, faces)
    single = _summary_and_splits(
        config.model_copy(update={"train": config.train.model_copy(update={"pack_folds": False})}),
        faces,
    )
    assert len(packed.folds) == len(single.folds) == folds * repeats
    for a, b in zip(packed.folds, single.folds, strict=True):
        assert np.mean(a.val_predictions == b.val_predictions) > 0.95
        assert a.final.val_loss == pytest.approx(b.final.val_loss, rel=0.02)
        assert a.final.train_loss == pytest.approx(b.final.train_loss, rel=0.02)
        # (No weight-by-weight check: a conv bias before BatchNorm gets a ~0 gradient whose
        # rounding noise Adam scales up to full-size steps, in either layout.)


class _Recorder(TrialCallback):
    def __init__(self) -> None:
        self.info: TrialInfo | None = None
        self.epochs: list[list[int]] = []

    def on_trial_start(self, info: TrialInfo) -> None:
        self.info = info

    def on_epoch_end(self, epoch: int, metrics: Sequence[EpochMetrics]) -> None:
        self.epochs.append([m.fold for m in metrics])


def test_repeat_zero_trains_exactly_the_folds_of_a_trial_without_repeats(
    faces: tuple[np.ndarray, np.ndarray],
) -> None:
    # One by one, no dropout or augmentation (whose random streams the extra folds shift):
    # repeat 0 is the plain trial bit for bit, so results from before repeats stay valid.
    config = _config(epochs=1, augment=False, precision="fp32", folds=2, pack_folds=False)
    config = config.model_copy(update={"model": config.model.model_copy(update={"dropout": 0.0})})
    repeated_config = config.model_copy(
        update={"train": config.train.model_copy(update={"repeats": 2})}
    )
    recorder = _Recorder()
    plain = run_trial(config, faces)
    repeated = run_trial(repeated_config, faces, [recorder])
    assert [f.name for f in plain.folds] == ["fold-0", "fold-1"]
    assert [f.name for f in repeated.folds] == ["r0-f0", "r0-f1", "r1-f0", "r1-f1"]
    assert [f.repeat for f in repeated.folds] == [0, 0, 1, 1]
    assert recorder.info is not None and recorder.info.folds == 4
    assert [s.name for s in recorder.info.fold_specs] == [f.name for f in repeated.folds]
    assert recorder.epochs == [[0, 1, 2, 3]]
    for a, b in zip(plain.folds, repeated.folds[:2], strict=False):
        assert np.array_equal(a.val_indices, b.val_indices)
        assert a.history == b.history
        for key, tensor in a.state_dict.items():
            assert torch.equal(tensor, b.state_dict[key]), key
    # Repeat 1 is another split, with its own seeds.
    assert not np.array_equal(repeated.folds[0].val_indices, repeated.folds[2].val_indices)
    assert repeated.folds[0].history[0].train_loss != repeated.folds[2].history[0].train_loss


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
