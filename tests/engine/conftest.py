"""Shared engine fixtures: one thread, and learnable synthetic faces."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One thread: oneDNN's reductions then run in one fixed order (and tests share 2 cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def template_faces(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy faces of 7 class templates: learnable in a few seconds, but not trivially."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 7)
    rows, cols = np.mgrid[0:48, 0:48]
    templates = np.stack(
        [128 + 60 * np.sin(cols / (3 + c) + c) * np.cos(rows / (4 + c)) for c in range(7)]
    )
    images = templates[labels] + rng.normal(0.0, 60.0, (len(labels), 48, 48))
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64)


@pytest.fixture(scope="session")
def make_faces() -> Callable[[int, int], tuple[np.ndarray, np.ndarray]]:
    """:func:`template_faces` for tests that need their own (size, seed)."""
    return template_faces


@pytest.fixture(scope="session")
def faces() -> tuple[np.ndarray, np.ndarray]:
    """700 template faces (see :func:`template_faces`)."""
    return template_faces(700, 0)
