"""Synthetic faces: deterministic, FER-shaped, not blank, and carrying class in the geometry."""

from __future__ import annotations

import numpy as np
import pytest

from ferablate.config import DataConfig
from ferablate.data import (
    CLASS_NAMES,
    FER2013_TRAINING_COUNTS,
    USAGES,
    class_counts,
    load_synthetic,
    synthetic_faces,
)
from ferablate.data._synthetic import _render


@pytest.fixture(scope="module")
def faces() -> tuple[np.ndarray, np.ndarray]:
    return synthetic_faces(1400, seed=3)


def test_same_seed_same_faces_other_seed_other_faces(faces: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = faces
    again_images, again_labels = synthetic_faces(1400, seed=3)
    np.testing.assert_array_equal(again_images, images)
    np.testing.assert_array_equal(again_labels, labels)
    other_images, other_labels = synthetic_faces(1400, seed=4)
    assert not np.array_equal(other_labels, labels)
    assert np.abs(other_images.astype(np.int16) - images).mean() > 20


def test_shapes_dtypes_and_label_range(faces: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = faces
    assert images.shape == (1400, 48, 48) and images.dtype == np.uint8
    assert labels.shape == (1400,) and labels.dtype == np.int64
    assert labels.min() == 0 and labels.max() == len(CLASS_NAMES) - 1
    assert not np.array_equal(labels, np.sort(labels))  # shuffled, not grouped by class


def test_class_proportions_follow_fer2013_training(faces: tuple[np.ndarray, np.ndarray]) -> None:
    _, labels = faces
    counts = np.bincount(labels, minlength=7)
    expected = 1400 * np.asarray(FER2013_TRAINING_COUNTS) / sum(FER2013_TRAINING_COUNTS)
    assert np.all(np.abs(counts - expected) < 1)
    assert counts.tolist() == class_counts(1400).tolist()


@pytest.mark.parametrize("n", [7, 8, 20, 100, 2800])
def test_class_counts_sum_and_keep_every_class(n: int) -> None:
    counts = class_counts(n)
    assert counts.sum() == n
    assert counts.min() >= 1
    assert counts[CLASS_NAMES.index("happy")] == counts.max()


def test_faces_are_not_blank(faces: tuple[np.ndarray, np.ndarray]) -> None:
    images, _ = faces
    per_face_std = images.reshape(len(images), -1).std(axis=1)
    assert per_face_std.min() > 5
    assert 40 < images.mean() < 215
    assert len(np.unique(images[:50].reshape(50, -1).mean(axis=1).round())) > 30  # varied tones


def _class_means(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.stack([images[labels == c].astype(np.float64).mean(axis=0) for c in range(7)])


def test_classes_differ_in_the_mouth_and_brow_regions(faces: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = faces
    means = _class_means(images, labels)  # (7, 48, 48)
    mouth = means[:, 30:42, 14:34]
    happy, sad, surprise, neutral = (
        CLASS_NAMES.index(c) for c in ("happy", "sad", "surprise", "neutral")
    )
    assert np.abs(mouth[happy] - mouth[sad]).mean() > 2
    assert np.abs(mouth[surprise] - mouth[neutral]).mean() > 2
    # Surprise's open mouth is darker at the mouth centre than a neutral closed one.
    assert means[surprise, 34:40, 21:27].mean() < means[neutral, 34:40, 21:27].mean() - 5


def test_a_horizontal_flip_keeps_the_class() -> None:
    per_class = 150
    labels = np.repeat(np.arange(7), per_class)
    images = _render(labels, np.random.default_rng(0)).astype(np.float64)
    # Standardise each face (tone and contrast are identity, not class) and keep the centre.
    images -= images.mean(axis=(1, 2), keepdims=True)
    images /= images.std(axis=(1, 2), keepdims=True)
    images = images[:, 8:44, 8:40]  # columns symmetric about the image centre
    means = _class_means(images, labels)  # (7, 36, 32)
    flipped = _class_means(images[:, :, ::-1], labels)
    distances = np.abs(flipped[:, None] - means[None, :]).mean(axis=(2, 3))  # (flipped, original)
    # Every class's mirror image looks like that class more than like any other.
    assert distances.argmin(axis=1).tolist() == list(range(7))


def test_load_synthetic_splits_and_identity() -> None:
    data = load_synthetic(DataConfig(synthetic_size=160, seed=5))
    counts = data.counts()
    assert counts["total"].to_dict() == {
        "Training": 160,
        "PublicTest": 20,
        "PrivateTest": 20,
        "total": 200,
    }
    assert data.usages == USAGES
    train_images, train_labels = data.split("Training")
    direct_images, direct_labels = synthetic_faces(160, seed=5)
    np.testing.assert_array_equal(train_images, direct_images)
    np.testing.assert_array_equal(train_labels, direct_labels)
    public, _ = data.split("PublicTest")
    private, _ = data.split("PrivateTest")
    assert not np.array_equal(public, private)
    assert not np.array_equal(public, train_images[:20])
    assert data.content_hash == load_synthetic(DataConfig(synthetic_size=160, seed=5)).content_hash
    assert data.content_hash != load_synthetic(DataConfig(synthetic_size=160, seed=6)).content_hash
    assert data.content_hash != load_synthetic(DataConfig(synthetic_size=168, seed=5)).content_hash


def test_negative_seed_and_tiny_sizes_work() -> None:
    data = load_synthetic(DataConfig(synthetic_size=7, seed=-1))
    assert len(data) == 7
    assert sorted(data.labels.tolist()) == list(range(7))
    images, labels = synthetic_faces(0, seed=0)
    assert images.shape == (0, 48, 48) and labels.shape == (0,)
