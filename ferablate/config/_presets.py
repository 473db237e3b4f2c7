"""Named model presets: plain data, merged under a config's other ``model.*`` keys.

The two ``report-*`` presets are the final models of the report's appendix (Figure 7) and
must keep their exact parameter counts (700,439 and 1,714,183; checked by the tests).
"""

from __future__ import annotations

import copy
from typing import Any

from ferablate._errors import ConfigError

__all__ = ["MODEL_PRESETS", "preset_model_dict"]

MODEL_PRESETS: dict[str, dict[str, Any]] = {
    # Model 1 final: six 3x3 convs 8..256, BN + ELU, "no mp" after l1, dense 128-64-32-16-7.
    "report-model1": {
        "family": "sequential",
        "convs": [
            {"channels": 8, "pool": False, "dropout": False},
            {"channels": 16},
            {"channels": 32},
            {"channels": 64, "pool": False},
            {"channels": 128},
            {"channels": 256},
        ],
        "dense": [128, 64, 32, 16],
        "batch_norm": True,
        "activation": "elu",
        "dropout": 0.2,  # p is not stated in the report; it does not change the parameter count
    },
    # Model 2 final: 7x7 stem, three inception blocks, 1x1 head 64, dense 32-7, dropout 0.1.
    "report-model2": {
        "family": "inception",
        "stem_channels": 8,
        "stem_kernel": 7,
        "blocks": [
            {"branches": [16, 32, 32, 16], "out": 32, "dropout": True},
            {"branches": [64, 128, 128, 64], "out": 64, "pool": True, "dropout": True},
            {"branches": [128, 256, 256, 128], "out": 256, "pool": True},
        ],
        "head_channels": 64,
        "dense": [32],
        "batch_norm": True,
        "activation": "elu",
        "dropout": 0.1,
        "dense_dropout": True,
    },
    # The report's model-1 ablation baseline: 3 blocks 8/16/32 with max-pool, dense 32, ReLU, BN.
    "baseline-model1": {
        "family": "sequential",
        "convs": [{"channels": 8}, {"channels": 16}, {"channels": 32}],
        "dense": [32],
        "batch_norm": True,
        "activation": "relu",
        "dropout": 0.0,
    },
}


def preset_model_dict(name: str) -> dict[str, Any]:
    """Return a fresh copy of preset ``name``'s model dict (with ``preset`` set)."""
    try:
        preset = MODEL_PRESETS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, MODEL_PRESETS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(
            f"unknown model preset '{name}'{hint} (known: {', '.join(sorted(MODEL_PRESETS))})"
        ) from None
    return {**copy.deepcopy(preset), "preset": name}
