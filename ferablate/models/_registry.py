"""Family name -> builder table and :func:`create_model`, the one way to build a network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from ferablate._errors import ConfigError
from ferablate.config import (
    MODEL_PRESETS,
    InceptionConfig,
    ModelConfig,
    SequentialConfig,
    apply_patch,
    preset_model_dict,
    validate_trial,
)

__all__ = [
    "count_parameters",
    "create_model",
    "list_models",
    "list_presets",
    "register_model",
    "resolve_model_config",
]

Builder = Callable[[Any, int], nn.Module]  # (family config, folds) -> module
BuilderT = TypeVar("BuilderT", bound=Builder)

_BUILDERS: dict[str, Builder] = {}


def register_model(family: str) -> Callable[[BuilderT], BuilderT]:
    """Decorator: register ``builder(config, folds)`` for configs with ``family == family``."""

    def register(builder: BuilderT) -> BuilderT:
        if family in _BUILDERS:
            raise ValueError(f"model family '{family}' is already registered")
        _BUILDERS[family] = builder
        return builder

    return register


def list_models() -> list[str]:
    """Registered model families."""
    return sorted(_BUILDERS)


def list_presets() -> list[str]:
    """Named model presets (``create_model(name)``)."""
    return sorted(MODEL_PRESETS)


def resolve_model_config(config: ModelConfig | str, overrides: dict[str, Any]) -> ModelConfig:
    """A validated model config from a config or preset name, with ``overrides`` patched in.

    Override keys are model keys, dotted for nested items (``"convs.1.groups"``).
    """
    if not overrides and isinstance(config, SequentialConfig | InceptionConfig):
        return config
    if isinstance(config, str):
        where = f"model preset '{config}'"
        model = preset_model_dict(config)
    else:
        where = f"model '{config.preset or config.family}'"
        model = config.model_dump(mode="json")
    raw: dict[str, Any] = {"model": model}
    for key, value in overrides.items():
        apply_patch(raw, f"model.{key}", value, where)
    return validate_trial(raw, where).model


def create_model(config: ModelConfig | str, *, folds: int = 1, **overrides: Any) -> nn.Module:
    """Build the network ``config`` describes (a preset name or a model config).

    ``folds=k`` packs k independent copies into one module: input (B, k, 48, 48), output
    (B, k, 7); ``folds=1`` is the ordinary network: input (B, 1, 48, 48), output (B, 7).
    """
    if folds < 1:
        raise ConfigError(f"folds must be at least 1, got {folds}")
    resolved = resolve_model_config(config, overrides)
    if resolved.family not in _BUILDERS:
        raise ConfigError(
            f"no builder for model family '{resolved.family}' (registered: {', '.join(list_models())})"
        )
    return _BUILDERS[resolved.family](resolved, folds)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (all of them; the presets have no frozen ones)."""
    return sum(parameter.numel() for parameter in model.parameters())
