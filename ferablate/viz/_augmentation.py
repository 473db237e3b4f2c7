"""Augmentation (report Figure 6): faces and the versions the engine trains on."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from ferablate.config import CLASS_NAMES
from ferablate.engine import augment_batch
from ferablate.viz._network import face_batch
from ferablate.viz._style import PAGE_WIDTH, figure_style, gray_with_gaps, new_figure, tile_images

__all__ = ["augmentation_figure"]


def augmentation_figure(
    faces: np.ndarray,
    labels: Sequence[int] | np.ndarray | None = None,
    copies: int = 3,
    seed: int = 0,
    class_names: Sequence[str] = CLASS_NAMES,
) -> Figure:
    """One column per face: the original on top, ``copies`` augmented versions below.

    The versions come from :func:`ferablate.engine.augment_batch` (what training sees), drawn
    with a generator seeded by ``seed``, so the figure is reproducible.
    """
    originals = face_batch(faces)  # (N, 1, 48, 48) in [0, 1]
    n = originals.shape[0]
    generator = torch.Generator().manual_seed(seed)
    versions = [augment_batch(originals, generator) for _ in range(copies)]
    stack = torch.cat([originals, *versions])[:, 0].numpy()  # (rows*N, 48, 48): row-major tiles
    gap = 2
    mosaic = tile_images(stack, columns=n, gap=gap)
    side = originals.shape[-1]
    with figure_style():
        tiles_width = PAGE_WIDTH - 0.6
        fig = new_figure(PAGE_WIDTH, 0.45 + tiles_width * mosaic.shape[0] / mosaic.shape[1])
        ax = fig.add_subplot()
        ax.imshow(mosaic, cmap=gray_with_gaps(), vmin=0.0, vmax=1.0)
        centres = np.arange(max(n, copies + 1)) * (side + gap) + side / 2 - 0.5
        ax.set_yticks(
            centres[: copies + 1], ["original", *[f"augmented {i + 1}" for i in range(copies)]]
        )
        if labels is not None:
            ax.set_xticks(centres[:n], [class_names[int(label)] for label in labels])
        else:
            ax.set_xticks([])
        ax.tick_params(length=0)
        ax.spines[:].set_visible(False)
        ax.set_title("Augmentation as in training: flip, zoom, shift, brightness, contrast")
    return fig
