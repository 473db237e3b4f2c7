"""The tiny trial the search tests train: model 1's shape with 4/8/8 channels, 300 synthetic
faces, 2 folds (seconds per trial on a CPU)."""

from __future__ import annotations

from typing import Any


def tiny_base(epochs: int = 1) -> dict[str, Any]:
    """A fresh sweep ``base`` mapping (tests may patch it)."""
    return {
        "data": {"source": "synthetic", "synthetic_size": 300},
        "model": {
            "preset": "baseline-model1",
            "convs": [{"channels": 4}, {"channels": 8}, {"channels": 8}],
        },
        "train": {"folds": 2, "epochs": epochs, "batch_size": 64, "lr": 0.003},
    }
