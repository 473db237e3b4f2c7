"""One figure style for every ferablate figure: paper-column sizes, small fonts, no pyplot.

Figures are built with the object-oriented API (``matplotlib.figure.Figure``), so nothing
touches pyplot's global state or the process-wide backend; the style is an ``rc_context``
entered while a figure is built and again while it is saved.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colorbar import Colorbar
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

__all__ = [
    "COLUMN_WIDTH",
    "DPI",
    "FACE_CMAP",
    "HEAT_CMAP",
    "PAGE_WIDTH",
    "figure_style",
    "gray_with_gaps",
    "image_colorbar",
    "new_figure",
    "reserve_right",
    "save_png",
    "symmetric_limit",
    "tile_images",
]

COLUMN_WIDTH = 3.3  # inches: one column of a two-column paper
PAGE_WIDTH = 7.0  # inches: a figure spanning both columns
DPI = 200  # PNG resolution: sharp when printed at column width
FACE_CMAP = "gray"  # faces, kernels: grayscale as the data is
HEAT_CMAP = "magma"  # perceptual, for activations (sequential values)

_STYLE: dict[str, Any] = {
    "font.size": 7,
    "axes.titlesize": 7.5,
    "axes.labelsize": 7,
    "xtick.labelsize": 6,
    "ytick.labelsize": 6,
    "legend.fontsize": 6,
    "figure.titlesize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "lines.linewidth": 1.0,
    "image.interpolation": "nearest",  # a 48x48 face is pixels, not a smooth field
    "figure.constrained_layout.use": True,
    "figure.constrained_layout.h_pad": 0.02,
    "figure.constrained_layout.w_pad": 0.02,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "legend.frameon": False,
}


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """The rcParams of every ferablate figure, for the duration of the block."""
    import matplotlib

    with matplotlib.rc_context(cast(Any, _STYLE)):  # the stubs want literal keys
        yield


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free figure of ``width`` x ``height`` inches (call inside :func:`figure_style`)."""
    # Whole pixels at DPI, so the saved PNG is exactly figsize x dpi (matplotlib truncates).
    return Figure(figsize=(round(width * DPI) / DPI, round(height * DPI) / DPI), dpi=DPI)


def save_png(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Write ``fig`` as a PNG of exactly figsize x dpi pixels; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with figure_style():
        fig.savefig(path, format="png", dpi=dpi)  # no bbox_inches="tight": the size stays known
    return path


def gray_with_gaps(name: str = FACE_CMAP) -> Colormap:
    """A colormap whose NaN cells (the gaps between tiles) are drawn white."""
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="white")


def symmetric_limit(values: np.ndarray) -> float:
    """The largest absolute finite value (at least a tiny epsilon), for a zero-centred scale."""
    finite = np.abs(values[np.isfinite(values)])
    return float(max(finite.max(initial=0.0), 1e-8))


def tile_images(images: np.ndarray, columns: int, gap: int = 1) -> np.ndarray:
    """(N, H, W) float -> one (rows*(H+gap)-gap, columns*(W+gap)-gap) mosaic, NaN in the gaps.

    NaN gaps render in the colormap's "bad" colour (white with :func:`gray_with_gaps`), so they
    never look like a value.
    """
    import torch
    from torchvision.utils import make_grid

    tensor = torch.as_tensor(np.asarray(images, dtype=np.float32)).unsqueeze(1)  # (N, 1, H, W)
    grid = make_grid(tensor, nrow=columns, padding=gap, pad_value=float("nan"))[0]  # (H', W')
    return (
        grid[gap : grid.shape[0] - gap, gap : grid.shape[1] - gap].numpy() if gap else grid.numpy()
    )


def image_colorbar(fig: Figure, image: AxesImage, ax: Axes, label: str) -> Colorbar:
    """A colour bar exactly as tall as ``ax``'s (aspect-locked) image, just right of it.

    A layout-managed colour bar spans the axes' whole grid cell, which for an image with a
    fixed aspect is taller than the image; an inset follows the drawn image box instead.
    """
    # The inset is outside the layout: figures using this keep a right margin free (reserve_right).
    cax = ax.inset_axes((1.02, 0.0, 0.025 * ax.bbox.height / max(ax.bbox.width, 1.0) + 0.012, 1.0))
    return fig.colorbar(image, cax=cax, label=label)


def reserve_right(fig: Figure, inches: float = 0.45) -> None:
    """Keep ``inches`` at the right edge free of laid-out axes (room for an inset colour bar)."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    engine = fig.get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):
        engine.set(rect=(0.0, 0.0, 1.0 - inches / fig.get_figwidth(), 1.0))
