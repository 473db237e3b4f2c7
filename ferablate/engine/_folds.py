"""Stratified folds over the Training split and class balancing.

``balance="fold"`` (default) oversamples every class up to the largest class's count inside
each *training* fold; the duplicates differ because training faces are augmented on the fly,
and validation folds stay untouched (no leakage). ``balance="report"`` reproduces the report:
augmented copies are drawn *before* splitting (7 x 7,215 = 50,505 faces on full FER2013), so
copies of a validation face can sit in the training folds.

``repeats=R`` gives repeated k-fold: R stratified splits of the same faces (split ``r`` seeded by
:func:`repeat_seed`; ``r = 0`` is the plain k-fold split), R x k folds in one plan, fold
``r * k + f`` being fold ``f`` of repeat ``r``. The report protocol's copies are drawn once,
before any split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from ferablate._errors import DataError
from ferablate.engine._augment import augment_batch

__all__ = [
    "FoldPlan",
    "FoldSpec",
    "balance_indices",
    "plan_folds",
    "repeat_seed",
    "report_balanced_pool",
]


@dataclass(frozen=True)
class FoldSpec:
    """Which fold a fold model is: its place in the plan and its name in tracking."""

    index: int  # position in the plan (0 .. repeats * k - 1): FoldResult.fold, EpochMetrics.fold
    repeat: int  # 0-based split the fold belongs to
    fold: int  # 0-based fold within its repeat
    name: str  # "fold-<fold>" with one repeat (as before repeats existed), else "r<repeat>-f<fold>"


@dataclass(frozen=True)
class FoldPlan:
    images: np.ndarray  # (M, 48, 48) uint8: the pool the indices point into
    labels: np.ndarray  # (M,) int64
    train_indices: tuple[np.ndarray, ...]  # per fold, balanced as configured
    val_indices: tuple[np.ndarray, ...]  # per fold, never balanced
    repeats: int = 1  # stratified splits in the plan; fold r * k + f is fold f of split r
    originals: int | None = None  # pool faces before the report protocol's copies; None: all
    # Held-out (images, labels) that every fold model scores after training (PublicTest)
    publictest: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def folds(self) -> int:
        """Fold models in the plan (repeats x k)."""
        return len(self.val_indices)

    @property
    def specs(self) -> tuple[FoldSpec, ...]:
        """One :class:`FoldSpec` per fold of the plan, in plan order."""
        k = self.folds // self.repeats
        return tuple(
            FoldSpec(
                index, index // k, index % k,
                f"fold-{index}" if self.repeats == 1 else f"r{index // k}-f{index % k}",
            )
            for index in range(self.folds)
        )  # fmt: skip

    def distinct_faces(self, indices: np.ndarray) -> int:
        """Distinct original faces among ``indices``: no balancing repeat or report copy counts
        (the n_train / n_val of the corrected resampled t-test)."""
        if self.originals is not None:
            indices = indices[indices < self.originals]
        return len(np.unique(indices))


def balance_indices(
    indices: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``indices`` plus random repeats of each minority class up to the largest class's count."""
    classes, counts = np.unique(labels[indices], return_counts=True)
    target = counts.max()
    extra = [
        rng.choice(indices[labels[indices] == cls], size=target - count, replace=True)
        for cls, count in zip(classes, counts, strict=True)
        if count < target
    ]
    return np.concatenate([indices, *extra]) if extra else indices.copy()


def report_balanced_pool(
    images: np.ndarray, labels: np.ndarray, seed: int, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """The report's protocol: add augmented copies until every class has the largest count."""
    rng = np.random.default_rng(seed)
    copies = balance_indices(np.arange(len(labels)), labels, rng)[len(labels) :]
    generator = torch.Generator().manual_seed(seed)
    augmented = []
    for start in range(0, len(copies), chunk):
        batch = torch.from_numpy(images[copies[start : start + chunk]]).float().div_(255)
        out = augment_batch(batch.unsqueeze(1), generator).squeeze(1).mul_(255).round_()
        augmented.append(out.to(torch.uint8).numpy())
    if not augmented:
        return images, labels
    return np.concatenate([images, *augmented]), np.concatenate([labels, labels[copies]])


def repeat_seed(split_seed: int, repeat: int) -> int:
    """Seed of split ``repeat``: ``split_seed`` itself for the first, derived ones after it."""
    if repeat == 0:
        return split_seed
    return int(np.random.SeedSequence([split_seed, repeat]).generate_state(1)[0])


def plan_folds(
    images: np.ndarray,
    labels: np.ndarray,
    folds: int,
    balance: str,
    seed: int,
    repeats: int = 1,
) -> FoldPlan:
    """Seeded stratified k-fold split of the Training faces (``repeats`` times), balanced per
    ``balance``."""
    originals = None
    if balance == "report":
        originals = len(labels)
        images, labels = report_balanced_pool(images, labels, seed)
    smallest = int(np.unique(labels, return_counts=True)[1].min()) if len(labels) else 0
    if smallest < folds:
        raise DataError(
            f"too few Training faces for {folds} folds ({len(labels)} faces, smallest class "
            f"{smallest}); raise data.limit or lower train.folds"
        )
    train_parts, val_parts = [], []
    for repeat in range(repeats):
        split = repeat_seed(seed, repeat)
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=split)
        rng = np.random.default_rng(split + 1)
        for train_idx, val_idx in splitter.split(np.zeros(len(labels)), labels):
            if balance == "fold":
                train_idx = balance_indices(train_idx, labels, rng)
            train_parts.append(train_idx)
            val_parts.append(val_idx)
    return FoldPlan(images, labels, tuple(train_parts), tuple(val_parts), repeats, originals)
