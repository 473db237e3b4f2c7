"""Occlusion (report Figure 4): how much hiding each region of a face lowers its class's score.

captum's :class:`~captum.attr.Occlusion` slides a window over the face, replaces it by a
baseline (the face's own mean: a flat grey patch, not a black hole the network never saw) and
records the drop of the target class's log-probability (log-softmax: unlike the probability it
does not saturate at 1 for confidently classified faces); all positions of all faces run as a
few large batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from torch import nn

from ferablate.config import CLASS_NAMES
from ferablate.viz._network import face_batch
from ferablate.viz._style import (
    PAGE_WIDTH,
    figure_style,
    image_colorbar,
    new_figure,
    reserve_right,
    symmetric_limit,
)

__all__ = ["OCCLUSION_CMAP", "occlusion_figure", "occlusion_maps"]

OCCLUSION_CMAP = "RdBu_r"  # diverging: red = hiding it lowers the score, blue = raises it


def occlusion_maps(
    model: nn.Module,
    faces: np.ndarray,
    targets: Sequence[int] | np.ndarray,
    window: int = 8,
    stride: int = 4,
    batch: int = 256,
) -> np.ndarray:
    """(N, 48, 48) drop in log p(target) when a ``window`` x ``window`` patch around each pixel is hidden.

    ``faces`` (N, 48, 48) uint8 or float in [0, 1]; ``model`` a plain model in eval mode.
    """
    from captum.attr import Occlusion

    inputs = face_batch(faces)  # (N, 1, 48, 48)
    baselines = inputs.mean(dim=(1, 2, 3), keepdim=True).expand_as(inputs).contiguous()
    log_probabilities = nn.Sequential(model, nn.LogSoftmax(dim=1)).eval()
    occlusion = Occlusion(log_probabilities)
    target = torch.as_tensor(np.asarray(targets), dtype=torch.long)
    with torch.no_grad():
        attributions = occlusion.attribute(
            inputs,
            sliding_window_shapes=(1, window, window),
            strides=(1, stride, stride),
            baselines=baselines,
            target=target,
            perturbations_per_eval=max(1, batch // max(len(inputs), 1)),
        )
    return attributions[:, 0].float().cpu().numpy()


def occlusion_figure(
    model: nn.Module,
    faces: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    class_names: Sequence[str] = CLASS_NAMES,
    window: int = 8,
    stride: int = 4,
) -> Figure:
    """One face per column: the face on top, its occlusion map over it below, one shared scale."""
    labels = np.asarray(labels)
    maps = occlusion_maps(model, faces, labels, window=window, stride=stride)  # (N, 48, 48)
    with torch.no_grad():
        scores = torch.softmax(model(face_batch(faces)), dim=1).float().numpy()  # (N, 7)
    limit = symmetric_limit(maps)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)
    n = len(labels)
    with figure_style():
        fig = new_figure(PAGE_WIDTH, 0.6 + (PAGE_WIDTH - 0.9) / n * 2)
        reserve_right(fig)
        axes = fig.subplots(2, n, squeeze=False)
        image = None
        for column in range(n):
            face = np.asarray(faces[column])
            label = int(labels[column])
            top, bottom = axes[0, column], axes[1, column]
            top.imshow(face, cmap="gray", vmin=0, vmax=255 if face.dtype == np.uint8 else 1)
            top.set_title(f"{class_names[label]}\np={scores[column, label]:.2f}", fontsize=6.5)
            bottom.imshow(face, cmap="gray", vmin=0, vmax=255 if face.dtype == np.uint8 else 1)
            # Opaque where hiding matters, see-through where it does not: the face stays readable.
            opacity = np.clip(np.abs(maps[column]) / limit * 2.0, 0.0, 0.85)
            image = bottom.imshow(maps[column], cmap=OCCLUSION_CMAP, norm=norm, alpha=opacity)
            for ax in (top, bottom):
                ax.set_xticks([])
                ax.set_yticks([])
                ax.spines[:].set_visible(False)
        axes[0, 0].set_ylabel("face")
        axes[1, 0].set_ylabel("occlusion")
        assert image is not None
        image_colorbar(fig, image, axes[1, -1], "drop in log p")
        fig.suptitle(
            f"Occlusion: where hiding each {window}×{window} patch (stride {stride}) lowers log p(class)"
        )
    return fig
