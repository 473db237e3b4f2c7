"""load_data dispatch, data path resolution, data.limit and the FaceData helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ferablate import DataError
from ferablate.config import DataConfig
from ferablate.data import (
    CLASS_NAMES,
    FaceData,
    load_data,
    load_path,
    load_synthetic,
    resolve_data_path,
    stratified_limit,
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERABLATE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FERABLATE_DATA", raising=False)
    monkeypatch.chdir(tmp_path)


def _write_csv(path: Path, labels: list[int], usages: list[str]) -> Path:
    rng = np.random.default_rng(0)
    lines = ["emotion,pixels,Usage"]
    for label, usage in zip(labels, usages, strict=True):
        pixels = " ".join(map(str, rng.integers(0, 256, 48 * 48).tolist()))
        lines.append(f"{label},{pixels},{usage}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def synthetic() -> FaceData:
    return load_synthetic(DataConfig(synthetic_size=700, seed=1))


# --- resolving the data path ------------------------------------------------------------


def test_missing_data_says_where_fer2013_comes_from_and_how_to_point_at_it() -> None:
    with pytest.raises(DataError) as caught:
        resolve_data_path(DataConfig(source="fer2013"))
    message = str(caught.value)
    for needed in (
        "FERABLATE_DATA",
        "data.path",
        "--set data.path=",
        "Kaggle",
        "fer2013.csv",
        "Challenges in Representation Learning: Facial Expression Recognition Challenge",
        "data/fer2013.csv.gz",
        "data/fer2013.csv",
    ):
        assert needed in message
    assert "\n" not in message
    with pytest.raises(DataError, match="FERABLATE_DATA"):
        load_data(DataConfig(source="fer2013"))


def test_explicit_path_and_env_are_not_silently_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_csv(Path("data/fer2013.csv"), [0], ["Training"])
    assert resolve_data_path(DataConfig(source="fer2013")) == Path("data/fer2013.csv")
    monkeypatch.setenv("FERABLATE_DATA", str(tmp_path / "elsewhere.csv"))
    with pytest.raises(DataError, match=r"elsewhere\.csv"):
        resolve_data_path(DataConfig(source="fer2013"))
    with pytest.raises(DataError, match=r"given\.csv\.gz"):
        resolve_data_path(DataConfig(source="fer2013", path=str(tmp_path / "given.csv.gz")))


def test_path_beats_env_beats_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_csv(Path("data/fer2013.csv.gz"), [0], ["Training"])
    from_env = _write_csv(tmp_path / "env.csv", [1], ["Training"])
    given = _write_csv(tmp_path / "given.csv", [2], ["Training"])
    monkeypatch.setenv("FERABLATE_DATA", str(from_env))
    assert resolve_data_path(DataConfig(source="fer2013")) == from_env
    assert resolve_data_path(DataConfig(source="fer2013", path=str(given))) == given
    assert load_data(DataConfig(source="fer2013", path=str(given))).labels.tolist() == [2]
    assert load_data(DataConfig(source="fer2013")).labels.tolist() == [1]


def test_folder_source_defaults_to_data_fer2013_dir() -> None:
    with pytest.raises(DataError, match=r"data/fer2013\b"):
        load_data(DataConfig(source="folder"))


def test_load_path_rejects_other_files(tmp_path: Path) -> None:
    other = tmp_path / "faces.parquet"
    other.write_text("x")
    with pytest.raises(DataError, match=r"not a FER2013 CSV"):
        load_path(other)
    with pytest.raises(DataError, match="FERABLATE_DATA"):
        load_path(tmp_path / "absent.csv")


# --- data.limit ---------------------------------------------------------------------------


def test_load_data_applies_the_limit() -> None:
    data = load_data(DataConfig(synthetic_size=700, limit=140, seed=1))
    assert data.counts().loc["Training", "total"] == 140
    assert data.counts().loc["PublicTest", "total"] == 87
    assert data.content_hash == load_synthetic(DataConfig(synthetic_size=700, seed=1)).content_hash


def test_stratified_limit_keeps_size_proportions_and_tests(synthetic: FaceData) -> None:
    limited = stratified_limit(synthetic, 140, seed=0)
    train_labels = limited.split("Training")[1]
    assert train_labels.size == 140
    full = np.bincount(synthetic.split("Training")[1], minlength=7)
    kept = np.bincount(train_labels, minlength=7)
    assert np.all(np.abs(kept - full * 140 / full.sum()) <= 1)
    assert kept.min() >= 1
    for usage in ("PublicTest", "PrivateTest"):
        np.testing.assert_array_equal(limited.split(usage)[0], synthetic.split(usage)[0])
    assert "140 Training faces" in limited.source


def test_stratified_limit_is_seeded_and_keeps_order(synthetic: FaceData) -> None:
    first = stratified_limit(synthetic, 140, seed=0)
    again = stratified_limit(synthetic, 140, seed=0)
    other = stratified_limit(synthetic, 140, seed=1)
    np.testing.assert_array_equal(first.images, again.images)
    assert not np.array_equal(first.images, other.images)
    # The kept faces appear in their original order: each one is found further on.
    flat = synthetic.images.reshape(len(synthetic), -1)
    positions = [
        int(np.flatnonzero((flat == face.ravel()).all(axis=1))[0]) for face in first.images[:20]
    ]
    assert positions == sorted(positions)


def test_stratified_limit_edges(synthetic: FaceData) -> None:
    assert stratified_limit(synthetic, 700, seed=0) is synthetic
    assert stratified_limit(synthetic, 10**6, seed=0) is synthetic
    with pytest.raises(DataError, match=r"data.limit=5 cannot hold every class"):
        stratified_limit(synthetic, 5, seed=0)


def test_a_limit_above_the_data_warns_once_and_keeps_every_face(
    synthetic: FaceData, caplog: pytest.LogCaptureFixture
) -> None:
    training = len(synthetic.split("Training")[1])
    with caplog.at_level("WARNING", logger="ferablate"):
        assert stratified_limit(synthetic, training, seed=0) is synthetic  # equal: nothing to say
        assert not caplog.records
        for _ in range(3):
            assert stratified_limit(synthetic, 5000, seed=0) is synthetic
    warnings = [record.getMessage() for record in caplog.records]
    assert warnings == [
        f"data.limit=5000 is more than the {training} Training faces of {synthetic.source}; "
        f"using all {training}"
    ]


# --- FaceData ------------------------------------------------------------------------------


def test_split_accepts_several_usages_and_rejects_typos(synthetic: FaceData) -> None:
    images, labels = synthetic.split(["PublicTest", "PrivateTest"])
    assert images.shape == (174, 48, 48) and labels.shape == (174,)
    empty_images, empty_labels = synthetic.split("Test")  # a folder-only split: none here
    assert empty_images.shape == (0, 48, 48) and empty_labels.size == 0
    with pytest.raises(DataError, match="unknown data split 'Validation'"):
        synthetic.split("Validation")


def test_counts_table(synthetic: FaceData) -> None:
    counts = synthetic.counts()
    assert counts.index.name == "Usage"
    assert list(counts.index) == ["Training", "PublicTest", "PrivateTest", "total"]
    assert list(counts.columns) == [*CLASS_NAMES, "total"]
    assert counts.loc["total", "total"] == len(synthetic) == 874
    assert (counts.loc["total", list(CLASS_NAMES)] == np.bincount(synthetic.labels)).all()
    assert counts.loc["Training", "happy"] == counts.loc["Training", list(CLASS_NAMES)].max()


def test_facedata_rejects_inconsistent_arrays() -> None:
    images = np.zeros((2, 48, 48), dtype=np.uint8)
    usage = np.array(["Training", "Training"])
    with pytest.raises(ValueError, match="labels"):
        FaceData(images, np.array([0, 1], dtype=np.int32), usage, "x", "h")
    with pytest.raises(ValueError, match=r"0\.\.6"):
        FaceData(images, np.array([0, 7]), usage, "x", "h")
    with pytest.raises(ValueError, match="usage"):
        FaceData(images, np.array([0, 1]), np.array(["Training", "Dev"]), "x", "h")
    with pytest.raises(ValueError, match="images"):
        FaceData(images[:, :40], np.array([0, 1]), usage, "x", "h")


def test_stratified_limit_needs_two_faces_of_a_class(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "rare.csv", [0, 0, 1, 1, 2, 2, 1, 0, 1], ["Training"] * 9)
    rare = load_data(DataConfig(source="fer2013", path=str(path)))
    assert len(stratified_limit(rare, 6, seed=0)) == 6  # classes of 3, 4 and 2 faces: fine
    single = _write_csv(tmp_path / "single.csv", [0, 0, 1, 1, 2], ["Training"] * 5)
    with pytest.raises(DataError, match=r"class 'fear' has a single Training face"):
        stratified_limit(load_data(DataConfig(source="fer2013", path=str(single))), 3, seed=0)
