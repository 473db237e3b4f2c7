"""What this machine resolves ``train.device: auto`` and ``train.precision: auto`` to, without torch.

The engine trains with these answers and a trial's identity hashes them (a trial with
``precision: auto`` on a bf16 machine *is* a bf16 trial), so both ask here. Importing torch
costs seconds: a machine without an NVIDIA or AMD GPU device node is answered from ``/proc``
alone, so that the skip check of a finished sweep stays fast.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Literal

__all__ = [
    "Precision",
    "cpu_has_fast_bf16",
    "cuda_available",
    "resolved_device",
    "resolved_precision",
]

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


def _gpu_device_nodes() -> bool:
    return any(Path("/dev").glob("nvidia[0-9]*")) or Path("/dev/kfd").exists()


def cuda_available() -> bool:
    """``torch.cuda.is_available()``, without importing torch on a Linux machine that has no
    GPU device node (there CUDA cannot be available)."""
    if sys.platform == "linux" and not _gpu_device_nodes():
        return False
    import torch

    return bool(torch.cuda.is_available())


def resolved_device(requested: str) -> Literal["cpu", "cuda"]:
    """``auto`` -> ``cuda`` when available, else ``cpu``; an explicit device as given."""
    if requested == "auto":
        return "cuda" if cuda_available() else "cpu"
    return "cuda" if requested == "cuda" else "cpu"


def resolved_precision(requested: str, device: str, *, cpu_bf16: bool | None = None) -> Precision:
    """``auto`` -> bf16 on a CUDA device with bf16 support and on CPUs with AMX/AVX-512 bf16,
    else fp32; ``fp32``/``bf16`` as given. ``device`` is ``cpu`` or ``cuda`` (resolved);
    ``cpu_bf16`` overrides the CPU flag probe (for tests)."""
    if requested in ("fp32", "bf16"):
        return "bf16" if requested == "bf16" else "fp32"
    if device == "cuda":
        if not cuda_available():
            return "fp32"  # training refuses it; the identity needs a value all the same
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    has_bf16 = cpu_has_fast_bf16() if cpu_bf16 is None else cpu_bf16
    return "bf16" if has_bf16 else "fp32"
