"""Every registered family and every preset builds, runs forward/backward and packs k folds."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from ferablate import ConfigError
from ferablate.config import (
    ConvLayerConfig,
    InceptionBlockConfig,
    InceptionConfig,
    SequentialConfig,
)
from ferablate.models import (
    FerNet,
    count_parameters,
    create_model,
    list_models,
    list_presets,
)

# One small config per registered family (a new family must add one here).
SMALL_CONFIGS: dict[str, SequentialConfig | InceptionConfig] = {
    "sequential": SequentialConfig(
        convs=(ConvLayerConfig(channels=4), ConvLayerConfig(channels=6, kernel=5, pool=False)),
        dense=(8,),
        dropout=0.1,
    ),
    "inception": InceptionConfig(
        stem_channels=4,
        blocks=(InceptionBlockConfig(branches=(2, 3, 3, 2), out=6, pool=True, dropout=True),),
        head_channels=4,
        dense=(8,),
        dropout=0.1,
    ),
}


def test_every_registered_family_has_a_small_test_config() -> None:
    assert set(list_models()) == set(SMALL_CONFIGS)


def test_report_presets_are_listed() -> None:
    assert {"report-model1", "report-model2", "baseline-model1"} <= set(list_presets())


def _check_forward_backward(config: SequentialConfig | InceptionConfig | str, folds: int) -> None:
    torch.manual_seed(0)
    model = create_model(config, folds=folds)
    assert isinstance(model, FerNet)
    assert model.folds == folds
    model.train()
    out = model(torch.randn(2, folds, 48, 48))
    assert out.shape == ((2, 7) if folds == 1 else (2, folds, 7))
    out.square().mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
    assert count_parameters(model) == folds * count_parameters(create_model(config))


@pytest.mark.parametrize("folds", [1, 3])
@pytest.mark.parametrize("family", list_models())
def test_family_forward_backward_and_parameter_count(family: str, folds: int) -> None:
    _check_forward_backward(SMALL_CONFIGS[family], folds)


@pytest.mark.parametrize("folds", [1, 3])
@pytest.mark.parametrize("preset", list_presets())
def test_preset_forward_backward_and_parameter_count(preset: str, folds: int) -> None:
    _check_forward_backward(preset, folds)


def test_plain_model_uses_plain_torch_layers() -> None:
    model = create_model("report-model1")
    plain = (nn.Conv2d, nn.BatchNorm2d, nn.ELU, nn.MaxPool2d, nn.Dropout, nn.Flatten, nn.Linear)
    leaves = [module for module in model.modules() if not list(module.children())]
    assert all(isinstance(module, plain) for module in leaves)
    assert {type(module).__name__ for module in leaves} == {kind.__name__ for kind in plain}


# --- parameter counts of ablations, by hand -------------------------------------------------

# baseline-model1: 3x3 convs 1->8->16->32 (+BN), 3 max-pools 48->6, dense 32*6*6 -> 32 -> 7.
BASELINE = sum(
    [
        1 * 8 * 9 + 8,  # conv1 = 80
        2 * 8,  # bn1 (weight, bias) = 16
        8 * 16 * 9 + 16,  # conv2 = 1168
        2 * 16,  # bn2 = 32
        16 * 32 * 9 + 32,  # conv3 = 4640
        2 * 32,  # bn3 = 64
        32 * 6 * 6 * 32 + 32,  # linear 1152 -> 32 = 36896
        32 * 7 + 7,  # linear 32 -> 7 = 231
    ]
)
REPORT_MODEL2 = 1_714_183


@pytest.mark.parametrize(
    ("preset", "overrides", "expected"),
    [
        ("baseline-model1", {}, BASELINE),
        ("baseline-model1", {"convs.1.groups": 2}, BASELINE - 1168 + (16 * (8 // 2) * 9 + 16)),
        ("baseline-model1", {"convs.1.dilation": 2}, BASELINE),  # dilation adds no weights
        ("baseline-model1", {"convs.0.kernel": 5}, BASELINE - 80 + (1 * 8 * 25 + 8)),
        # "no mp" after l1: flatten 32*12*12 = 4608 instead of 1152
        ("baseline-model1", {"convs.0.pool": False}, BASELINE - 36896 + (4608 * 32 + 32)),
        ("baseline-model1", {"batch_norm": False}, BASELINE - 2 * (8 + 16 + 32)),
        ("baseline-model1", {"dense": [32, 16]}, BASELINE - 231 + (32 * 16 + 16) + (16 * 7 + 7)),
        ("report-model1", {"batch_norm": False}, 700_439 - 2 * (8 + 16 + 32 + 64 + 128 + 256)),
        # "3x3 inc" on blocks 2 and 3: the 5x5 inner convs (a -> c) become 3x3
        (
            "report-model2",
            {"blocks.1.inner_kernels": [3, 3], "blocks.2.inner_kernels": [3, 3]},
            REPORT_MODEL2 - 64 * 128 * 16 - 128 * 256 * 16,
        ),
        # "inc + sc" on block 2: 32 -> 64 channels, so a 1x1 projection 32 -> 64
        ("report-model2", {"blocks.1.shortcut": True}, REPORT_MODEL2 + 32 * 64 + 64),
        # no head: flatten 256*6*6 = 9216 into the 32-wide dense layer
        (
            "report-model2",
            {"head_channels": 0},
            REPORT_MODEL2 - (256 * 64 + 64) - 2 * 64 - (576 * 32 + 32) + (9216 * 32 + 32),
        ),
        ("report-model2", {"stem_kernel": 3}, REPORT_MODEL2 - 1 * 8 * (49 - 9)),
    ],
)
def test_ablation_parameter_counts_by_hand(
    preset: str, overrides: dict[str, Any], expected: int
) -> None:
    assert count_parameters(create_model(preset, **overrides)) == expected


def test_grouped_conv_weight_shape() -> None:
    model = create_model("baseline-model1", **{"convs.1.groups": 2})
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs[1].weight.shape == (16, 4, 3, 3)
    assert convs[1].groups == 2


def test_identity_shortcut_adds_no_parameters() -> None:
    block = InceptionBlockConfig(branches=(2, 2, 2, 2), out=4)
    plain = InceptionConfig(stem_channels=4, blocks=(block,), head_channels=0)
    residual = InceptionConfig(
        stem_channels=4, blocks=(block.model_copy(update={"shortcut": True}),), head_channels=0
    )
    assert count_parameters(create_model(residual)) == count_parameters(create_model(plain))


# --- create_model inputs and errors ---------------------------------------------------------


def test_overrides_patch_the_preset() -> None:
    model = create_model("report-model1", activation="relu", dropout=0.0)
    kinds = {type(module) for module in model.modules()}
    assert nn.ReLU in kinds
    assert nn.ELU not in kinds
    assert nn.Dropout not in kinds  # p = 0 means no dropout layers


def test_overrides_patch_a_config_object() -> None:
    model = create_model(SMALL_CONFIGS["sequential"], **{"convs.0.channels": 10})
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first.out_channels == 10


def test_unknown_preset_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="report-model1"):
        create_model("report-modle1")


def test_bad_override_is_a_config_error_with_hint() -> None:
    with pytest.raises(ConfigError, match="activation"):
        create_model("report-model1", activaton="relu")
    with pytest.raises(ConfigError, match="groups"):
        create_model("baseline-model1", **{"convs.1.groups": 3})  # 3 does not divide 8 or 16


def test_folds_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="folds"):
        create_model("baseline-model1", folds=0)


def test_too_many_pools_names_the_sequential_layer_and_size() -> None:
    # 48 -> 24 -> 12 -> 6 -> 3 -> 1, then the sixth pool has nothing left.
    config = SequentialConfig(convs=tuple(ConvLayerConfig(channels=4) for _ in range(7)))
    with pytest.raises(ConfigError, match=r"model\.convs\.5\.pool: the feature map is 1x1"):
        create_model(config)


def test_too_many_pools_names_the_inception_block_or_head() -> None:
    block = InceptionBlockConfig(branches=(2, 2, 2, 2), out=4, pool=True)
    # stem 48 -> 24, blocks 12, 6, 3, 1, then the head's pool fails.
    with pytest.raises(ConfigError, match=r"model\.head_channels: the feature map is 1x1"):
        create_model(InceptionConfig(stem_channels=4, blocks=(block,) * 4))
    with pytest.raises(ConfigError, match=r"model\.blocks\.4\.pool: the feature map is 1x1"):
        create_model(InceptionConfig(stem_channels=4, blocks=(block,) * 5, head_channels=0))
