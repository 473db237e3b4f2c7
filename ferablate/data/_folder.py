"""The image-folder layout of FER2013: ``ROOT/{train,test}/<class>/*.jpg|jpeg|png``.

This is the public image release of the same data (one file per face). Optional
``ROOT/publictest/`` and ``ROOT/privatetest/`` folders map to the CSV's two test splits.
Faces of another size or colour mode are converted to 48x48 grayscale (bilinear resize), and
one warning per decoding says how many were.
Decoded arrays are cached, keyed by the listing (relative paths, sizes, mtimes); the data's
identity (content hash) is the hash of the decoded faces, so a copied tree keeps it.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ferablate._errors import DataError
from ferablate._logging import get_logger
from ferablate.config import CLASS_NAMES
from ferablate.data._cache import read_cache, write_cache
from ferablate.data._facedata import ALL_USAGES, IMAGE_SIZE, TEST_USAGE, FaceData
from ferablate.data._paths import missing_data_error

__all__ = ["folder_fingerprint", "load_image_folder"]

_log = get_logger(__name__)

SPLIT_FOLDERS = {  # folder under ROOT -> usage
    "train": "Training",
    "test": TEST_USAGE,
    "publictest": "PublicTest",
    "privatetest": "PrivateTest",
}
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
_CACHE_FORMAT = 1  # bump when the decoding or the entry layout changes
_DECODE_THREADS = 4  # PIL releases the GIL while decoding


def _checked_root(root: Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        if root.is_file():
            raise DataError(
                f"{root} is a file, not an image-folder root; use data.source=fer2013 for a CSV"
            )
        raise missing_data_error([root])
    return root


def _listing_key(root: Path, files: list[Path]) -> str:
    listing = hashlib.sha256()
    for path in files:
        stat = path.stat()
        listing.update(
            f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
        )
    return f"fer2013-folder-v{_CACHE_FORMAT}-{listing.hexdigest()}"


def folder_fingerprint(root: Path) -> str:
    """The ``content_hash`` :func:`load_image_folder` gives ``root``: read from the cache
    entry of the current listing, else by loading the folder (which fills the cache)."""
    root = _checked_root(root)
    files, _, _ = _list_faces(root)
    cached = read_cache(_listing_key(root, files), ("content_hash",))
    if cached is not None:
        return str(cached["content_hash"])
    return load_image_folder(root).content_hash


def load_image_folder(root: Path) -> FaceData:
    """Load ``ROOT/train/<class>/...`` (+ test/, publictest/, privatetest/); cached."""
    root = _checked_root(root)
    files, labels, usage = _list_faces(root)
    key = _listing_key(root, files)
    cached = read_cache(key, ("images", "content_hash"))
    if cached is not None and cached["images"].shape == (len(files), IMAGE_SIZE, IMAGE_SIZE):
        images, content_hash = cached["images"], str(cached["content_hash"])
    else:
        images = _decode_all(files)
        content_hash = _arrays_hash(images, labels, usage)
        write_cache(key, {"images": images, "content_hash": np.array(content_hash)})
    return FaceData(
        images=images,
        labels=labels,
        usage=np.asarray(ALL_USAGES)[usage],
        source=f"fer2013 image folder {root}",
        content_hash=content_hash,
    )


def _list_faces(root: Path) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Image files in a fixed order with their labels and usage codes (into ALL_USAGES)."""
    if not (root / "train").is_dir():
        raise DataError(
            f"{root}: no train/ folder; the image-folder layout is ROOT/train/<class>/*.jpg "
            f"(and ROOT/test/<class>/...) with class folders {' '.join(CLASS_NAMES)}"
        )
    files: list[Path] = []
    labels: list[int] = []
    usage: list[int] = []
    for folder, usage_name in SPLIT_FOLDERS.items():
        split_root = root / folder
        if not split_root.is_dir():
            continue
        for class_dir in sorted(split_root.iterdir()):
            if class_dir.name.startswith("."):
                continue
            if not class_dir.is_dir() or class_dir.name not in CLASS_NAMES:
                raise DataError(
                    f"{class_dir}: unknown class folder; expected one of {' '.join(CLASS_NAMES)}"
                )
            label = CLASS_NAMES.index(class_dir.name)
            for path in sorted(class_dir.iterdir()):
                if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
                    _log.debug("skipping %s: not a .jpg/.jpeg/.png image", path)
                    continue
                files.append(path)
                labels.append(label)
                usage.append(ALL_USAGES.index(usage_name))
    if not any(code == ALL_USAGES.index("Training") for code in usage):
        raise DataError(f"{root / 'train'}: no .jpg/.jpeg/.png faces under train/<class>/")
    return files, np.asarray(labels, dtype=np.int64), np.asarray(usage, dtype=np.int64)


def _decode_all(files: list[Path]) -> np.ndarray:
    images = np.empty((len(files), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)  # (N, 48, 48)
    converted: list[tuple[Path, str]] = []
    with ThreadPoolExecutor(max_workers=_DECODE_THREADS) as pool:
        for index, (face, original) in enumerate(pool.map(_decode, files)):
            images[index] = face
            if original is not None:
                converted.append((files[index], original))
    if converted:
        path, original = converted[0]
        _log.warning(
            "converted %d of %d images to %dx%d grayscale (the FER2013 face format), e.g. %s (%s)",
            len(converted), len(files), IMAGE_SIZE, IMAGE_SIZE, path, original,
        )  # fmt: skip
    return images


def _decode(path: Path) -> tuple[np.ndarray, str | None]:
    """One face as (48, 48) uint8 grayscale, and what the file held if it had to be converted
    (e.g. ``"64x64 RGB"``; None for a 48x48 grayscale file)."""
    from PIL import Image, UnidentifiedImageError  # deferred: only this loader needs PIL

    try:
        with Image.open(path) as image:
            original = f"{image.width}x{image.height} {image.mode}"
            gray = image.convert("L")
            if gray.size != (IMAGE_SIZE, IMAGE_SIZE):
                gray = gray.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
            as_is = image.mode == "L" and image.size == (IMAGE_SIZE, IMAGE_SIZE)
            return np.asarray(gray, dtype=np.uint8), None if as_is else original
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise DataError(
            f"{path}: unreadable image ({error}); remove or replace the file"
        ) from error


def _arrays_hash(images: np.ndarray, labels: np.ndarray, usage: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in (images, labels.astype("<i8"), usage.astype("<i8")):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]
