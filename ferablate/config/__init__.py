"""Config layer: frozen, validated trial configs, presets and sweep files (no torch here)."""

from __future__ import annotations

from ferablate.config._presets import MODEL_PRESETS, preset_model_dict
from ferablate.config._sweep import (
    SearchDim,
    Sweep,
    Trial,
    Variant,
    apply_patch,
    config_hash,
    diff_configs,
    expand_sweep,
    flatten_config,
    load_sweep,
    parse_overrides,
    parse_sweep,
    resolve_preset,
    resolve_trial,
)
from ferablate.config._types import (
    NUM_CLASSES,
    ConvLayerConfig,
    DataConfig,
    InceptionBlockConfig,
    InceptionConfig,
    ModelConfig,
    SequentialConfig,
    TrainConfig,
    TrialConfig,
)
from ferablate.config._validate import known_keys, validate_trial

CLASS_NAMES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

__all__ = [
    "CLASS_NAMES",
    "MODEL_PRESETS",
    "NUM_CLASSES",
    "ConvLayerConfig",
    "DataConfig",
    "InceptionBlockConfig",
    "InceptionConfig",
    "ModelConfig",
    "SearchDim",
    "SequentialConfig",
    "Sweep",
    "TrainConfig",
    "Trial",
    "TrialConfig",
    "Variant",
    "apply_patch",
    "config_hash",
    "diff_configs",
    "expand_sweep",
    "flatten_config",
    "known_keys",
    "load_sweep",
    "parse_overrides",
    "parse_sweep",
    "preset_model_dict",
    "resolve_preset",
    "resolve_trial",
    "validate_trial",
]
