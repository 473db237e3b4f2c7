"""Trial identity: resolved, result-affecting settings plus the data's fingerprint (issue 19.1)."""

from __future__ import annotations

from typing import Any

import pytest

import ferablate.config._identity as identity_module
from ferablate.config import (
    IDENTITY_EXCLUDED,
    TrainConfig,
    TrialConfig,
    identity_fields,
    legacy_config_hash,
    trial_identity,
    validate_trial,
)

RAW: dict[str, Any] = {
    "data": {"source": "synthetic", "synthetic_size": 140},
    "model": {"family": "sequential", "convs": [{"channels": 4}], "dense": [8]},
    "train": {"folds": 2, "epochs": 1},
}


def _config(**sections: dict[str, Any]) -> TrialConfig:
    raw = {key: {**value, **sections.get(key, {})} for key, value in RAW.items()}
    return validate_trial(raw, "test")


def _id(config: TrialConfig, data: str = "faces", precision: str = "fp32") -> str:
    return trial_identity(config, data_fingerprint=data, precision=precision)


class _TrainWithSmoothing(TrainConfig):
    label_smoothing: float = 0.0  # a field added after this identity version


class _TrialWithSmoothing(TrialConfig):
    train: _TrainWithSmoothing = _TrainWithSmoothing()


class _TrainWithOtherLr(TrainConfig):
    lr: float = 1e-3  # the default of train.lr changed (1e-4 before)


class _TrialWithOtherLr(TrialConfig):
    train: _TrainWithOtherLr = _TrainWithOtherLr()


def test_a_new_field_at_its_neutral_default_keeps_every_identity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(identity_module, "IDENTITY_NEUTRAL", {"train.label_smoothing": 0.0})
    today = _config()
    upgraded = _TrialWithSmoothing.model_validate(today.model_dump())
    assert upgraded.train.label_smoothing == 0.0
    assert legacy_config_hash(upgraded) != legacy_config_hash(today)  # the old rule: retrain all
    assert _id(upgraded) == _id(today)
    smoothed = _TrialWithSmoothing.model_validate(
        {**today.model_dump(), "train": {**today.train.model_dump(), "label_smoothing": 0.1}}
    )
    assert _id(smoothed) != _id(today)  # set away from neutral: another trial


def test_a_default_whose_value_changes_changes_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    today = _config()
    raw = {**RAW, "train": dict(RAW["train"])}  # train.lr not given: the default decides
    assert _id(_TrialWithOtherLr.model_validate(raw)) != _id(today)
    # a neutral-value field whose default moves away from its neutral value, likewise
    monkeypatch.setattr(identity_module, "IDENTITY_NEUTRAL", {"train.label_smoothing": 0.1})
    assert _id(_TrialWithSmoothing.model_validate(raw)) != _id(today)


@pytest.mark.parametrize(
    ("section", "change"),
    [
        ("train", {"pack_folds": False}),
        ("train", {"eval_batch_size": 7}),
        ("train", {"device": "cpu"}),
        ("data", {"path": "/somewhere/else.csv"}),
        ("data", {"synthetic_size": 999}),  # the fingerprint carries it (given here unchanged)
        ("data", {"seed": 3}),  # likewise; without data.limit it seeds nothing else
        ("model", {"preset": "just-a-name"}),
    ],
)
def test_settings_that_change_no_number_keep_identity(section: str, change: dict[str, Any]) -> None:
    assert _id(_config(**{section: change})) == _id(_config())


@pytest.mark.parametrize(
    ("section", "change"),
    [
        ("train", {"epochs": 2}),
        ("train", {"seed": 1}),
        ("train", {"augment": False}),
        ("data", {"limit": 100}),
        ("data", {"balance": "none"}),
        ("model", {"dropout": 0.1}),
    ],
)
def test_result_affecting_settings_change_identity(section: str, change: dict[str, Any]) -> None:
    assert _id(_config(**{section: change})) != _id(_config())


def test_data_seed_counts_when_it_draws_the_subset() -> None:
    limited = _config(data={"limit": 100})
    assert _id(_config(data={"limit": 100, "seed": 1})) != _id(limited)


def test_data_and_resolved_precision_are_identity_the_requested_precision_is_not() -> None:
    config = _config()
    assert _id(config, data="a") != _id(config, data="b")
    assert _id(config, precision="bf16") != _id(config, precision="fp32")
    explicit = _config(train={"precision": "bf16"})
    assert _id(config, precision="bf16") == _id(explicit, precision="bf16")
    fields = identity_fields(config, data_fingerprint="a", precision="bf16")
    assert fields["train.precision"] == "bf16" and fields["data.fingerprint"] == "a"
    assert not any(key in IDENTITY_EXCLUDED for key in fields)


def test_a_list_pattern_excludes_the_key_in_every_item(monkeypatch: pytest.MonkeyPatch) -> None:
    two = _config(model={"convs": [{"channels": 4}, {"channels": 8}]})
    other = _config(model={"convs": [{"channels": 4, "dropout": False}, {"channels": 8}]})
    assert _id(two) != _id(other)
    monkeypatch.setattr(
        identity_module, "IDENTITY_EXCLUDED", IDENTITY_EXCLUDED | {"model.convs.*.dropout"}
    )
    assert _id(two) == _id(other)
