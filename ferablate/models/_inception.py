"""Model 2 family: stem conv, simplified inception blocks, a 1x1 head conv, dense layers."""

from __future__ import annotations

from torch import Tensor, nn

from ferablate.config import InceptionBlockConfig, InceptionConfig
from ferablate.models._layers import (
    INPUT_SIZE,
    FerNet,
    assemble_net,
    conv2d,
    conv_block,
    fold_cat,
    make_activation,
    pool_and_dropout,
    pooled_size,
)
from ferablate.models._registry import register_model

__all__ = ["InceptionBlock", "build_inception"]


class InceptionBlock(nn.Module):
    """in -> four parallel branches -> per-fold concat -> 1x1 conv -> [BN] -> [+ shortcut] -> act.

    Branches (a, b, c, d): (1) 1x1 -> a; (2) 1x1 -> a, k1 x k1 -> b; (3) 1x1 -> a,
    k2 x k2 -> c; (4) max-pool 3x3 stride 1, 1x1 -> d. No BatchNorm inside the branches.
    """

    def __init__(
        self,
        in_channels: int,
        config: InceptionBlockConfig,
        *,
        folds: int,
        batch_norm: bool,
        activation: str,
    ) -> None:
        super().__init__()
        a, b, c, d = config.branches
        kernel_b, kernel_c = config.inner_kernels
        self.folds = folds

        def conv_act(cin: int, cout: int, kernel: int) -> list[nn.Module]:
            return [conv2d(cin, cout, kernel, folds=folds), make_activation(activation)]

        self.branch1 = nn.Sequential(*conv_act(in_channels, a, 1))
        self.branch2 = nn.Sequential(*conv_act(in_channels, a, 1), *conv_act(a, b, kernel_b))
        self.branch3 = nn.Sequential(*conv_act(in_channels, a, 1), *conv_act(a, c, kernel_c))
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), *conv_act(in_channels, d, 1)
        )
        merge: list[nn.Module] = [conv2d(a + b + c + d, config.out, 1, folds=folds)]
        if batch_norm:
            merge.append(nn.BatchNorm2d(folds * config.out))
        self.merge = nn.Sequential(*merge)
        self.residual = config.shortcut
        # Residual path: identity when the channels match, else a 1x1 projection.
        self.shortcut = (
            conv2d(in_channels, config.out, 1, folds=folds)
            if config.shortcut and in_channels != config.out
            else None
        )
        self.act = make_activation(activation)

    def forward(self, x: Tensor) -> Tensor:  # (B, k*in, H, W) -> (B, k*out, H, W)
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        out = self.merge(fold_cat(branches, self.folds))
        if self.residual:
            out = out + (x if self.shortcut is None else self.shortcut(x))
        return self.act(out)


@register_model("inception")
def build_inception(config: InceptionConfig, folds: int = 1) -> FerNet:
    """The inception CNN ``config`` describes, ``folds`` copies packed into one module."""
    norm, act = config.batch_norm, config.activation
    stem = conv2d(1, config.stem_channels, config.stem_kernel, folds=folds)
    layers: list[nn.Module] = [*conv_block(stem, batch_norm=norm, activation=act), nn.MaxPool2d(2)]
    channels, size = config.stem_channels, INPUT_SIZE // 2  # the stem always pools 48 -> 24
    for index, block in enumerate(config.blocks):
        layers.append(InceptionBlock(channels, block, folds=folds, batch_norm=norm, activation=act))
        where = f"model.blocks.{index}.pool"
        tail, size = pool_and_dropout(block.pool, block.dropout, config.dropout, size, where)
        layers += tail
        channels = block.out
    if config.head_channels:
        head = conv2d(channels, config.head_channels, 1, folds=folds)
        layers += conv_block(head, batch_norm=norm, activation=act)
        size = pooled_size(
            size, "model.head_channels", fix="set head_channels: 0 or pool: false on a block"
        )
        layers.append(nn.MaxPool2d(2))
        channels = config.head_channels
    return assemble_net(layers, channels * size * size, config, folds)
