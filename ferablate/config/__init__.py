"""Config layer: frozen, validated trial configs, presets and sweep files (no torch here)."""

from __future__ import annotations

from ferablate.config._presets import MODEL_PRESETS, preset_model_dict
from ferablate.config._sweep import (
    Claim,
    SearchDim,
    Sweep,
    Trial,
    Variant,
    apply_patch,
    config_hash,
    diff_configs,
    expand_sweep,
    experiment_name,
    flatten_config,
    load_sweep,
    parent_trials,
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
    "IMAGE_SIZE",
    "MODEL_PRESETS",
    "NUM_CLASSES",
    "Claim",
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
    "config_hash",
    "diff_configs",
    "expand_sweep",
    "experiment_name",
    "feature_map_problem",
    "flatten_config",
    "load_sweep",
    "load_yaml",
    "parent_trials",
    "parse_overrides",
    "parse_sweep",
    "preset_model_dict",
    "resolve_preset",
    "resolve_trial",
    "search_space_problems",
    "select_trial",
    "validate_trial",
]
