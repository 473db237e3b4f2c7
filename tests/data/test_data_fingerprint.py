"""A data config's fingerprint: the faces' content hash, cheap on a re-run, blind to the path."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import ferablate.data._cache as cache_module
from ferablate.config import DataConfig
from ferablate.data import data_fingerprint, load_data

HEADER = "emotion,pixels,Usage"


def write_csv(path: Path, seed: int, per_class: int = 6) -> Path:
    """A tiny FER2013 CSV (Kaggle layout): ``per_class`` Training faces of each emotion."""
    rng = np.random.default_rng(seed)
    rows = [HEADER]
    for label in range(7):
        for _ in range(per_class):
            pixels = " ".join(str(v) for v in rng.integers(0, 256, 48 * 48))
            rows.append(f"{label},{pixels},Training")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_fingerprint_is_the_content_hash_and_ignores_the_path(tmp_path: Path) -> None:
    first = write_csv(tmp_path / "a.csv", seed=1)
    config = DataConfig(source="fer2013", path=str(first))
    fingerprint = data_fingerprint(config)
    assert fingerprint == load_data(config).content_hash
    moved = tmp_path / "elsewhere" / "renamed.csv"
    moved.parent.mkdir()
    shutil.move(first, moved)
    assert data_fingerprint(DataConfig(source="fer2013", path=str(moved))) == fingerprint
    other = write_csv(tmp_path / "b.csv", seed=2)
    assert data_fingerprint(DataConfig(source="fer2013", path=str(other))) != fingerprint


def test_the_file_hash_is_cached_by_path_size_and_mtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(tmp_path / "a.csv", seed=1)
    config = DataConfig(source="fer2013", path=str(path))
    first = data_fingerprint(config)
    reads: list[Path] = []
    real = cache_module.file_sha256
    monkeypatch.setattr(cache_module, "file_sha256", lambda p: reads.append(p) or real(p))
    assert data_fingerprint(config) == first and reads == []  # a stat, no read
    write_csv(path, seed=3)  # replaced in place: other content
    os.utime(path, ns=(1, 1))  # even with an old mtime the size or mtime moved
    assert data_fingerprint(config) != first and reads == [path]


def test_synthetic_fingerprint_is_the_generator_settings_not_the_path() -> None:
    config = DataConfig(synthetic_size=140, seed=2)
    assert data_fingerprint(config) == load_data(config).content_hash
    assert data_fingerprint(DataConfig(synthetic_size=140, seed=2, path="x")) == data_fingerprint(
        config
    )
    assert data_fingerprint(DataConfig(synthetic_size=140, seed=3)) != data_fingerprint(config)
