"""Device and precision selection (pure functions of the config and the machine)."""

from __future__ import annotations

import torch

from ferablate._errors import ConfigError
from ferablate._machine import Precision, cpu_has_fast_bf16, resolved_precision

__all__ = ["Precision", "cpu_has_fast_bf16", "select_device", "select_precision"]


def select_device(requested: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cuda`` without a GPU is a clear error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "train.device=cuda but no CUDA device is available; use train.device=auto or cpu"
        )
    if requested not in ("cpu", "cuda"):
        raise ConfigError(f"train.device must be auto, cpu or cuda, got '{requested}'")
    return torch.device(requested)


def select_precision(
    requested: str, device: torch.device, *, cpu_bf16: bool | None = None
) -> Precision:
    """``auto`` -> bf16 autocast on CUDA (with bf16 support) and on CPUs with AMX/AVX-512 bf16, else fp32.

    ``cpu_bf16`` overrides the CPU flag probe (for tests).
    """
    if requested not in ("auto", "fp32", "bf16"):
        raise ConfigError(f"train.precision must be auto, fp32 or bf16, got '{requested}'")
    if requested == "auto" and device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return resolved_precision(requested, device.type, cpu_bf16=cpu_bf16)
