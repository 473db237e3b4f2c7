"""A trial's identity: its data and the resolved settings that change its numbers, nothing else.

Two trials with the same identity are the same experiment: a re-run skips it, every reader
(``table``, ``compare``, ``status``) shows its stored run. The identity is the sha256 (16 hex
digits) of the canonical JSON of :func:`identity_fields`:

- every dotted config key (``flatten_config``) except :data:`IDENTITY_EXCLUDED`, the keys that
  cannot change a trial's numbers;
- ``train.precision`` *resolved* on the machine (``auto`` -> ``fp32`` / ``bf16``): the caller
  passes it in, the config layer knows no machine;
- ``data.fingerprint``: the content hash of the faces (a file's sha256, or the synthetic
  generator's settings) instead of where they lie, again passed in by the caller;
- the keys of :data:`IDENTITY_NEUTRAL` (fields added after :data:`IDENTITY_VERSION`) only
  while they hold a value other than their neutral one, the value that reproduces the older
  behaviour: adding a field with its neutral default changes no stored trial's identity,
  while a default whose value changes does change it (the value is hashed, not "default").

Why each key is excluded is said next to it, and in ``docs/tracking.md`` ("Trial identity").
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ferablate.config._types import TrialConfig

__all__ = [
    "IDENTITY_EXCLUDED",
    "IDENTITY_NEUTRAL",
    "IDENTITY_VERSION",
    "identity_differences",
    "identity_fields",
    "legacy_config_hash",
    "trial_identity",
]

IDENTITY_VERSION = 2  # 1: sha256 of every config field with its default (ferablate <= 0.x)

# Dotted keys (``*`` matches one list index) that never enter a trial's identity.
IDENTITY_EXCLUDED: frozenset[str] = frozenset(
    {
        "data.path",  # where the faces lie: data.fingerprint says what they are
        "data.source",  # implied by the fingerprint (a file's hash, or synthetic-…)
        "data.synthetic_size",  # synthetic: in the fingerprint; other sources: unused
        "data.seed",  # synthetic: in the fingerprint; with data.limit: added back (it seeds the subset)
        "model.preset",  # the name a model started from: informational once resolved
        "train.device",  # CPU or CUDA: the same arithmetic up to rounding, like two CPU models
        "train.pack_folds",  # packed and sequential folds are tested to agree
        "train.eval_batch_size",  # evaluation in eval mode: batch size changes no prediction
        "train.diverge_loss",  # when a loss counts as exploded: marks a trial, changes no number
    }
)

# Fields added after IDENTITY_VERSION -> their neutral value (the older behaviour): a field is
# left out of the identity while it holds this value. Add a new result-affecting field here,
# one that changes no number (a threshold for marking, a speed knob) to IDENTITY_EXCLUDED.
IDENTITY_NEUTRAL: Mapping[str, Any] = {}


def _matches(key: str, patterns: frozenset[str] | Mapping[str, Any]) -> str | None:
    """The pattern ``key`` matches (``*`` standing for one dotted part), else None."""
    if key in patterns:
        return key
    parts = key.split(".")
    for pattern in patterns:
        split = pattern.split(".")
        if (
            "*" in pattern
            and len(split) == len(parts)
            and all(fnmatch.fnmatchcase(p, q) for p, q in zip(parts, split, strict=True))
        ):
            return pattern
    return None


def identity_fields(
    config: TrialConfig, *, data_fingerprint: str, precision: str
) -> dict[str, Any]:
    """The dotted keys and values a trial's identity hashes (see the module docstring).

    ``data_fingerprint`` is the content hash of the faces (``FaceData.content_hash``) and
    ``precision`` the resolved ``train.precision`` (``fp32`` or ``bf16``).
    """
    from ferablate.config._sweep import flatten_config  # _sweep imports this module

    fields: dict[str, Any] = {}
    for key, value in flatten_config(config).items():
        if _matches(key, IDENTITY_EXCLUDED) is not None:
            continue
        neutral = _matches(key, IDENTITY_NEUTRAL)
        if neutral is not None and value == IDENTITY_NEUTRAL[neutral]:
            continue
        fields[key] = value
    if config.data.limit is not None:
        fields["data.seed"] = config.data.seed  # seeds the stratified subset
    fields["train.precision"] = precision
    fields["data.fingerprint"] = data_fingerprint
    return fields


def trial_identity(config: TrialConfig, *, data_fingerprint: str, precision: str) -> str:
    """The identity of a trial: sha256 of :func:`identity_fields`, 16 hex digits."""
    fields = identity_fields(config, data_fingerprint=data_fingerprint, precision=precision)
    canonical = json.dumps(
        {"identity": IDENTITY_VERSION, "fields": fields}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def identity_differences(mine: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """The identity fields (of :func:`identity_fields`) whose value in ``other`` differs from
    ``mine``: key -> ``other``'s value (``None`` where ``other`` lacks the key)."""
    return {
        key: other.get(key)
        for key in sorted(set(mine) | set(other))
        if mine.get(key, _ABSENT) != other.get(key, _ABSENT)
    }


_ABSENT = object()


def legacy_config_hash(config: TrialConfig) -> str:
    """Identity version 1 (the ``ferablate.config_hash`` of runs written before version 2):
    sha256 of the whole config's canonical JSON, 16 hex digits. Kept to read and test old
    stores; never used to match trials."""
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
