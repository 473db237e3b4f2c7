"""Fold-packed building blocks shared by every model family.

A network built with ``folds=k`` is k independent copies of one architecture in a single
module. Every tensor is *fold-major*: fold f owns channels ``[f*C, (f+1)*C)`` of a feature
map and rows ``[f*out, (f+1)*out)`` of every weight, so

- a conv becomes ``Conv2d(k*cin, k*cout, groups=k*groups)`` (groups never cross folds),
- ``BatchNorm2d(k*C)`` keeps per-fold statistics because statistics are per channel,
- activations, dropout and max-pooling are elementwise or per channel (already independent),
- dense layers become :class:`FoldLinear`, a batched matmul over folds.

With ``folds=1`` the helpers return the ordinary torch layers, so the plain network's layer
list (torchinfo) matches the report's appendix row for row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ferablate._errors import ConfigError
from ferablate.config import NUM_CLASSES, InceptionConfig, SequentialConfig

__all__ = [
    "ELU",
    "INPUT_SIZE",
    "Conv2d",
    "Dropout",
    "FerNet",
    "FoldConv2d",
    "FoldFlatten",
    "FoldLinear",
    "assemble_net",
    "conv2d",
    "conv_block",
    "fold_cat",
    "make_activation",
    "pool_and_dropout",
    "pool_before_activation",
    "pooled_size",
]

INPUT_SIZE = 48  # FER2013 faces are 48x48 grayscale


class FoldLinear(nn.Module):
    """k independent ``nn.Linear(in, out)``: (B, k, in) -> (B, k, out).

    The weight is stored fold-major as (k*out, in) and the bias as (k*out,), so fold f's
    slice is exactly a plain ``nn.Linear`` state (packing = concatenation along dim 0).
    """

    def __init__(self, in_features: int, out_features: int, folds: int) -> None:
        super().__init__()
        self.in_features, self.out_features, self.folds = in_features, out_features, folds
        self.weight = nn.Parameter(torch.empty(folds * out_features, in_features))
        self.bias = nn.Parameter(torch.empty(folds * out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Same distribution as nn.Linear per fold: the fan-in of the (k*out, in) weight is `in`.
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:  # (B, k, in) -> (B, k, out)
        weight = self.weight.view(self.folds, self.out_features, self.in_features)
        if (
            x.device.type == "cpu"
            and x.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu")
        ):
            bias_rows = self.bias.view(self.folds, 1, self.out_features)
            return _FoldLinearRows.apply(x.transpose(0, 1), weight, bias_rows).transpose(0, 1)
        bias = self.bias.view(self.folds, self.out_features, 1)
        # Elsewhere (CUDA, bf16 autocast), as measured before the CPU-fp32 path:
        # (k, out, B) = bias + (k, out, in) @ (k, in, B): one batched matmul, no loop over folds.
        # The weight goes in untransposed so its gradient comes out in the stored layout;
        # a transposed weight cost a strided copy of every dense gradient per step. The
        # (B, k, out) result is a view of (k, out, B) memory, which the next FoldLinear's
        # permute reads back as contiguous.
        return torch.baddbmm(bias, weight, x.permute(1, 2, 0)).permute(2, 0, 1)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, folds={self.folds}"
        )


class _FoldLinearRows(torch.autograd.Function):
    """k linears on (k, B, in) rows, each matmul oriented as MKL runs it fastest on a CPU in
    fp32: forward and input gradient with the B face rows as the short side (measured on an AMD
    EPYC, 2304 -> 128 at B = 10, k = 5: 0.55 vs 1.28 ms forward and 0.59 vs 3.6 ms input
    gradient against ``FoldLinear``'s other orientation); the weight gradient comes out in the
    stored (k, out, in) layout, so it needs no transposed copy either.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight)
        # x (k, B, in), weight (k, out, in), bias (k, 1, out) -> (k, B, out)
        return torch.baddbmm(bias, x, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        grad_x = torch.bmm(grad, weight) if ctx.needs_input_grad[0] else None  # (k, B, in)
        grad_w = torch.bmm(grad.transpose(1, 2), x) if ctx.needs_input_grad[1] else None
        grad_b = grad.sum(dim=1, keepdim=True) if ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b


class FoldFlatten(nn.Module):
    """(B, k*C, H, W) -> (B, k, C*H*W): each fold's features in ``nn.Flatten`` order."""

    def __init__(self, folds: int) -> None:
        super().__init__()
        self.folds = folds

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], self.folds, -1)

    def extra_repr(self) -> str:
        return f"folds={self.folds}"


def fold_cat(tensors: Sequence[Tensor], folds: int) -> Tensor:
    """Concatenate (B, k*C_i, H, W) maps along channels *per fold* -> (B, k*sum(C_i), H, W)."""
    if folds == 1:
        return torch.cat(list(tensors), dim=1)
    first = tensors[0]
    if not first.is_contiguous() and first.is_contiguous(memory_format=torch.channels_last):
        # Channels innermost: (B, H, W, k, C_i) are views; the cat is the only copy and the
        # result comes back channels_last.
        parts = [t.permute(0, 2, 3, 1).unflatten(-1, (folds, -1)) for t in tensors]
        return torch.cat(parts, dim=-1).flatten(-2).permute(0, 3, 1, 2)
    parts = [t.unflatten(1, (folds, -1)) for t in tensors]  # (B, k, C_i, H, W) views
    return torch.cat(parts, dim=2).flatten(1, 2)


class FerNet(nn.Module):
    """``features`` (convs) then ``classifier`` (flatten + dense).

    Input (B, k, 48, 48), channel f = fold f's face. Output (B, 7) when ``folds == 1`` (the
    ordinary network) and (B, k, 7) when ``folds > 1``.
    """

    def __init__(self, features: nn.Sequential, classifier: nn.Sequential, folds: int) -> None:
        super().__init__()
        self.folds = folds
        # Packed (training) networks pool before activating, which is exact and cheaper; the
        # plain network keeps the report's layer order, so its layer table is the appendix's.
        self.features = nn.Sequential(*pool_before_activation(features)) if folds > 1 else features
        self.classifier = classifier

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))

    def extra_repr(self) -> str:
        return f"folds={self.folds}"


class _ExpELU(torch.autograd.Function):
    """ELU(alpha=1) from ``exp`` instead of ``expm1``; the backward is aten's own."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        # relu(x) + exp(min(x, 0)) - 1: exact for x > 0 (exp(0) - 1 == 0), within 1e-7 below.
        y = x.clamp(max=0).exp_().sub_(1).add_(x.clamp(min=0))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.elu_backward(grad, 1.0, 1.0, 1.0, True, y)


class ELU(nn.ELU):
    """``nn.ELU`` (alpha 1) computed from ``exp`` instead of ``expm1``.

    Where aten's ``expm1`` is not vectorised (measured on an AMD EPYC: 3x (fp32) to 7x
    (bf16) faster forward; ELU was ~20% of a report-model1 step there) this pays; on an
    Intel Xeon with AMX both run at the same speed. Same class name, so torchinfo lists "ELU".
    """

    def __init__(self) -> None:
        super().__init__(alpha=1.0)

    def forward(self, input: Tensor) -> Tensor:
        return _ExpELU.apply(input)


class Dropout(nn.Dropout):
    """``nn.Dropout`` whose CPU mask costs a sixth of ``bernoulli_``'s.

    aten draws one Mersenne-Twister number per element for ``bernoulli_``; here one 64-bit
    draw (``random_``, the same seeded default generator) gives four 16-bit uniforms, each
    compared with ``p`` (quantised to 1/65536). Dropout was ~10% of a report-model1 step on
    CPU. Other devices (CUDA's Philox is fast) use ``F.dropout``. Same class name for torchinfo.
    """

    def forward(self, input: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return input
        if input.device.type != "cpu" or self.p >= 1.0 or self.inplace:
            return F.dropout(input, self.p, True, self.inplace)
        dense = input.is_contiguous() or input.is_contiguous(memory_format=torch.channels_last)
        if not dense:
            input = input.contiguous()
        n = input.numel()
        words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2**63), None)  # 64 bits
        uniform16 = words.view(torch.int16)[:n].as_strided(input.shape, input.stride())
        threshold = round(self.p * 65536) - 32768  # P(uniform16 >= threshold) = 1 - p
        # A bool mask cast to the input's dtype: `where` on the strided int16 view cost 4x more.
        scale = (uniform16 >= threshold).to(input.dtype).mul_(1.0 / (1.0 - self.p))
        return input * scale


def make_activation(name: str) -> nn.Module:
    """A fresh activation module (one instance per use, so torchinfo lists each)."""
    if name == "relu":
        # In place is safe: every activation follows a conv, BatchNorm, add or linear, none
        # of which needs its output for the backward pass.
        return nn.ReLU(inplace=True)
    if name == "elu":
        return ELU()
    raise ConfigError(f"unknown activation '{name}' (known: relu, elu)")


def pool_before_activation(layers: Iterable[nn.Module]) -> list[nn.Module]:
    """``layers`` with every (activation, max-pool) pair swapped to (max-pool, activation).

    ReLU and ELU never decrease, so the max of activations is the activation of the max: the
    swap changes no value or gradient, and the activation then touches a quarter of the
    values (its forward and backward were ~15% of a packed model-1 step on a CPU). Neither
    module has parameters, so state-dict keys stay the same.
    """
    swapped = list(layers)
    for i in range(len(swapped) - 1):
        if isinstance(swapped[i], (nn.ReLU, nn.ELU)) and isinstance(swapped[i + 1], nn.MaxPool2d):
            swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
    return swapped


# Which packed convs take the GEMM weight gradient below (fp32 on a CPU): 3x3, dilation 1, at
# most 12x12 pixels, at least 64 input channels per fold. Chosen per layer shape by measurement
# (`python benchmarks/profile_step.py --wgrad`, AMD EPYC without AVX-512, 2 threads, 5 folds,
# batch 10): oneDNN's direct backward-weights kernel vs im2col + bmm took 17.1 vs 9.9 ms
# (128->256 at 6x6), 11.6 vs 11.5 ms (64->128 at 12x12), 44.1 vs 37.0 ms (model 2's 128->128
# at 12x12); oneDNN won at 24x24 and 48x48 (4.8 vs 8.6, 8.6 vs 20.4 ms), with 32 channels (3.0
# vs 3.8 ms) and for 5x5 kernels (138 vs 212 ms).
GEMM_WGRAD_MAX_PIXELS = 144
GEMM_WGRAD_MIN_CHANNELS = 64


class _GemmWeightGradConv(torch.autograd.Function):
    """A stride-1 'same' conv whose weight gradient is im2col + one batched matmul over groups.

    Forward and input gradient are aten's (oneDNN); only the weight gradient differs. Each
    group's (fold's) gradient is its own matmul, so folds stay independent.
    """

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, dilation: int, groups: int
    ) -> Tensor:
        padding = dilation * (weight.shape[-1] - 1) // 2
        ctx.save_for_backward(x, weight)
        ctx.conv = (padding, dilation, groups, bias is not None)
        return F.conv2d(x, weight, bias, 1, padding, dilation, groups)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        padding, dilation, groups, has_bias = ctx.conv
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad, x, weight, None, [1, 1], [padding, padding], [dilation, dilation],
                False, [0, 0], groups, [True, False, False],
            )[0]  # fmt: skip
        if ctx.needs_input_grad[1]:
            grad_w = _im2col_weight_grad(x, grad, weight.shape, padding, dilation, groups)
        if has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b, None, None


def _im2col_weight_grad(
    x: Tensor, grad: Tensor, shape: torch.Size, padding: int, dilation: int, groups: int
) -> Tensor:
    """dL/dW of a stride-1 conv, returned channels_last like the weights it updates."""
    out_channels, channels, kh, kw = shape  # channels: per group
    batch, _, height, width = grad.shape
    padded = F.pad(x, (padding,) * 4).contiguous(memory_format=torch.channels_last)
    sb, sc, sh, sw = padded.stride()  # sc == 1: channels innermost
    # (B, H, W, kh, kw, G, C) window view, then one copy as (G, B*H*W, kh*kw*C) im2col rows.
    windows = padded.as_strided(
        (batch, height, width, kh, kw, groups, channels),
        (sb, sh, sw, dilation * sh, dilation * sw, channels * sc, sc),
    )
    columns = windows.permute(5, 0, 1, 2, 3, 4, 6).reshape(groups, -1, kh * kw * channels)
    per_group = out_channels // groups
    grad_rows = grad.permute(0, 2, 3, 1).reshape(-1, groups, per_group)  # (B*H*W, G, O)
    grad_w = torch.bmm(grad_rows.permute(1, 2, 0), columns)  # (G, O, kh*kw*C)
    # (G*O, kh, kw, C) memory is the (O, C, kh, kw) weight in channels_last.
    return grad_w.view(out_channels, kh, kw, channels).permute(0, 3, 1, 2)


class _Fp32WeightGradConv(torch.autograd.Function):
    """A bf16 conv whose weight gradient is computed by oneDNN in fp32.

    oneDNN 3.12's bf16 backward-weights kernel (``jit_bf16:avx512_core_bf16``, which it runs on
    an AMD EPYC with AVX-512 bf16 and no AMX) returns NaN or garbage, and once crashed, for a
    *grouped and dilated* channels_last conv (seen with 1, 4, 8 or 24 input channels per group,
    not 16 or 32, on maps of 32x32 and more; docs/performance.md). Its forward and input
    gradient are right, and so are its fp32 weight gradient and its bf16 one for groups=1. So
    forward and input gradient stay bf16 (aten's), and only the weight gradient runs in fp32
    on upcast copies; it is returned in the weight's own dtype (the fp32 master weight under
    autocast, so nothing is rounded to bf16 on the way).
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, conv: Any) -> Tensor:
        stride, padding, dilation, groups = conv
        low = weight.to(torch.bfloat16)
        x = x.to(torch.bfloat16)
        ctx.save_for_backward(x, low)
        ctx.conv, ctx.weight_dtype, ctx.has_bias = conv, weight.dtype, bias is not None
        low_bias = None if bias is None else bias.to(torch.bfloat16)
        return F.conv2d(x, low, low_bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, low = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conv
        grad_x = grad_w = grad_b = None
        args = (list(stride), list(padding), list(dilation), False, [0, 0], groups)
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad, x, low, None, *args, [True, False, False]
            )[0]
        if ctx.needs_input_grad[1]:
            grad_w = torch.ops.aten.convolution_backward(
                grad.float(), x.float(), low.float(), None, *args, [False, True, False]
            )[1].to(ctx.weight_dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.float().sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b, None


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` that, in bf16 on a CPU, trains grouped dilated convs through
    :class:`_Fp32WeightGradConv` (oneDNN's bf16 weight gradient is wrong there). The plain
    network uses it only for such convs; same class name, so torchinfo lists "Conv2d"."""

    def forward(self, input: Tensor) -> Tensor:
        if self._fp32_weight_grad(input):
            conv = (self.stride, self.padding, self.dilation, self.groups)
            with torch.autocast("cpu", enabled=False):
                return _Fp32WeightGradConv.apply(input, self.weight, self.bias, conv)
        return super().forward(input)

    def _fp32_weight_grad(self, input: Tensor) -> bool:
        autocast = torch.is_autocast_enabled("cpu")
        dtype = torch.get_autocast_dtype("cpu") if autocast else input.dtype
        return (
            input.device.type == "cpu"
            and dtype == torch.bfloat16
            and torch.is_grad_enabled()
            and self.weight.requires_grad
            and self.groups > 1
            and self.dilation != (1, 1)
            and self.padding_mode == "zeros"
            and not isinstance(self.padding, str)
        )


class FoldConv2d(Conv2d):
    """``nn.Conv2d`` of a fold-packed network; on a CPU in fp32, the shapes chosen above
    (:data:`GEMM_WGRAD_MAX_PIXELS`) take the GEMM weight gradient of :class:`_GemmWeightGradConv`,
    and in bf16 the dilated ones take :class:`Conv2d`'s fp32 weight gradient (a packed conv is
    always grouped). Same parameters, state-dict keys and values; gradients equal to rounding."""

    def forward(self, input: Tensor) -> Tensor:
        if self._gemm_weight_grad(input):
            return _GemmWeightGradConv.apply(
                input, self.weight, self.bias, self.dilation[0], self.groups
            )
        return super().forward(input)

    def _gemm_weight_grad(self, input: Tensor) -> bool:
        return (
            input.device.type == "cpu"
            and input.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu")
            and torch.is_grad_enabled()
            and self.weight.requires_grad
            and input.shape[-2] * input.shape[-1] <= GEMM_WGRAD_MAX_PIXELS
            and self.in_channels // self.groups >= GEMM_WGRAD_MIN_CHANNELS
            and self.kernel_size == (3, 3)
            and self.dilation == (1, 1)
            and self.stride == (1, 1)
            and self.padding == (1, 1)
            and self.padding_mode == "zeros"
        )


def conv2d(
    in_channels: int,
    out_channels: int,
    kernel: int,
    *,
    folds: int,
    dilation: int = 1,
    groups: int = 1,
) -> nn.Conv2d:
    """k packed 'same'-padded convs (odd kernel): fold f maps its cin channels to its cout."""
    kind: type[nn.Conv2d] = nn.Conv2d  # the plain network's layer table: Conv2d
    if folds > 1:
        kind = FoldConv2d
    elif groups > 1 and dilation > 1:
        kind = Conv2d  # bf16 on a CPU needs its fp32 weight gradient (see the class)
    return kind(
        folds * in_channels,
        folds * out_channels,
        kernel,
        padding=dilation * (kernel - 1) // 2,
        dilation=dilation,
        groups=folds * groups,
    )


def conv_block(conv: nn.Conv2d, *, batch_norm: bool, activation: str) -> list[nn.Module]:
    """``conv`` (from :func:`conv2d`), [BatchNorm], activation."""
    layers: list[nn.Module] = [conv]
    if batch_norm:
        layers.append(nn.BatchNorm2d(conv.out_channels))
    layers.append(make_activation(activation))
    return layers


def pooled_size(
    size: int, where: str, fix: str = "set pool: false here or on an earlier layer"
) -> int:
    """Side length after a 2x2 max-pool; ConfigError naming ``where`` if nothing is left."""
    if size < 2:
        raise ConfigError(
            f"{where}: the feature map is {size}x{size} before this 2x2 max-pool, too small to pool; {fix}"
        )
    return size // 2


def pool_and_dropout(
    pool: bool, dropout: bool, rate: float, size: int, where: str
) -> tuple[list[nn.Module], int]:
    """The optional 2x2 max-pool and dropout that close a block, and the side length after them."""
    tail: list[nn.Module] = []
    if pool:
        size = pooled_size(size, where)
        tail.append(nn.MaxPool2d(2))
    if dropout and rate > 0:
        tail.append(Dropout(rate))
    return tail, size


def assemble_net(
    features: list[nn.Module],
    in_features: int,
    config: SequentialConfig | InceptionConfig,
    folds: int,
) -> FerNet:
    """``features`` then the config's dense head over their ``in_features`` flattened values:
    flatten, (linear, activation, [dropout]) per hidden width, then the 7-way linear."""
    head: list[nn.Module] = [nn.Flatten() if folds == 1 else FoldFlatten(folds)]
    for width in config.dense:
        head += [_linear(in_features, width, folds), make_activation(config.activation)]
        if config.dense_dropout and config.dropout > 0:
            head.append(Dropout(config.dropout))
        in_features = width
    head.append(_linear(in_features, NUM_CLASSES, folds))
    return FerNet(nn.Sequential(*features), nn.Sequential(*head), folds)


def _linear(in_features: int, out_features: int, folds: int) -> nn.Module:
    if folds == 1:
        return nn.Linear(in_features, out_features)
    return FoldLinear(in_features, out_features, folds)
