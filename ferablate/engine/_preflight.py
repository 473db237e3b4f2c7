"""Checks of a trial against its data before anything is trained or tracked.

What can be known before the first step must fail before the first run is written: a network
whose max-pools leave nothing to pool, folds that cannot hold a face of every class, or
``train.device: cuda`` on a machine without CUDA. The first two are plain arithmetic on the
config and the Training labels (no torch), so a runner calls :func:`check_trial` for every
pending trial right after loading the data; :func:`check_device` runs even before the store is
read. A network too big for the machine's memory is refused the same way
(:func:`check_model_size`: the model is built on torch's ``meta`` device, which allocates
nothing).
"""

from __future__ import annotations

import os

import numpy as np

from ferablate._errors import ConfigError, DataError
from ferablate.config import CLASS_NAMES, NUM_CLASSES, TrialConfig, feature_map_problem

__all__ = ["check_device", "check_model_size", "check_trial"]

# fp32 weights, their gradients and Adam's two moments: 4 copies of 4 bytes per parameter
_BYTES_PER_PARAMETER = 16


def check_device(device: str, *, where: str = "") -> None:
    """Raise ConfigError if ``train.device`` names a device this machine lacks (``cuda``
    without CUDA). ``auto`` and ``cpu`` need no look (and no torch import)."""
    if device in ("auto", "cpu"):
        return
    from ferablate.engine._device import select_device

    try:
        select_device(device)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}" if where else str(exc)) from None


def check_trial(
    config: TrialConfig, labels: np.ndarray, *, cross_validated: bool = True, where: str = ""
) -> None:
    """Raise ConfigError (DataError for no faces) naming the key to change, if ``config``
    cannot train on Training faces with ``labels`` ((N,) int, class indices).

    ``cross_validated``: the trial splits the faces into ``train.folds`` stratified folds, so
    every class present needs at least that many faces (after the report protocol's pre-split
    copies, which bring every class up to the largest). ``where`` prefixes the message.
    """
    prefix = f"{where}: " if where else ""
    check_device(config.train.device, where=where)
    if (shape := feature_map_problem(config.model)) is not None:
        key, message = shape
        raise ConfigError(f"{prefix}key '{key}': {message}")
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=NUM_CLASSES)
    if not counts.any():
        raise DataError(f"{prefix}no Training faces to train on")
    if not cross_validated:
        return
    folds, present = config.train.folds, np.flatnonzero(counts)
    smallest = int(present[np.argmin(counts[present])])
    faces = int(counts.max() if config.data.balance == "report" else counts[smallest])
    if faces < folds:
        limit = f" at data.limit={config.data.limit}" if config.data.limit is not None else ""
        raise ConfigError(
            f"{prefix}train.folds={folds} needs at least {folds} Training faces of every class, "
            f"but '{CLASS_NAMES[smallest]}' has {faces} of {int(counts.sum())} faces{limit}; "
            "raise data.limit or lower train.folds"
        )


def check_model_size(config: TrialConfig, *, where: str = "", memory: int | None = None) -> None:
    """Raise ConfigError if the fold models of ``config`` cannot fit in ``memory`` bytes.

    The estimate is a lower bound: parameters x 16 bytes (weights, gradients, Adam's moments)
    x the fold models trained at once (all of them when ``train.pack_folds``), activations not
    counted. ``memory`` defaults to the GPU's (CUDA) or the machine's physical memory.
    """
    import torch

    from ferablate.models import count_parameters, create_model

    with torch.device("meta"):  # shapes only: no memory is allocated
        parameters = int(count_parameters(create_model(config.model)))
    train = config.train
    models = train.folds * train.repeats if train.pack_folds else 1
    needed = parameters * _BYTES_PER_PARAMETER * models
    available = _memory(train.device) if memory is None else memory
    if needed > available:
        prefix = f"{where}: " if where else ""
        raise ConfigError(
            f"{prefix}the model has {parameters:,} parameters: training {models} fold model(s) "
            f"needs at least {_size(needed)}, more than the {_size(available)} of memory here; "
            "make model.dense or the conv channels smaller"
        )


def _memory(device: str) -> int:
    import torch

    if device != "cpu" and torch.cuda.is_available():
        return int(torch.cuda.get_device_properties(0).total_memory)
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024:
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} TB"
