"""Device and precision selection (pure functions of the config and the machine)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import torch

from ferablate._errors import ConfigError

__all__ = ["Precision", "cpu_has_fast_bf16", "select_device", "select_precision"]

Precision = Literal["fp32", "bf16"]

# CPU flags that make bf16 matmuls/convs faster than fp32 (AMX tiles or AVX-512 BF16).
_BF16_CPU_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """True when this CPU has AMX or AVX-512 bf16 (read once from /proc/cpuinfo; Linux only)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(_BF16_CPU_FLAGS & set(line.split(":", 1)[1].split()))
    return False


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
    if requested in ("fp32", "bf16"):
        return "bf16" if requested == "bf16" else "fp32"
    if requested != "auto":
        raise ConfigError(f"train.precision must be auto, fp32 or bf16, got '{requested}'")
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    has_bf16 = cpu_has_fast_bf16() if cpu_bf16 is None else cpu_bf16
    return "bf16" if has_bf16 else "fp32"
