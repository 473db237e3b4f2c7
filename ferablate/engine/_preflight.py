"""Checks of a trial against its data before anything is trained or tracked.

What can be known before the first step must fail before the first run is written: a network
whose max-pools leave nothing to pool, folds that cannot hold a face of every class, or
``train.device: cuda`` on a machine without CUDA. The first two are plain arithmetic on the
config and the Training labels (no torch), so a runner calls :func:`check_trial` for every
pending trial right after loading the data; :func:`check_device` runs even before the store is
read.
"""

from __future__ import annotations

import numpy as np

from ferablate._errors import ConfigError, DataError
from ferablate.config import CLASS_NAMES, NUM_CLASSES, TrialConfig, feature_map_problem

__all__ = ["check_device", "check_trial"]


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
    shape = feature_map_problem(config.model)
    if shape is not None:
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
