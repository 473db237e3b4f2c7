"""The layer table of a plain model (torchinfo), in the report's appendix layout."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchinfo

from ferablate.config import ModelConfig
from ferablate.models._layers import INPUT_SIZE
from ferablate.models._registry import create_model

__all__ = ["LayerRow", "LayerTable", "layer_table"]


@dataclass(frozen=True)
class LayerRow:
    name: str  # class name and 1-based position among the layers, e.g. "Conv2d-1"
    output_shape: tuple[int, ...]  # batch dimension as -1, e.g. (-1, 8, 48, 48)
    params: int


@dataclass(frozen=True)
class LayerTable:
    rows: tuple[LayerRow, ...]  # leaf layers in call order
    total_params: int
    trainable_params: int

    def render_text(self) -> str:
        """The torchsummary-style table the report's appendix shows."""
        rule = "-" * 64
        lines = [rule, f"{'Layer (type)':>20}  {'Output Shape':>25} {'Param #':>15}", "=" * 64]
        for row in self.rows:
            shape = "[" + ", ".join(str(d) for d in row.output_shape) + "]"
            lines.append(f"{row.name:>20}  {shape:>25} {row.params:>15,}")
        lines += [
            "=" * 64,
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}",
            rule,
        ]
        return "\n".join(lines)


def layer_table(config: ModelConfig | str) -> LayerTable:
    """Summarise the plain (folds=1) network on one (1, 1, 48, 48) face, layer by layer."""
    model = create_model(config)
    stats = torchinfo.summary(
        model,
        input_size=(1, 1, INPUT_SIZE, INPUT_SIZE),
        depth=100,  # every leaf layer, however deeply nested
        device=torch.device("cpu"),
        mode="eval",
        verbose=0,
    )
    leaves = [info for info in stats.summary_list if info.is_leaf_layer and not info.is_recursive]
    rows = tuple(
        LayerRow(
            name=f"{info.class_name}-{position}",
            output_shape=(-1, *info.output_size[1:]),
            params=info.num_params,
        )
        for position, info in enumerate(leaves, start=1)
    )
    return LayerTable(rows, stats.total_params, stats.trainable_params)
