"""Turn a CLI target (preset name or sweep file + variant) into a config."""

from __future__ import annotations

from ferablate.config import ModelConfig, preset_trial, sweep_target

__all__ = ["model_config_for"]


def model_config_for(target: str, variant: str | None) -> ModelConfig:
    """A preset name, or a sweep file (+ variant), as a validated model config."""
    found = sweep_target(target, variant)
    return (found[1] if found is not None else preset_trial(target)).config.model
