"""bf16 autocast on a CPU: a packed (grouped) conv equals K plain convs, dilated or grouped.

On an AMD EPYC with AVX-512 bf16 and no AMX, oneDNN 3.12's bf16 weight gradient of a grouped,
dilated channels_last conv was NaN or garbage, and a packed conv is always grouped (issue 19,
section 7): the packed ``dil-l2`` row diverged while one-by-one training trained.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from ferablate.engine import select_precision
from ferablate.models import pack_fold_states
from ferablate.models._layers import Conv2d, FoldConv2d, conv2d

K = 3
CIN, COUT, SIZE = 8, 16, 48  # the dil-l2 row's l2 (8 -> 16 channels on the 48x48 map)

needs_bf16 = pytest.mark.skipif(
    select_precision("auto", torch.device("cpu")) != "bf16",
    reason="train.precision=auto selects fp32 on this CPU (no AMX or AVX-512 bf16), "
    "so training never runs these convs in bf16 here",
)


def _assert_bf16_close(actual: Tensor, expected: Tensor, what: str) -> None:
    """Within bf16 rounding: 8 mantissa bits on inputs and outputs, relative to the largest value."""
    assert torch.isfinite(actual).all(), f"{what}: not finite"
    error = (actual.float() - expected.float()).abs().max() / expected.float().abs().max()
    assert error < 2e-2, f"{what}: relative error {float(error):.3g}"


def _run(conv: nn.Module, x: Tensor, grad: Tensor, bf16: bool) -> tuple[Tensor, ...]:
    x = x.detach().clone().contiguous(memory_format=torch.channels_last).requires_grad_()
    conv.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = conv(x)
    out.float().backward(grad.contiguous(memory_format=torch.channels_last))
    assert conv.weight.grad is not None and conv.bias.grad is not None and x.grad is not None
    return out.float(), x.grad, conv.weight.grad, conv.bias.grad


@needs_bf16
@pytest.mark.parametrize(
    ("dilation", "groups"), [(2, 1), (3, 1), (2, 2), (1, 2)], ids=["dil2", "dil3", "dil2-g2", "g2"]
)
def test_packed_and_plain_convs_agree_in_bf16(dilation: int, groups: int) -> None:
    torch.manual_seed(0)
    plain = [conv2d(CIN, COUT, 3, folds=1, dilation=dilation, groups=groups) for _ in range(K)]
    packed = conv2d(CIN, COUT, 3, folds=K, dilation=dilation, groups=groups)
    packed.load_state_dict(pack_fold_states([conv.state_dict() for conv in plain]))
    for conv in (*plain, packed):
        conv.to(memory_format=torch.channels_last)
    x = torch.randn(2, K * CIN, SIZE, SIZE)
    grad = torch.randn(2, K * COUT, SIZE, SIZE)
    names = ("output", "input gradient", "weight gradient", "bias gradient")
    packed_bf16 = _run(packed, x, grad, bf16=True)
    for fold, conv in enumerate(plain):
        ins, outs = slice(fold * CIN, (fold + 1) * CIN), slice(fold * COUT, (fold + 1) * COUT)
        x_fold, grad_fold = x[:, ins], grad[:, outs]
        plain_bf16 = _run(conv, x_fold, grad_fold, bf16=True)
        reference = _run(conv, x_fold, grad_fold, bf16=False)  # fp32
        rows = (outs, ins, outs, outs)  # each result's slice of the packed one, along dim 0 or 1
        for name, whole, single, exact, row in zip(
            names, packed_bf16, plain_bf16, reference, rows, strict=True
        ):
            mine = whole[:, row] if name in ("output", "input gradient") else whole[row]
            _assert_bf16_close(mine, single, f"fold {fold} {name}: packed vs plain")
            _assert_bf16_close(mine, exact, f"fold {fold} {name}: packed bf16 vs fp32")
            _assert_bf16_close(single, exact, f"fold {fold} {name}: plain bf16 vs fp32")


def test_only_grouped_dilated_convs_training_in_bf16_take_the_fp32_weight_gradient() -> None:
    x = torch.randn(1, 2 * CIN, 12, 12)
    packed_dilated = conv2d(CIN, COUT, 3, folds=2, dilation=2)
    plain_grouped_dilated = conv2d(CIN, COUT, 3, folds=1, dilation=2, groups=2)
    assert isinstance(packed_dilated, FoldConv2d) and type(plain_grouped_dilated) is Conv2d
    assert type(plain_grouped_dilated).__name__ == "Conv2d"  # the plain layer table's name
    assert type(conv2d(CIN, COUT, 3, folds=1, dilation=2)) is nn.Conv2d  # groups 1: oneDNN's
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert packed_dilated._fp32_weight_grad(x)
        assert plain_grouped_dilated._fp32_weight_grad(x)
        assert not conv2d(CIN, COUT, 3, folds=2)._fp32_weight_grad(x)  # undilated
        with torch.no_grad():
            assert not packed_dilated._fp32_weight_grad(x)
    assert not packed_dilated._fp32_weight_grad(x)  # fp32
    assert packed_dilated._fp32_weight_grad(x.bfloat16())  # a bf16 model without autocast
