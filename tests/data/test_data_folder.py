"""The image-folder loader: layout, decoding, errors naming the file, and the cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferablate import DataError
from ferablate.data import _folder as folder_module
from ferablate.data import load_image_folder, load_path


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("FERABLATE_CACHE", str(cache))
    return cache


def _save(path: Path, pixels: np.ndarray, mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode=mode).save(path)


def _gradient(value: int) -> np.ndarray:
    face = np.full((48, 48), value, dtype=np.uint8)
    face[0, 0] = 255 - value  # asymmetric, so a transposed or flipped read would show
    return face


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "fer"
    _save(root / "train" / "happy" / "a.png", _gradient(10))
    _save(root / "train" / "happy" / "b.PNG", _gradient(20))
    _save(root / "train" / "angry" / "c.png", _gradient(30))
    _save(root / "train" / "neutral" / "big.png", np.full((96, 96, 3), 90, dtype=np.uint8), "RGB")
    _save(root / "test" / "sad" / "d.png", _gradient(40))
    _save(root / "publictest" / "fear" / "e.png", _gradient(50))
    (root / "train" / "happy" / "notes.txt").write_text("not an image, skipped")
    (root / "train" / ".DS_Store").write_text("hidden, skipped")
    (root / "train" / "surprise").mkdir()  # an empty class folder is fine
    return root


def test_layout_is_read_in_a_fixed_order(tree: Path) -> None:
    data = load_image_folder(tree)
    assert data.images.shape == (6, 48, 48) and data.images.dtype == np.uint8
    # train/ (classes sorted by folder name), then test/, then publictest/
    assert data.labels.tolist() == [0, 3, 3, 6, 4, 2]
    assert data.usage.tolist() == ["Training"] * 4 + ["Test", "PublicTest"]
    assert data.images[1, 0, 0] == 245 and data.images[1, 1, 1] == 10
    assert data.usages == ("Training", "PublicTest", "Test")
    assert str(tree) in data.source
    np.testing.assert_array_equal(load_path(tree).labels, data.labels)


def test_other_sizes_and_colour_are_converted(tree: Path) -> None:
    data = load_image_folder(tree)
    resized = data.images[data.labels == 6][0]  # the 96x96 RGB face
    assert resized.shape == (48, 48)
    assert int(resized.min()) == int(resized.max()) == 90


def test_conversions_are_counted_in_one_warning(
    tree: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rgb = np.zeros((64, 64, 3), dtype=np.uint8)
    rgb[..., 0] = 255  # pure red: luminance 0.299 * 255 = 76
    _save(tree / "train" / "sad" / "rgb.png", rgb, "RGB")
    with caplog.at_level("WARNING", logger="ferablate"):
        data = load_image_folder(tree)
    assert data.images.shape == (7, 48, 48)
    face = data.images[data.labels == 4][0]
    assert int(face.min()) == int(face.max()) == 76  # grayscale by luminance, resized
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1, messages
    assert messages[0].startswith("converted 2 of 7 images to 48x48 grayscale")
    assert "96x96 RGB" in messages[0]  # names an example and what it held


def test_counts_use_the_test_split_name(tree: Path) -> None:
    counts = load_image_folder(tree).counts()
    assert counts.loc["Training", "happy"] == 2
    assert counts.loc["Test", "sad"] == 1
    assert counts.loc["total", "total"] == 6


def test_unknown_class_folder_is_named(tree: Path) -> None:
    _save(tree / "train" / "contempt" / "x.png", _gradient(1))
    with pytest.raises(DataError, match=r"contempt: unknown class folder.*angry disgust fear"):
        load_image_folder(tree)


def test_unreadable_image_is_named(tree: Path) -> None:
    broken = tree / "train" / "sad" / "broken.png"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(b"this is no png")
    with pytest.raises(DataError, match=r"broken\.png: unreadable image"):
        load_image_folder(tree)


def test_missing_train_folder_and_missing_root(tmp_path: Path) -> None:
    _save(tmp_path / "fer" / "test" / "sad" / "d.png", _gradient(40))
    with pytest.raises(DataError, match="no train/ folder"):
        load_image_folder(tmp_path / "fer")
    (tmp_path / "fer" / "train" / "sad").mkdir(parents=True)
    with pytest.raises(DataError, match=r"no \.jpg/\.jpeg/\.png faces"):
        load_image_folder(tmp_path / "fer")
    with pytest.raises(DataError, match="FERABLATE_DATA"):
        load_image_folder(tmp_path / "absent")


def test_second_load_is_cached_and_the_hash_follows_content(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_image_folder(tree)

    def fail(path: Path) -> np.ndarray:
        raise AssertionError(f"decoded {path} again despite the cache")

    monkeypatch.setattr(folder_module, "_decode", fail)
    second = load_image_folder(tree)
    np.testing.assert_array_equal(second.images, first.images)
    assert second.content_hash == first.content_hash
    monkeypatch.undo()

    replaced = tree / "train" / "happy" / "a.png"
    _save(replaced, _gradient(11))  # same name, new content
    os.utime(replaced, ns=(0, replaced.stat().st_mtime_ns + 10**9))  # a coarse clock is no excuse
    changed = load_image_folder(tree)
    assert changed.content_hash != first.content_hash
    assert changed.images[1, 1, 1] == 11
