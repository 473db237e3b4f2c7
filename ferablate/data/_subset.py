"""A seeded, stratified subset of the Training faces (``data.limit``): quick runs, same mix."""

from __future__ import annotations

import dataclasses

import numpy as np

from ferablate._errors import DataError
from ferablate._logging import get_logger
from ferablate.data._facedata import CLASS_NAMES, FaceData

__all__ = ["stratified_limit"]

_log = get_logger(__name__)
_warned: set[tuple[str, int]] = set()  # (data, limit) already told about: say it once


def stratified_limit(data: FaceData, limit: int, seed: int) -> FaceData:
    """Keep ``limit`` Training faces in their class proportions; the test splits stay whole.

    ``limit`` at or above the Training size returns ``data`` unchanged (above it, with a
    warning, once per data set and limit). Faces keep their original order. A limit too small
    to hold one face of every class is a DataError.
    """
    from sklearn.model_selection import train_test_split  # deferred: sklearn imports slowly

    training = np.flatnonzero(data.usage == "Training")
    if limit >= training.size:
        if limit > training.size and (data.content_hash, limit) not in _warned:
            _warned.add((data.content_hash, limit))
            _log.warning(
                "data.limit=%d is more than the %d Training faces of %s; using all %d",
                limit, training.size, data.source, training.size,
            )  # fmt: skip
        return data
    labels = data.labels[training]
    classes, class_sizes = np.unique(labels, return_counts=True)
    if class_sizes.min() < 2:
        rare = CLASS_NAMES[int(classes[np.argmin(class_sizes)])]
        raise DataError(
            f"data.limit={limit}: class {rare!r} has a single Training face, too few to draw a "
            "stratified subset; remove data.limit"
        )
    if limit < classes.size:
        raise DataError(
            f"data.limit={limit} cannot hold every class of the {training.size} Training faces "
            f"({classes.size} classes); raise data.limit to at least {classes.size} or remove it"
        )
    kept, _ = train_test_split(
        training, train_size=limit, stratify=labels, random_state=seed % 2**32
    )
    keep = data.usage != "Training"
    keep[kept] = True  # a mask keeps the original order
    return dataclasses.replace(
        data,
        images=data.images[keep],
        labels=data.labels[keep],
        usage=data.usage[keep],
        source=f"{data.source}, {limit} Training faces (stratified, seed {seed})",
    )
