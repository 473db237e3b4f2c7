"""The in-memory data set every loader returns: faces, labels and the split each face belongs to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ferablate._errors import DataError
from ferablate.config import CLASS_NAMES, IMAGE_SIZE, NUM_CLASSES

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ALL_USAGES", "CLASS_NAMES", "IMAGE_SIZE", "TEST_USAGE", "USAGES", "FaceData"]

USAGES: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")  # FER2013 CSV splits
TEST_USAGE = "Test"  # the image-folder layout's single test/ split
ALL_USAGES: tuple[str, ...] = (*USAGES, TEST_USAGE)


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value
class FaceData:
    """Faces of one data source; the arrays are shared, treat them as read-only."""

    images: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64 in 0..6, index into CLASS_NAMES
    usage: np.ndarray  # (N,) str, one of ALL_USAGES
    source: str  # human description of where the faces came from
    content_hash: str  # identifies the data (sha256[:16] of the file, or synthetic-...)

    def __post_init__(self) -> None:
        n = self.labels.shape[0]
        if self.images.shape != (n, IMAGE_SIZE, IMAGE_SIZE) or self.images.dtype != np.uint8:
            raise ValueError(
                f"images must be ({n}, {IMAGE_SIZE}, {IMAGE_SIZE}) uint8, "
                f"got {self.images.shape} {self.images.dtype}"
            )
        if self.labels.ndim != 1 or self.labels.dtype != np.int64:
            raise ValueError(
                f"labels must be (N,) int64, got {self.labels.shape} {self.labels.dtype}"
            )
        if self.usage.shape != (n,):
            raise ValueError(f"usage must be ({n},), got {self.usage.shape}")
        if n and (self.labels.min() < 0 or self.labels.max() >= NUM_CLASSES):
            raise ValueError(f"labels must lie in 0..{NUM_CLASSES - 1}")
        unknown = set(np.unique(self.usage).tolist()) - set(ALL_USAGES)
        if unknown:
            raise ValueError(f"unknown usage values {sorted(unknown)}; expected {ALL_USAGES}")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def usages(self) -> tuple[str, ...]:
        """The splits present, in ALL_USAGES order (e.g. ("Training", "Test") for a folder)."""
        present = set(np.unique(self.usage).tolist())
        return tuple(name for name in ALL_USAGES if name in present)

    def split(self, usage: str | Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Faces and labels of one split or several, in file order: ``(images, labels)``.

        A split name the data simply lacks (``"Test"`` on the CSV) gives empty arrays; a name
        that is no split at all is a DataError (a typo must not train on nothing).
        """
        names = (usage,) if isinstance(usage, str) else tuple(usage)
        unknown = [name for name in names if name not in ALL_USAGES]
        if unknown:
            raise DataError(
                f"unknown data split {unknown[0]!r}; expected one of {', '.join(ALL_USAGES)}"
            )
        mask = np.isin(self.usage, names)
        return self.images[mask], self.labels[mask]

    def counts(self) -> pd.DataFrame:
        """Faces per split (rows, index ``Usage``) and class (columns), with totals."""
        import pandas as pd  # deferred: importing ferablate.data stays cheap

        rows = {
            name: np.bincount(self.labels[self.usage == name], minlength=NUM_CLASSES)
            for name in self.usages
        }
        table = pd.DataFrame.from_dict(
            rows, orient="index", columns=list(CLASS_NAMES), dtype=np.int64
        )
        table.index.name = "Usage"
        table["total"] = table.sum(axis=1)
        table.loc["total"] = table.sum(axis=0)
        return table
