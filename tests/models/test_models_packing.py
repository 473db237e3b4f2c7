"""A folds=k model is exactly k independent plain models (outputs, gradients, BatchNorm)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ferablate.config import (
    ConvLayerConfig,
    InceptionBlockConfig,
    InceptionConfig,
    SequentialConfig,
)
from ferablate.models import (
    ELU,
    FoldConv2d,
    FoldLinear,
    create_model,
    fold_cat,
    list_presets,
    pack_fold_states,
    unpack_fold_state,
)

K = 3

SPECIAL_CONFIGS: dict[str, SequentialConfig | InceptionConfig] = {
    "seq-groups2-dilation2-nobn": SequentialConfig(
        convs=(
            ConvLayerConfig(channels=4, dilation=2),
            ConvLayerConfig(channels=8, groups=2, dilation=2),
            ConvLayerConfig(channels=8, kernel=5, groups=4, pool=False),
        ),
        dense=(16, 8),
        batch_norm=False,
        activation="elu",
        dropout=0.2,
        dense_dropout=True,
    ),
    "inc-shortcut-nobn": InceptionConfig(
        stem_channels=4,
        stem_kernel=5,
        blocks=(
            # 4 -> 4: identity shortcut; 4 -> 6: 1x1 projection
            InceptionBlockConfig(branches=(2, 3, 3, 2), out=4, inner_kernels=(3, 3), shortcut=True),
            InceptionBlockConfig(
                branches=(2, 4, 4, 2), out=6, pool=True, dropout=True, shortcut=True
            ),
        ),
        head_channels=4,
        dense=(8,),
        batch_norm=False,
        dropout=0.1,
    ),
    "inc-shortcut-bn-nohead": InceptionConfig(
        stem_channels=4,
        blocks=(
            InceptionBlockConfig(branches=(2, 3, 3, 2), out=6, pool=True, shortcut=True),
            InceptionBlockConfig(branches=(2, 3, 3, 2), out=6, pool=True, shortcut=True),
        ),
        head_channels=0,
        dense=(8,),
    ),
}
CONFIGS = [*list_presets(), *SPECIAL_CONFIGS]
SMALL = list(SPECIAL_CONFIGS)


def _config(name: str) -> SequentialConfig | InceptionConfig | str:
    return SPECIAL_CONFIGS.get(name, name)


def _plain_models(name: str, **overrides: Any) -> list[nn.Module]:
    """K plain models with different weights and non-trivial BatchNorm state."""
    models = []
    for fold in range(K):
        torch.manual_seed(100 + fold)
        model = create_model(_config(name), **overrides)
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                assert module.running_mean is not None and module.running_var is not None
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                with torch.no_grad():
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.uniform_(-0.2, 0.2)
        models.append(model)
    return models


def _packed_from(plain: list[nn.Module], name: str, **overrides: Any) -> nn.Module:
    packed = create_model(_config(name), folds=K, **overrides)
    packed.load_state_dict(pack_fold_states([model.state_dict() for model in plain]), strict=True)
    return packed


def _per_fold(plain: list[nn.Module], x: Tensor) -> Tensor:  # (B, K, 48, 48) -> (B, K, 7)
    return torch.stack([model(x[:, f : f + 1]) for f, model in enumerate(plain)], dim=1)


@pytest.mark.parametrize("name", CONFIGS)
def test_packed_model_equals_k_plain_models_in_eval(name: str) -> None:
    plain = _plain_models(name)
    packed = _packed_from(plain, name)
    for model in [*plain, packed]:
        model.eval()
    x = torch.randn(4, K, 48, 48)
    with torch.no_grad():
        expected, actual = _per_fold(plain, x), packed(x)
    assert actual.shape == (4, K, 7)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["baseline-model1", "inc-shortcut-bn-nohead"])
def test_packed_model_equals_k_plain_models_in_train_mode(name: str) -> None:
    # dropout 0 so the two runs draw no random masks; BatchNorm uses batch statistics.
    plain = _plain_models(name, dropout=0.0)
    packed = _packed_from(plain, name, dropout=0.0)
    x = torch.randn(4, K, 48, 48)
    torch.testing.assert_close(packed(x), _per_fold(plain, x), atol=1e-5, rtol=1e-5)
    packed_state = packed.state_dict()
    for fold, model in enumerate(plain):
        for key, tensor in unpack_fold_state(packed_state, fold, K).items():
            torch.testing.assert_close(tensor, model.state_dict()[key], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", CONFIGS)
def test_unpack_of_pack_is_exact(name: str) -> None:
    states = [model.state_dict() for model in _plain_models(name)]
    packed = pack_fold_states(states)
    for fold, state in enumerate(states):
        unpacked = unpack_fold_state(packed, fold, K)
        assert list(unpacked) == list(state)
        for key in state:
            assert unpacked[key].dtype == state[key].dtype
            assert torch.equal(unpacked[key], state[key]), key
    repacked = pack_fold_states([unpack_fold_state(packed, f, K) for f in range(K)])
    assert all(torch.equal(repacked[key], packed[key]) for key in packed)


def test_unpacked_state_does_not_alias_the_packed_one() -> None:
    packed = create_model("baseline-model1", folds=K).state_dict()
    unpacked = unpack_fold_state(packed, 1, K)
    unpacked["features.0.weight"].zero_()
    assert packed["features.0.weight"].abs().sum() > 0


def test_pack_rejects_mismatched_states() -> None:
    small = create_model("baseline-model1").state_dict()
    large = create_model("report-model1").state_dict()
    with pytest.raises(ValueError, match="fold 1"):
        pack_fold_states([small, large])


@pytest.mark.parametrize("name", CONFIGS)
def test_gradients_of_one_fold_never_reach_the_others(name: str) -> None:
    torch.manual_seed(0)
    packed = create_model(_config(name), folds=K).train()
    packed(torch.randn(2, K, 48, 48))[:, 0].square().sum().backward()
    fold0_total = 0.0
    for key, parameter in packed.named_parameters():
        assert parameter.grad is not None
        chunks = parameter.grad.chunk(K, dim=0)
        fold0_total += chunks[0].abs().sum().item()
        for fold in range(1, K):
            assert torch.count_nonzero(chunks[fold]) == 0, f"{key}: fold {fold}"
    assert fold0_total > 0


@pytest.mark.parametrize("name", ["report-model1", "report-model2", "inc-shortcut-bn-nohead"])
def test_batch_norm_statistics_of_a_fold_depend_only_on_its_channel(name: str) -> None:
    torch.manual_seed(0)
    model_a = create_model(_config(name), folds=K).train()
    model_b = copy.deepcopy(model_a)
    x = torch.randn(4, K, 48, 48)
    x_other = x.clone()
    x_other[:, 1:] = torch.randn(4, K - 1, 48, 48)  # change every fold but fold 0
    torch.manual_seed(1)
    out_a = model_a(x)
    torch.manual_seed(1)  # same dropout masks
    out_b = model_b(x_other)
    torch.testing.assert_close(out_a[:, 0], out_b[:, 0], atol=1e-6, rtol=1e-6)
    norms_a = [m for m in model_a.modules() if isinstance(m, nn.BatchNorm2d)]
    norms_b = [m for m in model_b.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms_a
    for norm_a, norm_b in zip(norms_a, norms_b, strict=True):
        for stat_a, stat_b in [
            (norm_a.running_mean, norm_b.running_mean),
            (norm_a.running_var, norm_b.running_var),
        ]:
            assert stat_a is not None and stat_b is not None
            fold0_a, fold1_a, _ = stat_a.chunk(K)
            fold0_b, fold1_b, _ = stat_b.chunk(K)
            torch.testing.assert_close(fold0_a, fold0_b, atol=1e-6, rtol=1e-6)
            assert not torch.allclose(fold1_a, fold1_b)


@pytest.mark.parametrize("name", ["report-model2", *SMALL])
def test_channels_last_gives_the_same_outputs_and_trains(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(_config(name), folds=K).eval()
    x = torch.randn(2, K, 48, 48)
    with torch.no_grad():
        expected = model(x)
    model = model.to(memory_format=torch.channels_last)
    x_last = x.to(memory_format=torch.channels_last)
    with torch.no_grad():
        torch.testing.assert_close(model(x_last), expected, atol=1e-5, rtol=1e-5)
    model.train()
    model(x_last).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", ["report-model1", *SMALL])  # SMALL covers inception
def test_bf16_autocast_on_cpu(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(_config(name), folds=K).eval()
    x = torch.randn(2, K, 48, 48)
    with torch.no_grad():
        expected = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x.to(memory_format=torch.channels_last))
    assert low.shape == expected.shape
    torch.testing.assert_close(low.float(), expected, atol=0.05, rtol=0.05)
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(x).float().square().mean()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


# --- primitives -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_elu_matches_torch_forward_and_backward(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    x = (torch.randn(4, 6, 7, 7) * 4).to(dtype).to(memory_format=torch.channels_last)
    x[0, 0, 0, :3] = torch.tensor([0.0, -1e-8, 1e-8])
    mine, reference = x.clone().requires_grad_(), x.clone().requires_grad_()
    y = ELU()(mine)
    assert y.dtype == dtype
    assert y.is_contiguous(memory_format=torch.channels_last)
    tol = 1e-6 if dtype == torch.float32 else 1e-2
    torch.testing.assert_close(y, F.elu(reference), atol=tol, rtol=tol)
    grad = torch.randn_like(y)
    y.backward(grad)
    F.elu(reference).backward(grad)
    assert mine.grad is not None and reference.grad is not None
    torch.testing.assert_close(mine.grad, reference.grad, atol=tol, rtol=tol)


def test_fold_linear_is_k_independent_linears() -> None:
    torch.manual_seed(0)
    layer = FoldLinear(5, 4, folds=K)
    x = torch.randn(6, K, 5)
    weights, biases = layer.weight.chunk(K), layer.bias.chunk(K)
    expected = torch.stack([F.linear(x[:, f], weights[f], biases[f]) for f in range(K)], dim=1)
    torch.testing.assert_close(layer(x), expected)


def test_fold_linear_gradients_are_those_of_k_linears() -> None:
    # CPU fp32 takes the row-oriented matmuls (_FoldLinearRows); their gradients must be
    # the per-fold nn.Linear ones, the weight's in the stored (k*out, in) layout.
    torch.manual_seed(0)
    layer = FoldLinear(48, 16, folds=K)
    x = torch.randn(6, K, 48, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    weight = layer.weight.detach().clone().requires_grad_()
    bias = layer.bias.detach().clone().requires_grad_()
    out = layer(x)
    expected = torch.stack(
        [F.linear(x_ref[:, f], weight.chunk(K)[f], bias.chunk(K)[f]) for f in range(K)], dim=1
    )
    grad = torch.randn_like(out)
    out.backward(grad)
    expected.backward(grad)
    torch.testing.assert_close(out, expected)
    assert layer.weight.grad is not None and layer.weight.grad.is_contiguous()
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close(layer.weight.grad, weight.grad)
    torch.testing.assert_close(layer.bias.grad, bias.grad)


def test_fold_linear_initialises_each_fold_like_nn_linear() -> None:
    torch.manual_seed(0)
    layer = FoldLinear(400, 300, folds=4)
    bound = 1 / 400**0.5  # kaiming_uniform(a=sqrt(5)) and the bias both use 1/sqrt(fan_in)
    for weight, bias in zip(layer.weight.chunk(4), layer.bias.chunk(4), strict=True):
        assert weight.abs().max() <= bound
        assert weight.abs().max() > 0.99 * bound
        assert weight.std().item() == pytest.approx(bound / 3**0.5, rel=0.02)
        assert bias.abs().max() <= bound
        assert bias.abs().max() > 0.9 * bound


@pytest.mark.parametrize("channels_last", [False, True])
def test_fold_cat_concatenates_per_fold(channels_last: bool) -> None:
    sizes = [2, 3, 1]
    tensors = [torch.randn(2, K * c, 5, 5) for c in sizes]
    if channels_last:
        tensors = [t.to(memory_format=torch.channels_last) for t in tensors]
    expected = torch.cat(
        [
            t.unflatten(1, (K, c))[:, f]
            for f in range(K)
            for t, c in zip(tensors, sizes, strict=True)
        ],
        dim=1,
    )
    merged = fold_cat(tensors, K)
    assert torch.equal(merged, expected)
    if channels_last:
        assert merged.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("activation", ["elu", "relu"])
def test_packed_model_pools_before_activating_with_the_same_gradients(activation: str) -> None:
    # The plain model keeps the report's order (conv, BN, act, pool); the packed one pools
    # first, which max-pooling's commuting with a non-decreasing activation makes exact.
    config = SequentialConfig(
        convs=(ConvLayerConfig(channels=4), ConvLayerConfig(channels=8)),
        dense=(16,),
        activation=activation,
    )
    plain = [create_model(config) for _ in range(K)]
    packed = create_model(config, folds=K)
    packed.load_state_dict(pack_fold_states([model.state_dict() for model in plain]))
    kinds = [type(layer).__name__ for layer in plain[0].features]
    packed_kinds = [type(layer).__name__ for layer in packed.features]
    assert kinds[2:4] == [type(plain[0].features[2]).__name__, "MaxPool2d"]
    assert packed_kinds[2:4] == ["MaxPool2d", kinds[2]]
    x = torch.randn(4, K, 48, 48)
    _per_fold(plain, x).square().sum().backward()
    packed(x).square().sum().backward()
    for fold, model in enumerate(plain):
        grads = {name: p.grad for name, p in model.named_parameters()}
        packed_grads = {name: p.grad for name, p in packed.named_parameters()}
        for name, grad in unpack_fold_state(packed_grads, fold, K).items():
            torch.testing.assert_close(grad, grads[name], atol=1e-5, rtol=1e-4)


# -- FoldConv2d: the GEMM weight gradient of small feature maps (fp32 on a CPU) ---------------


def _fold_conv(folds: int, channels: int) -> tuple[FoldConv2d, nn.Conv2d]:
    torch.manual_seed(0)
    packed = FoldConv2d(folds * channels, folds * channels, 3, padding=1, groups=folds)
    reference = nn.Conv2d(folds * channels, folds * channels, 3, padding=1, groups=folds)
    reference.load_state_dict(packed.state_dict())
    return (
        packed.to(memory_format=torch.channels_last),
        reference.to(memory_format=torch.channels_last),
    )


def _faces(folds: int, channels: int, size: int) -> Tensor:
    x = torch.randn(4, folds * channels, size, size)  # (B, k*C, H, W)
    return x.contiguous(memory_format=torch.channels_last).requires_grad_()


def test_fold_conv_gemm_weight_gradient_matches_the_convolution() -> None:
    packed, reference = _fold_conv(folds=2, channels=64)
    x = _faces(2, 64, 6)
    x_ref = x.detach().clone().requires_grad_()
    assert packed._gemm_weight_grad(x)  # this shape takes the GEMM path
    out, out_ref = packed(x), reference(x_ref)
    grad = torch.randn_like(out)
    out.backward(grad)
    out_ref.backward(grad)
    assert torch.equal(out, out_ref)  # the forward is aten's own
    assert torch.equal(x.grad, x_ref.grad)  # and so is the input gradient
    assert packed.weight.grad.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(packed.weight.grad, reference.weight.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(packed.bias.grad, reference.bias.grad, rtol=1e-4, atol=1e-4)


def test_fold_conv_gemm_weight_gradient_keeps_folds_independent() -> None:
    packed, _ = _fold_conv(folds=3, channels=64)
    x, grad = _faces(3, 64, 6), torch.randn(4, 3 * 64, 6, 6)

    def fold0_weight_grad(x: Tensor, grad: Tensor) -> Tensor:
        packed.zero_grad()
        packed(x).backward(grad.contiguous(memory_format=torch.channels_last))
        return packed.weight.grad[:64].clone()

    first = fold0_weight_grad(x, grad)
    other_x, other_grad = x.detach().clone(), grad.clone()
    other_x[:, 64:] = torch.randn_like(other_x[:, 64:])  # folds 1 and 2 see other data
    other_grad[:, 64:] *= -3.0
    assert torch.equal(first, fold0_weight_grad(other_x.requires_grad_(), other_grad))


@pytest.mark.parametrize(
    ("case", "channels", "size"),
    [("large map", 64, 24), ("few channels", 32, 12), ("no grad", 64, 6), ("bf16", 64, 6)],
)
def test_fold_conv_keeps_onednn_where_it_was_measured_faster(
    case: str, channels: int, size: int
) -> None:
    packed, _ = _fold_conv(folds=2, channels=channels)
    x = _faces(2, channels, size)
    if case == "no grad":
        with torch.no_grad():
            assert not packed._gemm_weight_grad(x)
    elif case == "bf16":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert not packed._gemm_weight_grad(x)
    else:
        assert not packed._gemm_weight_grad(x)


def test_packed_networks_use_fold_convs_and_the_plain_network_plain_ones() -> None:
    plain = create_model("report-model1")
    packed = create_model("report-model1", folds=2)
    assert {type(m) for m in plain.modules() if isinstance(m, nn.Conv2d)} == {nn.Conv2d}
    assert {type(m) for m in packed.modules() if isinstance(m, nn.Conv2d)} == {FoldConv2d}
