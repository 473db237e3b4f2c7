"""The FER2013 CSV loader: round trip, every bad-row kind, the cache, and the real file."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from ferablate import DataError
from ferablate.data import USAGES, load_fer2013_csv, load_path
from ferablate.data import _fer2013 as fer2013_module

HEADER = "emotion,pixels,Usage"
REAL_CSV = (Path(__file__).resolve().parents[2] / "../shared/data/fer2013.csv.gz").resolve()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("FERABLATE_CACHE", str(cache))
    return cache


def _faces(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(count, 48, 48), dtype=np.uint8)


def _csv_text(
    faces: np.ndarray, labels: Sequence[object], usages: Sequence[str], header: str = HEADER
) -> str:
    lines = [header]
    for face, label, usage in zip(faces, labels, usages, strict=True):
        lines.append(f"{label},{' '.join(map(str, face.ravel().tolist()))},{usage}")
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> Path:
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def _valid_csv(path: Path) -> tuple[Path, np.ndarray, list[int], list[str]]:
    faces = _faces(6)
    labels = [0, 3, 6, 1, 2, 5]
    usages = ["Training", "Training", "Training", "PublicTest", "PrivateTest", "Training"]
    return _write(path, _csv_text(faces, labels, usages)), faces, labels, usages


@pytest.mark.parametrize("name", ["tiny.csv", "tiny.csv.gz"])
def test_round_trip_plain_and_gzip(tmp_path: Path, name: str) -> None:
    path, faces, labels, usages = _valid_csv(tmp_path / name)
    data = load_fer2013_csv(path)
    np.testing.assert_array_equal(data.images, faces)
    assert data.images.dtype == np.uint8 and data.labels.dtype == np.int64
    assert data.labels.tolist() == labels
    assert data.usage.tolist() == usages
    assert str(path) in data.source
    assert len(data.content_hash) == 16
    train_images, train_labels = data.split("Training")
    assert train_labels.tolist() == [0, 3, 6, 5]
    np.testing.assert_array_equal(train_images[-1], faces[5])
    assert load_path(path).labels.tolist() == labels


def test_crlf_quotes_and_blank_lines_are_accepted(tmp_path: Path) -> None:
    faces = _faces(2)
    pixels = [" ".join(map(str, face.ravel().tolist())) for face in faces]
    text = f'{HEADER}\r\n3,"{pixels[0]}",Training\r\n\r\n4,{pixels[1]},"PublicTest"\r\n'
    data = load_fer2013_csv(_write(tmp_path / "crlf.csv", text))
    np.testing.assert_array_equal(data.images, faces)
    assert data.labels.tolist() == [3, 4]
    assert data.usage.tolist() == ["Training", "PublicTest"]


def _break_row_three(pixels: list[str], labels: list[str], usages: list[str], kind: str) -> None:
    if kind == "pixel count":
        pixels[2] = pixels[2].rsplit(" ", 1)[0]
    elif kind == "non-numeric pixel":
        pixels[2] = " ".join(["ab", *pixels[2].split(" ")[1:]])
    elif kind == "pixel above 255":
        pixels[2] = " ".join(["256", *pixels[2].split(" ")[1:]])
    elif kind == "doubled space":
        pixels[2] = pixels[2].replace(" ", "  ", 1)
    elif kind == "label 7":
        labels[2] = "7"
    elif kind == "label -1":
        labels[2] = "-1"
    elif kind == "usage Validation":
        usages[2] = "Validation"
    elif kind == "extra field":
        usages[2] = "Training,extra"
    else:
        raise AssertionError(kind)


BAD_ROWS = {  # kind -> words the message must contain
    "pixel count": "2303 pixel values",
    "non-numeric pixel": "'ab'",
    "pixel above 255": "'256'",
    "doubled space": "stray space",
    "label 7": "label '7'",
    "label -1": "label '-1'",
    "usage Validation": "Usage 'Validation' is not one of Training, PublicTest, PrivateTest",
    "extra field": "4 fields",
}


@pytest.mark.parametrize("kind", sorted(BAD_ROWS))
@pytest.mark.parametrize("name", ["bad.csv", "bad.csv.gz"])
def test_bad_row_names_row_line_and_file(tmp_path: Path, kind: str, name: str) -> None:
    faces = _faces(5)
    pixels = [" ".join(map(str, face.ravel().tolist())) for face in faces]
    labels = ["0", "1", "2", "3", "4"]
    usages = ["Training"] * 5
    _break_row_three(pixels, labels, usages, kind)
    lines = [HEADER, *(f"{a},{b},{c}" for a, b, c in zip(labels, pixels, usages, strict=True))]
    path = _write(tmp_path / name, "\n".join(lines) + "\n")
    calls = []
    with pytest.raises(DataError) as caught:
        calls.append(load_fer2013_csv(path))
    message = str(caught.value)
    assert "row 3 (line 4)" in message
    assert str(path) in message
    assert BAD_ROWS[kind] in message
    assert "\n" not in message
    assert not calls  # nothing comes back from a half-valid file


def test_line_number_counts_skipped_blank_lines(tmp_path: Path) -> None:
    faces = _faces(2)
    pixels = [" ".join(map(str, face.ravel().tolist())) for face in faces]
    text = f"{HEADER}\n0,{pixels[0]},Training\n\n9,{pixels[1]},Training\n"
    with pytest.raises(DataError, match=r"row 2 \(line 4\)"):
        load_fer2013_csv(_write(tmp_path / "blank.csv", text))


@pytest.mark.parametrize("header", ["emotion,pixels", "label,pixels,Usage", "", "0,1 2 3,Training"])
def test_bad_header_names_the_expected_one(tmp_path: Path, header: str) -> None:
    text = _csv_text(_faces(1), [0], ["Training"], header=header)
    with pytest.raises(DataError, match="emotion,pixels,Usage"):
        load_fer2013_csv(_write(tmp_path / "header.csv", text))


@pytest.mark.parametrize("name", ["empty.csv", "empty.csv.gz", "blank.csv"])
def test_an_empty_file_is_one_data_error(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path / name, "\n\n" if name == "blank.csv" else "")
    with pytest.raises(DataError, match="the file is empty") as info:
        load_fer2013_csv(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_header_only_and_truncated_gzip_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no data rows"):
        load_fer2013_csv(_write(tmp_path / "empty.csv", HEADER + "\n"))
    path, *_ = _valid_csv(tmp_path / "whole.csv.gz")
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError, match="gzip"):
        load_fer2013_csv(truncated)


def test_missing_file_and_directory_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="FERABLATE_DATA"):
        load_fer2013_csv(tmp_path / "absent.csv")
    with pytest.raises(DataError, match=r"data\.source=folder"):
        load_fer2013_csv(tmp_path)


def _counting_parser(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real_parser = fer2013_module.parse_fer2013_csv

    def counting(text: bytes, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        calls.append(1)
        return real_parser(text, path)

    monkeypatch.setattr(fer2013_module, "parse_fer2013_csv", counting)
    return calls


def test_second_load_comes_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _private_cache: Path
) -> None:
    path, faces, *_ = _valid_csv(tmp_path / "cached.csv.gz")
    calls = _counting_parser(monkeypatch)
    first = load_fer2013_csv(path)
    second = load_fer2013_csv(path)
    assert len(calls) == 1
    np.testing.assert_array_equal(second.images, faces)
    np.testing.assert_array_equal(second.labels, first.labels)
    np.testing.assert_array_equal(second.usage, first.usage)
    assert second.content_hash == first.content_hash
    # no temp files left (file-sha256/ holds the file's remembered hash: data_fingerprint)
    assert [p.suffix for p in _private_cache.iterdir() if p.is_file()] == [".npz"]
    assert [p.name[0] for p in (_private_cache / "file-sha256").iterdir()] != ["."]


def test_changed_content_is_parsed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, *_ = _valid_csv(tmp_path / "changing.csv")
    calls = _counting_parser(monkeypatch)
    first = load_fer2013_csv(path)
    _write(path, _csv_text(_faces(1, seed=7), [4], ["Training"]))
    second = load_fer2013_csv(path)
    assert len(calls) == 2
    assert second.labels.tolist() == [4]
    assert second.content_hash != first.content_hash


@pytest.mark.parametrize("damage", [b"", b"not a zip file", b"PK\x03\x04 truncated"])
def test_corrupt_cache_entry_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _private_cache: Path, damage: bytes
) -> None:
    path, faces, *_ = _valid_csv(tmp_path / "corrupt.csv")
    load_fer2013_csv(path)
    (entry,) = _private_cache.glob("*.npz")
    entry.write_bytes(damage)
    calls = _counting_parser(monkeypatch)
    np.testing.assert_array_equal(load_fer2013_csv(path).images, faces)
    assert len(calls) == 1
    load_fer2013_csv(path)
    assert len(calls) == 1  # the rebuilt entry is used again


def test_unwritable_cache_only_costs_speed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("FERABLATE_CACHE", str(blocker / "cache"))
    path, faces, *_ = _valid_csv(tmp_path / "nocache.csv")
    np.testing.assert_array_equal(load_fer2013_csv(path).images, faces)


# --- the real file ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_data_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cache = tmp_path_factory.mktemp("fer2013-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FERABLATE_CACHE", str(cache))
        yield cache


@pytest.mark.fer2013
@pytest.mark.skipif(not REAL_CSV.is_file(), reason=f"{REAL_CSV} not present")
def test_real_fer2013_counts_and_cache(
    real_data_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FERABLATE_CACHE", str(real_data_cache))
    data = load_fer2013_csv(REAL_CSV)
    counts = data.counts()
    assert counts["total"].to_dict() == {
        "Training": 28709,
        "PublicTest": 3589,
        "PrivateTest": 3589,
        "total": 35887,
    }
    assert counts.loc["Training"].tolist()[:7] == [3995, 436, 4097, 7215, 4830, 3171, 4965]
    assert data.usages == USAGES
    assert 60 < data.images.mean() < 200

    monkeypatch.setattr(fer2013_module, "parse_fer2013_csv", _fail_if_called)
    started = time.perf_counter()
    cached = load_fer2013_csv(REAL_CSV)
    elapsed = time.perf_counter() - started
    np.testing.assert_array_equal(cached.labels, data.labels)
    assert cached.content_hash == data.content_hash
    assert elapsed < 5.0, f"cached load took {elapsed:.2f} s"  # ~0.2 s; loose for busy CI


def _fail_if_called(text: bytes, path: Path) -> None:
    raise AssertionError("the cached load parsed the CSV again")


def test_the_earliest_bad_row_is_reported_whatever_its_kind(tmp_path: Path) -> None:
    faces = _faces(4)
    pixels = [" ".join(map(str, face.ravel().tolist())) for face in faces]
    pixels[1] = pixels[1].rsplit(" ", 1)[0]  # row 2: a pixel short
    rows = [
        f"0,{pixels[0]},Training",
        f"0,{pixels[1]},Training",
        f"9,{pixels[2]},Training",
        f"0,{pixels[3]},Nope",
    ]
    path = _write(tmp_path / "several.csv", "\n".join([HEADER, *rows]) + "\n")
    with pytest.raises(DataError, match=r"row 2 \(line 3\): has 2303 pixel values"):
        load_fer2013_csv(path)
    rows[0] = "0,1 2,Training,extra"  # row 1: too many fields wins over everything after it
    path = _write(tmp_path / "several.csv", "\n".join([HEADER, *rows]) + "\n")
    with pytest.raises(DataError, match=r"row 1 \(line 2\): has 4 fields"):
        load_fer2013_csv(path)
