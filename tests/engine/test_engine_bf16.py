"""Issue 19, section 7: the packed ``dil-l2`` row diverged in bf16 on an AVX-512-bf16 CPU (a
oneDNN fault, see tests/models/test_models_bf16.py); and a loss that is non-finite from the
first step is blamed on that step's first non-finite layer, not on the learning rate."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

from ferablate import DivergedError
from ferablate.config import TrialConfig, validate_trial
from ferablate.engine import _trainer as trainer
from ferablate.engine import run_trial
from ferablate.models._layers import _Fp32WeightGradConv

Faces = tuple[np.ndarray, np.ndarray]
DIL_L2 = [{"channels": 4, "pool": False}, {"channels": 8, "dilation": 2}, {"channels": 8}]


def _config(**train: Any) -> TrialConfig:
    raw = {
        "data": {"source": "synthetic"},
        "model": {"family": "sequential", "convs": DIL_L2, "dense": [8]},
        "train": {"folds": 2, "epochs": 1, "batch_size": 10, "lr": 1e-4, "device": "cpu", **train},
    }
    return validate_trial(raw, "test")


def test_the_dilated_row_trains_packed_in_bf16(make_faces: Callable[[int, int], Faces]) -> None:
    result = run_trial(_config(precision="bf16"), make_faces(60, 0))
    losses = [fold.final.train_loss for fold in result.folds]
    assert result.precision == "bf16" and all(math.isfinite(loss) for loss in losses)
    assert all(loss < 3 * math.log(7) for loss in losses)  # it trains: no blow-up either


def test_a_fault_in_the_first_step_names_the_layer_not_the_learning_rate(
    make_faces: Callable[[int, int], Faces], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _Fp32WeightGradConv.backward

    def broken(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # what oneDNN did
        grad_x, grad_w, *rest = real(ctx, grad)
        return grad_x, torch.full_like(grad_w, math.nan), *rest

    monkeypatch.setattr(_Fp32WeightGradConv, "backward", staticmethod(broken))
    with pytest.raises(
        DivergedError, match="training loss became NaN in fold 0 at epoch 1"
    ) as caught:
        run_trial(_config(precision="bf16"), make_faces(60, 0))
    message = str(caught.value)
    # features: conv, BN, act (l1, no pool), then l2's conv at index 3
    assert "non-finite weight gradient of features.3 (FoldConv2d)" in message
    assert "not the learning rate; try train.precision=fp32" in message
    assert "lower train.lr" not in message


def test_a_blow_up_after_a_finite_first_step_still_points_at_the_learning_rate(
    make_faces: Callable[[int, int], Faces], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = _Fp32WeightGradConv.backward

    def later(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # finite first step
        calls["n"] += 1
        grad_x, grad_w, *rest = real(ctx, grad)
        return grad_x, grad_w if calls["n"] == 1 else grad_w * math.inf, *rest

    def build_group(*args: Any) -> Any:  # a fresh model's first step is finite again
        calls["n"] = 0
        return real_build(*args)

    real_build = trainer._build_group
    monkeypatch.setattr(_Fp32WeightGradConv, "backward", staticmethod(later))
    monkeypatch.setattr(trainer, "_build_group", build_group)
    with pytest.raises(DivergedError) as caught:
        run_trial(_config(precision="bf16"), make_faces(60, 0))
    message = str(caught.value)
    assert message.endswith(
        "(lower train.lr, check model.dropout; in bf16 it may also be a numerical fault: "
        "try train.precision=fp32)"
    ), message
