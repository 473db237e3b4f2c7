"""Model 1 family: conv blocks (conv, [BatchNorm], act, [max-pool], [dropout]) then dense."""

from __future__ import annotations

from torch import nn

from ferablate.config import SequentialConfig
from ferablate.models._layers import (
    INPUT_SIZE,
    FerNet,
    assemble_net,
    conv2d,
    conv_block,
    pool_and_dropout,
)
from ferablate.models._registry import register_model

__all__ = ["build_sequential"]


@register_model("sequential")
def build_sequential(config: SequentialConfig, folds: int = 1) -> FerNet:
    """The sequential CNN ``config`` describes, ``folds`` copies packed into one module."""
    layers: list[nn.Module] = []
    channels, size = 1, INPUT_SIZE
    for index, conv in enumerate(config.convs):
        packed = conv2d(
            channels,
            conv.channels,
            conv.kernel,
            folds=folds,
            dilation=conv.dilation,
            groups=conv.groups,
        )
        layers += conv_block(packed, batch_norm=config.batch_norm, activation=config.activation)
        where = f"model.convs.{index}.pool"
        tail, size = pool_and_dropout(conv.pool, conv.dropout, config.dropout, size, where)
        layers += tail
        channels = conv.channels
    return assemble_net(layers, channels * size * size, config, folds)
