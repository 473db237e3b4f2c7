"""Config layer: frozen, validated trial configs, presets and sweep files (no torch here)."""

from __future__ import annotations

from ferablate.config._identity import (
    IDENTITY_EXCLUDED,
    IDENTITY_NEUTRAL,
    IDENTITY_VERSION,
    identity_differences,
    identity_fields,
    legacy_config_hash,
    trial_identity,
)
from ferablate.config._presets import MODEL_PRESETS, preset_model_dict
from ferablate.config._sweep import (
    SearchDim,
    Sweep,
    Trial,
    Variant,
    apply_patch,
    diff_configs,
    expand_sweep,
    experiment_name,
    flatten_config,
    load_sweep,
    parse_overrides,
    parse_sweep,
    resolve_preset,
    resolve_trial,
    search_space_problems,
    select_trial,
)
from ferablate.config._types import (
    IMAGE_SIZE,
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
from ferablate.config._validate import feature_map_problem, validate_trial
from ferablate.config._yaml import UniqueKeyLoader, load_yaml

CLASS_NAMES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

__all__ = [
    "CLASS_NAMES",
    "IDENTITY_EXCLUDED",
    "IDENTITY_NEUTRAL",
    "IDENTITY_VERSION",
    "IMAGE_SIZE",
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
    "UniqueKeyLoader",
    "Variant",
    "apply_patch",
    "diff_configs",
    "expand_sweep",
    "experiment_name",
    "feature_map_problem",
    "flatten_config",
    "identity_differences",
    "identity_fields",
    "legacy_config_hash",
    "load_sweep",
    "load_yaml",
    "parse_overrides",
    "parse_sweep",
    "preset_model_dict",
    "resolve_preset",
    "resolve_trial",
    "search_space_problems",
    "select_trial",
    "trial_identity",
    "validate_trial",
]
