"""What this machine resolves ``train.device: auto`` and ``train.precision: auto`` to, without torch.

The engine trains with these answers and a trial's identity hashes them (a trial with
``precision: auto`` on a bf16 machine *is* a bf16 trial), so both ask here. Importing torch
costs seconds: a machine without an NVIDIA or AMD GPU device node is answered from ``/proc``
alone, and a GPU machine's answer (CUDA available, bf16 supported) is asked of torch once per
boot and kept under ``$FERABLATE_CACHE``, so that the skip check of a finished sweep and the
read-only commands stay fast and torch-free. Whether a process of this machine lives is asked
here too, by claims (a run's owner) and the UI (its server's process group) alike.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Literal

__all__ = [
    "Precision",
    "cpu_has_fast_bf16",
    "cuda_available",
    "process_alive",
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


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return ""


@functools.cache
def _cuda_facts() -> tuple[bool, bool]:
    """(CUDA available, CUDA bf16 supported): torch's answer, cached per boot (hardware and
    drivers change only across a reboot) and per ``CUDA_VISIBLE_DEVICES``."""
    boot = _boot_id()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "*")
    configured = os.environ.get("FERABLATE_CACHE")
    folder = Path(configured).expanduser() if configured else Path.home() / ".cache" / "ferablate"
    key = hashlib.sha256(f"{boot}\0{visible}".encode()).hexdigest()[:16]
    entry = folder / "machine" / f"cuda-{key}.json"
    if boot:
        try:
            cached = json.loads(entry.read_text(encoding="utf-8"))
            return bool(cached["available"]), bool(cached["bf16"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    import torch

    available = bool(torch.cuda.is_available())
    bf16 = available and bool(torch.cuda.is_bf16_supported())
    if boot:
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            temp = entry.with_suffix(f".{os.getpid()}.tmp")
            temp.write_text(json.dumps({"available": available, "bf16": bf16}), encoding="utf-8")
            temp.replace(entry)
        except OSError:
            pass  # asked again next time
    return available, bf16


def cuda_available() -> bool:
    """``torch.cuda.is_available()``, without importing torch on a Linux machine that has no
    GPU device node (there CUDA cannot be available), nor twice in one boot (cached)."""
    if sys.platform == "linux" and not _gpu_device_nodes():
        return False
    return _cuda_facts()[0]


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
        return "bf16" if _cuda_facts()[1] else "fp32"
    has_bf16 = cpu_has_fast_bf16() if cpu_bf16 is None else cpu_bf16
    return "bf16" if has_bf16 else "fp32"


def process_alive(pid: int, *, group: bool = False) -> bool:
    """Whether process ``pid`` of this host lives (with ``group``: any process of group ``pid``).

    A zombie (dead, not yet reaped by its parent) does not live, though ``kill(pid, 0)`` still
    finds it; a process another user owns (``PermissionError``) does."""
    if pid <= 0:
        return False
    try:
        (os.killpg if group else os.kill)(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return group or not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:  # Linux: the state is the field after the parenthesised command name
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False  # no /proc (not Linux) or the process just ended: kill() decided
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
