"""The split key decides pairing: what changes the folds changes it, nothing else does."""

from __future__ import annotations

from typing import Any

import pytest

from ferablate import ConfigError
from ferablate.config import TrialConfig, validate_trial
from ferablate.stats import fold_grid, split_key

MODEL: dict[str, Any] = {"family": "sequential", "convs": [{"channels": 8}]}


def _config(**sections: dict[str, Any]) -> TrialConfig:
    return validate_trial({"model": MODEL, **sections}, "test")


BASE = split_key(_config(), "abc123")


@pytest.mark.parametrize(
    "sections",
    [
        {"train": {"seed": 7}},  # a seed re-run: same folds, paired with its parent
        {"train": {"epochs": 50, "lr": 1e-3}},
        {"model": {"family": "sequential", "convs": [{"channels": 16}], "activation": "elu"}},
        {"data": {"balance": "none"}},  # fold vs none: copies go into training folds only
    ],
)
def test_what_leaves_the_folds_alone_keeps_the_key(sections: dict[str, Any]) -> None:
    model = sections.pop("model", MODEL)
    config = validate_trial({"model": model, **sections}, "test")
    assert split_key(config, "abc123") == BASE


@pytest.mark.parametrize(
    "sections",
    [
        {"train": {"split_seed": 1}},
        {"train": {"folds": 4}},
        {"train": {"repeats": 3}},
        {"data": {"limit": 1000}},
        {"data": {"seed": 1}},
        {"data": {"balance": "report"}},  # copies drawn before splitting: other folds
        {"data": {"synthetic_size": 700}},
    ],
)
def test_what_changes_the_folds_changes_the_key(sections: dict[str, Any]) -> None:
    assert split_key(_config(**sections), "abc123") != BASE


def test_the_data_hash_is_part_of_the_key() -> None:
    assert split_key(_config(), "def456") != BASE
    hash(BASE)  # usable as a dict key


def test_fold_grid_reads_plain_and_repeated_names() -> None:
    plain = fold_grid({"f1", "f0", "f2"})
    assert (plain.repeats, plain.folds, plain.names) == (1, 3, ("f0", "f1", "f2"))
    names = {f"r{r}-f{f}" for r in range(2) for f in range(3)}
    repeated = fold_grid(names)
    assert (repeated.repeats, repeated.folds) == (2, 3)
    assert repeated.names[:4] == ("r0-f0", "r0-f1", "r0-f2", "r1-f0")
    tracked = fold_grid(
        {"1", "0", "10", "2", "3", "4", "5", "6", "7", "8", "9"}
    )  # ferablate.fold tags
    assert (tracked.repeats, tracked.folds) == (1, 11) and tracked.names[-2:] == ("9", "10")


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ({"f0", "fold-1"}, "'fold-1' is none of"),
        ({"r0-f0", "r0-f1", "r1-f0"}, "full repeats x folds"),
        ({"0", "f0", "1"}, "name the same fold"),
    ],
)
def test_fold_grid_rejects_bad_names(names: set[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        fold_grid(names)
