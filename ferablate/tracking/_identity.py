"""Trial identity on this machine and in the store (the rule itself: ``config/_identity.py``).

A sweep's trials are identified with the fingerprint of their data (``data.data_fingerprint``)
and ``train.precision`` resolved here (``ferablate._machine``, no torch on a CPU machine). A
stored run's identity is its ``ferablate.config_hash`` tag when the run says it was written
under :data:`~ferablate.config.IDENTITY_VERSION` (tag ``ferablate.identity``); a run written
before (identity version 1: the hash of the whole config) is identified from what it stored:
its config, its data hash and the precision it trained in. So old stores keep working and
nothing is rewritten; see "Trial identity" in ``docs/tracking.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from ferablate._machine import resolved_device, resolved_precision
from ferablate.config import (
    IDENTITY_VERSION,
    DataConfig,
    TrainConfig,
    Trial,
    TrialConfig,
    identity_fields,
    trial_identity,
)
from ferablate.tracking._store import TAG

__all__ = [
    "Fingerprint",
    "identify_trials",
    "identity_of",
    "is_legacy_run",
    "machine_precision",
    "run_identity",
    "run_identity_fields",
]

Fingerprint = Callable[[DataConfig], str]


def machine_precision(train: TrainConfig) -> str:
    """``train.precision`` as this machine resolves it for ``train.device`` (fp32 / bf16)."""
    return resolved_precision(train.precision, resolved_device(train.device))


def identity_of(config: TrialConfig, data_hash: str, precision: str | None = None) -> str:
    """A trial's identity on data ``data_hash``; ``precision`` (resolved) else this machine's."""
    return trial_identity(
        config,
        data_fingerprint=data_hash,
        precision=precision or machine_precision(config.train),
    )


def identify_trials(trials: Sequence[Trial], fingerprint: Fingerprint | None = None) -> list[Trial]:
    """``trials`` with their identity set: data fingerprinted (each distinct data config once;
    default ``data.data_fingerprint``, a DataError when the data is missing) and precision
    resolved on this machine."""
    if fingerprint is None:
        from ferablate.data import data_fingerprint

        fingerprint = data_fingerprint
    data: dict[DataConfig, str] = {}
    precision: dict[tuple[str, str], str] = {}
    identified = []
    for trial in trials:
        config = trial.config
        if config.data not in data:
            data[config.data] = fingerprint(config.data)
        key = (config.train.device, config.train.precision)
        if key not in precision:
            precision[key] = machine_precision(config.train)
        identity = identity_of(config, data[config.data], precision[key])
        identified.append(dataclasses.replace(trial, identity=identity))
    return identified


def is_legacy_run(tags: Mapping[str, str]) -> bool:
    """Whether a run was written under another identity version than this one."""
    return tags.get(TAG.IDENTITY, "") != str(IDENTITY_VERSION)


def _stored_config(tags: Mapping[str, str]) -> TrialConfig | None:
    raw = tags.get(TAG.CONFIG)
    if raw is None:
        return None
    try:
        return TrialConfig.model_validate_json(raw)
    except ValidationError:  # written by another version of ferablate: no identity here
        return None


def _stored_precision(tags: Mapping[str, str], config: TrialConfig) -> str:
    """What the run trained in (its tag), else what its config asks of this machine."""
    stored = tags.get(TAG.PRECISION, "")
    return stored if stored in ("fp32", "bf16") else machine_precision(config.train)


def run_identity(tags: Mapping[str, str]) -> str:
    """A stored trial run's identity under this version ("" when it cannot be known)."""
    if not is_legacy_run(tags):
        return tags.get(TAG.CONFIG_HASH, "")
    config = _stored_config(tags)
    if config is None:
        return ""
    return identity_of(config, tags.get(TAG.DATA_HASH, ""), _stored_precision(tags, config))


def run_identity_fields(tags: Mapping[str, str]) -> dict[str, Any] | None:
    """The identity fields of a stored run (None without a readable config)."""
    config = _stored_config(tags)
    if config is None:
        return None
    return identity_fields(
        config,
        data_fingerprint=tags.get(TAG.DATA_HASH, ""),
        precision=_stored_precision(tags, config),
    )
