"""Turn a CLI target (preset name or sweep file + variant) into a config."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ferablate._errors import ConfigError
from ferablate.config import (
    ModelConfig,
    Sweep,
    Trial,
    TrialConfig,
    load_sweep,
    resolve_preset,
    select_trial,
    validate_trial,
)

__all__ = ["model_config_for", "preset_trial", "sweep_trial", "trial_for"]


def sweep_trial(
    sweep_path: str | Path, variant: str | None, overrides: Mapping[str, Any] | None = None
) -> tuple[Sweep, Trial]:
    """The sweep file and the trial of ``variant`` in it (default: the first), ``overrides`` applied."""
    sweep = load_sweep(sweep_path)
    return sweep, select_trial(sweep, variant, overrides)


def trial_for(sweep_path: str | Path, variant: str | None) -> Trial:
    """The trial of ``variant`` (default: the first) in the sweep file."""
    return sweep_trial(sweep_path, variant)[1]


def model_config_for(target: str, variant: str | None) -> ModelConfig:
    """A preset name, or a sweep file (+ variant), as a validated model config."""
    if target.endswith((".yaml", ".yml")) or Path(target).is_file():
        return trial_for(target, variant).config.model
    if Path(target).is_dir() or "/" in target:  # a path, never a preset name
        return trial_for(target, variant).config.model  # load_sweep names what is wrong
    if variant is not None:
        raise ConfigError("--variant goes with a sweep file, not a preset name")
    return preset_trial(target).model


def preset_trial(name: str) -> TrialConfig:
    """A trial config with default data/train sections and the model of preset ``name``."""
    where = f"preset '{name}'"
    return validate_trial(resolve_preset({"model": {"preset": name}}, where), where)
