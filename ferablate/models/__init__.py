"""Models layer: config-driven CNN families, fold packing and layer tables.

``create_model(config_or_preset, folds=k)`` is the one way in. ``folds=1`` gives the ordinary
network (input (B, 1, 48, 48), output (B, 7)); ``folds=k`` packs k independent copies into one
module (input (B, k, 48, 48), channel f = fold f's face; output (B, k, 7)).
"""

from __future__ import annotations

# The family modules register their builders on import.
from ferablate.models._inception import InceptionBlock, build_inception
from ferablate.models._layers import (
    ELU,
    INPUT_SIZE,
    Dropout,
    FerNet,
    FoldConv2d,
    FoldFlatten,
    FoldLinear,
    fold_cat,
)
from ferablate.models._packing import pack_fold_states, unpack_fold_state
from ferablate.models._registry import (
    count_parameters,
    create_model,
    list_models,
    list_presets,
    register_model,
    resolve_model_config,
)
from ferablate.models._sequential import build_sequential
from ferablate.models._summary import LayerRow, LayerTable, layer_table

__all__ = [
    "ELU",
    "INPUT_SIZE",
    "Dropout",
    "FerNet",
    "FoldConv2d",
    "FoldFlatten",
    "FoldLinear",
    "InceptionBlock",
    "LayerRow",
    "LayerTable",
    "build_inception",
    "build_sequential",
    "count_parameters",
    "create_model",
    "fold_cat",
    "layer_table",
    "list_models",
    "list_presets",
    "pack_fold_states",
    "register_model",
    "resolve_model_config",
    "unpack_fold_state",
]
