"""What a comparison needs to know about one trial: per-fold scores and the split they came from.

Two trials can be compared fold by fold (paired) only when fold ``f2`` of one was scored on
exactly the faces fold ``f2`` of the other was: same data file, same subset, same number of
folds and repeats, same split seed and the same side of the balancing (see :func:`split_key`).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ferablate._errors import ConfigError

if TYPE_CHECKING:  # pydantic: not when the CLI reads stats.STAT_TESTS at start
    from ferablate.config import TrialConfig

__all__ = ["FoldGrid", "TrialScores", "fold_grid", "split_key"]

# "f3" / "3" (one repeat; "3" is the ferablate.fold tag of tracked runs) or "r1-f3" (repeats)
_FOLD_NAME = re.compile(r"^(?:r(?P<repeat>\d+)-f|f?)(?P<fold>\d+)$")


def split_key(config: TrialConfig, data_hash: str) -> tuple[tuple[str, Hashable], ...]:
    """What decides which faces land in which fold of ``config``'s trial (a hashable tuple).

    Equal keys mean equal folds: the data file (``data_hash``), its source and subset
    (``data.limit`` drawn with ``data.seed``; synthetic faces also by ``data.synthetic_size``),
    ``train.folds``, ``train.repeats`` and ``train.split_seed``. ``train.seed`` is not part of
    it: it seeds initialisation, shuffling, augmentation and dropout, never the split, so a
    seed re-run is paired with its parent. Of ``data.balance`` only whether copies are drawn
    *before* splitting matters (``report``): ``none`` and ``fold`` put the same faces in the
    same validation folds (``fold`` adds copies to the training folds only), so they pair.
    """
    data, train = config.data, config.train
    return (
        ("data_hash", data_hash),
        ("data.source", data.source),
        ("data.limit", data.limit),
        ("data.seed", data.seed),
        ("data.synthetic_size", data.synthetic_size if data.source == "synthetic" else None),
        ("balance_before_split", data.balance == "report"),
        ("train.folds", train.folds),
        ("train.repeats", train.repeats),
        ("train.split_seed", train.split_seed),
    )


@dataclass(frozen=True)
class TrialScores:
    """One trial's per-fold scores, as a comparison reads them.

    ``scores`` maps a metric (``val_accuracy``, ...) to ``{fold name: last-epoch score}``;
    fold names are ``0``, ``1``, ... (the tracked ``ferablate.fold`` tag; ``f0``, ``f1`` also
    read) or ``r0-f0``, ``r0-f1``, ... for repeated k-fold.
    ``n_train``/``n_val`` are a fold's distinct training and validation faces before any
    balancing copies (the Nadeau–Bengio correction uses their ratio; unknown: 1/(k − 1)).
    """

    variant: str  # trial name, as in the sweep's table
    scores: Mapping[str, Mapping[str, float]]  # metric -> {fold name: score}
    split_key: Hashable  # from split_key(): equal keys mean the same folds
    n_train: int | None = None  # distinct training faces of one fold (None: unknown)
    n_val: int | None = None  # distinct validation faces of one fold (None: unknown)
    collapsed: AbstractSet[str] = field(default_factory=frozenset)  # folds that stayed at chance
    status: str = "finished"  # how the trial's newest run ended ("finished", "failed", ...)


@dataclass(frozen=True)
class FoldGrid:
    """The repeats x folds layout of a set of fold names."""

    repeats: int  # R: distinct repeats
    folds: int  # k: folds per repeat
    names: tuple[str, ...]  # fold names in (repeat, fold) order


def fold_grid(names: AbstractSet[str] | Mapping[str, float]) -> FoldGrid:
    """The R x k grid of ``names`` (``<i>``, ``f<i>`` or ``r<j>-f<i>``), which must be complete."""
    cells: dict[tuple[int, int], str] = {}
    for name in names:
        match = _FOLD_NAME.match(name)
        if match is None:
            raise ConfigError(f"fold name {name!r} is none of '<i>', 'f<i>', 'r<j>-f<i>'")
        cell = (int(match["repeat"] or 0), int(match["fold"]))
        if cell in cells:
            raise ConfigError(f"fold names {cells[cell]!r} and {name!r} name the same fold")
        cells[cell] = name
    repeats = sorted({repeat for repeat, _ in cells})
    folds = sorted({fold for _, fold in cells})
    if len(cells) != len(repeats) * len(folds):
        raise ConfigError(
            f"fold names {sorted(names)} do not form a full repeats x folds grid "
            f"({len(repeats)} x {len(folds)})"
        )
    return FoldGrid(len(repeats), len(folds), tuple(cells[key] for key in sorted(cells)))
