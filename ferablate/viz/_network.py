"""Figures of what a network learned: kernels (report Figure 2) and feature maps (Figure 3).

Both take a plain (folds=1) model; they read weights or run one forward pass on the CPU.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from torch import nn

from ferablate._errors import ConfigError
from ferablate.viz._style import (
    COLUMN_WIDTH,
    HEAT_CMAP,
    PAGE_WIDTH,
    figure_style,
    gray_with_gaps,
    image_colorbar,
    new_figure,
    reserve_right,
    symmetric_limit,
    tile_images,
)

__all__ = [
    "activations_figure",
    "default_activation_layer",
    "feature_maps",
    "first_conv",
    "weights_figure",
]

_ACTIVATIONS = (nn.ReLU, nn.ELU, nn.LeakyReLU, nn.GELU, nn.SiLU)


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The first ``Conv2d`` in module order (the one that sees the face) and its name."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise ConfigError(
        f"{type(model).__name__} has no Conv2d layer to draw kernels or activations of"
    )


def _inception_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    # Duck-typed (branch1..branch4) so viz needs no import of the model family's class.
    return [
        (n, m)
        for n, m in model.named_modules()
        if all(hasattr(m, f"branch{i}") for i in range(1, 5))
    ]


def _last_conv(module: nn.Module) -> nn.Conv2d:
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1]


def _kernel_mosaic(weight: torch.Tensor) -> np.ndarray:
    """(out, in, k, k) -> mosaic with one row per output channel, one column per input channel."""
    out_channels, in_channels, k, _ = weight.shape
    kernels = weight.detach().float().cpu().reshape(out_channels * in_channels, k, k).numpy()
    return tile_images(kernels, columns=in_channels, gap=1 if k > 1 else 0)


def _draw_kernels(ax: Axes, mosaic: np.ndarray, limit: float, title: str) -> AxesImage:
    image = ax.imshow(mosaic, cmap=gray_with_gaps(), vmin=-limit, vmax=limit)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.spines[:].set_visible(False)
    return image


def weights_figure(model: nn.Module, block: int = 0) -> Figure:
    """First conv layer's kernels; for inception models also block ``block``'s four branches.

    Branch panels (a: 1x1, b: 1x1 then k1, c: 1x1 then k2, d: pool then 1x1) show each branch's
    last conv, one row per output channel and one column per input channel, on one shared
    zero-centred gray scale, so "more black" means the same in every panel (as in the report).
    """
    conv_name, conv = first_conv(model)
    first = conv.weight.detach().float().cpu()  # (out, 1, k, k) for a grayscale input
    k = first.shape[-1]
    columns = min(first.shape[0], 16)
    first_mosaic = tile_images(first[:, 0].numpy(), columns=columns)
    blocks = _inception_blocks(model)
    with figure_style():
        if not blocks:
            rows = math.ceil(first.shape[0] / columns)
            tiles_width = COLUMN_WIDTH - 0.75  # room for the colour bar
            fig = new_figure(
                COLUMN_WIDTH, 0.55 + tiles_width * first_mosaic.shape[0] / first_mosaic.shape[1]
            )
            ax = fig.add_subplot()
            image = _draw_kernels(ax, first_mosaic, symmetric_limit(first_mosaic),
                                  f"First conv layer: {first.shape[0]} kernels, {k}x{k}")  # fmt: skip
            fig.colorbar(image, ax=ax, label="weight", aspect=10 * max(rows, 1))
            return fig
        if not 0 <= block < len(blocks):
            raise ConfigError(
                f"inception block {block} does not exist (the model has {len(blocks)})"
            )
        block_name, module = blocks[block]
        branch_convs = [_last_conv(getattr(module, f"branch{i}")) for i in range(1, 5)]
        mosaics = [_kernel_mosaic(c.weight) for c in branch_convs]
        limit = symmetric_limit(np.concatenate([m[np.isfinite(m)] for m in mosaics]))
        fig = new_figure(PAGE_WIDTH, 4.6)
        grid = fig.add_gridspec(2, 4, height_ratios=[1, 5])
        top = fig.add_subplot(grid[0, :])
        stem = _draw_kernels(top, first_mosaic, symmetric_limit(first_mosaic),
                             f"First conv layer ({conv_name}): {first.shape[0]} kernels, {k}x{k}")  # fmt: skip
        fig.colorbar(stem, ax=top, label="weight", aspect=8)
        branch_images = []
        for index, (conv_b, mosaic) in enumerate(zip(branch_convs, mosaics, strict=True)):
            kb, letter = conv_b.kernel_size[0], "abcd"[index]
            title = (
                f"branch {letter}: {kb}x{kb}\n({conv_b.out_channels} out x {conv_b.in_channels} in)"
            )
            ax = fig.add_subplot(grid[1, index])
            branch_images.append(_draw_kernels(ax, mosaic, limit, title))
        branch_axes = [image.axes for image in branch_images]
        fig.colorbar(branch_images[-1], ax=branch_axes, shrink=0.8, label="weight (shared by a-d)")
        fig.suptitle(
            f"Kernels of inception block {block + 1} ({block_name}), rows: output channels, columns: input channels"
        )
    return fig


def default_activation_layer(model: nn.Module) -> str:
    """The activation right after the first conv (its feature maps, as the report showed)."""
    seen_conv = False
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            seen_conv = True
        elif seen_conv and isinstance(module, _ACTIVATIONS):
            return name
    return first_conv(model)[0]


def feature_maps(model: nn.Module, face: np.ndarray, layer: str) -> np.ndarray:
    """(C, h, w) output of module ``layer`` for one face ((48, 48) uint8 or float in [0, 1])."""
    modules = dict(model.named_modules())
    if layer not in modules or layer == "":
        names = [n for n, m in modules.items() if n and not list(m.children())]
        raise ConfigError(f"no layer '{layer}' in the model; layers: {', '.join(names)}")
    captured: list[torch.Tensor] = []
    handle = modules[layer].register_forward_hook(
        lambda _m, _i, out: captured.append(out.detach().clone())
    )
    try:
        with torch.no_grad():
            model(face_batch(face[None]))
    finally:
        handle.remove()
    return captured[0][0].float().cpu().numpy()


def face_batch(faces: np.ndarray) -> torch.Tensor:
    """(N, 48, 48) uint8 (or float in [0, 1]) -> (N, 1, 48, 48) float in [0, 1], as the engine feeds."""
    tensor = torch.as_tensor(np.asarray(faces)).float()
    if np.asarray(faces).dtype == np.uint8:
        tensor = tensor / 255.0
    return tensor.unsqueeze(1)


def activations_figure(
    model: nn.Module, face: np.ndarray, layer: str | None = None, caption: str = ""
) -> Figure:
    """The face and the feature maps of ``layer`` (default: first conv block's activation), one tile per filter."""
    face = np.asarray(face)
    layer = layer or default_activation_layer(model)
    maps = feature_maps(model, face, layer)  # (C, h, w)
    channels, tile_h, tile_w = maps.shape
    columns = min(channels, 8 if channels <= 16 else 16)
    rows = math.ceil(channels / columns)
    gap = max(1, tile_w // 24)
    mosaic = tile_images(maps, columns=columns, gap=gap)
    low, high = float(np.nanmin(mosaic)), float(np.nanmax(mosaic))
    high = high if high > low else low + 1e-6  # a constant map still needs a colour range
    with figure_style():
        # Face panel as tall as the mosaic; the height follows from the tiles' aspect.
        fig = new_figure(PAGE_WIDTH, 0.4 + (PAGE_WIDTH - 1.1) * rows / (rows + columns))
        reserve_right(fig)
        grid = fig.add_gridspec(1, 2, width_ratios=[rows, columns])
        ax_face = fig.add_subplot(grid[0, 0])
        ax_face.imshow(face, cmap="gray", vmin=0, vmax=255 if face.dtype == np.uint8 else 1)
        ax_face.set_title(caption or "input face")
        ax_face.axis("off")
        ax = fig.add_subplot(grid[0, 1])
        image = ax.imshow(mosaic, cmap=gray_with_gaps(HEAT_CMAP), vmin=low, vmax=high)
        for index in range(channels):  # filter numbers, 1-based, in each tile's corner
            r, c = divmod(index, columns)
            ax.text(c * (tile_w + gap) + 0.8, r * (tile_h + gap) + 0.8, str(index + 1), color="white",
                    fontsize=5, ha="left", va="top")  # fmt: skip
        ax.set_title(f"Feature maps of layer {layer} ({channels} filters, {tile_h}x{tile_w})")
        ax.axis("off")
        image_colorbar(fig, image, ax, "activation")
    return fig
