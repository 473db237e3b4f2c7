"""Figures of what a trial's numbers say: loss curves (report Figure 1), confusion matrix (Figure 5)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ferablate.config import CLASS_NAMES
from ferablate.engine import EpochMetrics
from ferablate.viz._style import COLUMN_WIDTH, figure_style, new_figure

__all__ = ["confusion_figure", "loss_curves_figure"]

_TRAIN_COLOUR, _VAL_COLOUR = "#1f77b4", "#d62728"


def loss_curves_figure(
    histories: Sequence[Sequence[EpochMetrics]],
    best_fold: int | None = None,
    held_out: str = "validation",
) -> Figure:
    """Train and validation loss per epoch: one thin line per fold, the fold mean bold.

    ``histories[f]`` is fold f's per-epoch metrics; ``best_fold`` (if given) is drawn dotted
    on top so the single-fold curve the report showed stays visible. ``held_out`` names the
    scored faces' loss ("test" for a final model).
    """
    with figure_style():
        fig = new_figure(COLUMN_WIDTH, 2.3)
        ax = fig.add_subplot()
        epochs = np.array([m.epoch for m in histories[0]])
        for key, colour, name in (
            ("train_loss", _TRAIN_COLOUR, "train"),
            ("val_loss", _VAL_COLOUR, held_out),
        ):
            per_fold = np.array(
                [[getattr(m, key) for m in fold] for fold in histories]
            )  # (folds, epochs)
            for values in per_fold:
                ax.plot(epochs, values, color=colour, alpha=0.3, linewidth=0.6)
            if len(histories) > 1:
                ax.plot(epochs, per_fold.mean(axis=0), color=colour, linewidth=1.8,
                        label=f"{name} (mean of {len(histories)} folds)")  # fmt: skip
                if best_fold is not None:
                    ax.plot(epochs, per_fold[best_fold], color=colour, linewidth=0.9, linestyle=":",
                            label=f"{name} (best fold {best_fold})")  # fmt: skip
            else:
                ax.plot(epochs, per_fold[0], color=colour, linewidth=1.8, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel("cross-entropy loss")
        ax.set_title(
            "Loss per epoch"
            + (f" ({len(histories)} folds, thin: single folds)" if len(histories) > 1 else "")
        )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.25, linewidth=0.4)
        ax.legend(loc="upper right")
    return fig


def confusion_figure(
    labels: np.ndarray,
    predictions: np.ndarray,
    class_names: Sequence[str] = CLASS_NAMES,
    split: str = "validation folds",
) -> Figure:
    """Row-normalised confusion matrix (rows: true class, each row sums to 1) with class names."""
    from sklearn.metrics import confusion_matrix

    classes = list(range(len(class_names)))
    counts = confusion_matrix(labels, predictions, labels=classes)  # (C, C)
    support = counts.sum(axis=1, keepdims=True)
    rates = np.divide(
        counts, support, out=np.zeros(counts.shape, dtype=np.float64), where=support > 0
    )
    with figure_style():
        fig = new_figure(COLUMN_WIDTH, 3.0)
        ax = fig.add_subplot()
        image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
        for true in classes:
            for predicted in classes:
                value = rates[true, predicted]
                ax.text(predicted, true, f"{value:.2f}"[1:] if value < 1 else "1", ha="center", va="center",
                        fontsize=5.5, color="white" if value > 0.55 else "black")  # fmt: skip
        ax.set_xticks(classes, class_names, rotation=45, ha="right", rotation_mode="anchor")
        ax.set_yticks(
            classes, [f"{name} ({n})" for name, n in zip(class_names, support[:, 0], strict=True)]
        )
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class (faces)")
        accuracy = float(np.trace(counts) / max(counts.sum(), 1))
        ax.set_title(f"Confusion matrix, {split}\n{counts.sum()} faces, accuracy {accuracy:.3f}")
        ax.spines[:].set_visible(False)
        ax.tick_params(length=0)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03, label="fraction of the true class")
    return fig
