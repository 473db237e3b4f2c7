"""The FER2013 Kaggle CSV (``emotion,pixels,Usage``; plain or gzip), parsed fast and cached.

The full file holds 35,887 rows of 2,304 space-separated pixels (~300 MB of text), so the
pixels are parsed with whole-array numpy operations on the raw bytes instead of per-value
Python or a generic CSV reader. Every row is validated; the first bad one is reported by its
data row and file line, and nothing is returned from a file that is not entirely valid.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np

from ferablate._errors import DataError
from ferablate._logging import get_logger
from ferablate.config import NUM_CLASSES
from ferablate.data._cache import (
    cached_file_sha256,
    read_cache,
    remember_file_sha256,
    write_cache,
)
from ferablate.data._facedata import IMAGE_SIZE, USAGES, FaceData
from ferablate.data._paths import missing_data_error

__all__ = ["csv_fingerprint", "load_fer2013_csv", "parse_fer2013_csv"]

_log = get_logger(__name__)

HEADER = "emotion,pixels,Usage"
_PIXELS = IMAGE_SIZE * IMAGE_SIZE  # values per row
_CACHE_FORMAT = 1  # bump when the parser's output or the entry layout changes
_CHUNK_ROWS = 2048  # rows parsed per vectorised step (~18 MB of text): bounds peak memory
_SPACE, _COMMA, _NEWLINE, _QUOTE, _CR, _ZERO = 32, 44, 10, 34, 13, 48
_SPACE_MINUS_ZERO = (_SPACE - _ZERO) % 256  # a space after uint8 digit arithmetic
_LABELS = {str(label).encode(): label for label in range(NUM_CLASSES)}
_USAGE_CODES = {name.encode(): code for code, name in enumerate(USAGES)}


def load_fer2013_csv(path: Path) -> FaceData:
    """Load a FER2013 CSV (``.csv`` or ``.csv.gz``); parsed arrays are cached by content hash."""
    path = Path(path)
    if path.is_dir():
        raise DataError(
            f"{path} is a directory, not a FER2013 CSV; use data.source=folder for the "
            "train/<class>/ image-folder layout"
        )
    if not path.is_file():
        raise missing_data_error([path])
    stat = path.stat()
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    remember_file_sha256(path, stat, digest)  # data_fingerprint() then costs a stat
    key = f"fer2013-csv-v{_CACHE_FORMAT}-{digest}"
    cached = read_cache(key, ("images", "labels", "usage"))
    if cached is not None and _consistent(cached):
        images, labels, usage_codes = cached["images"], cached["labels"], cached["usage"]
    else:
        images, labels, usage_codes = parse_fer2013_csv(_decompress(raw, path), path)
        write_cache(key, {"images": images, "labels": labels, "usage": usage_codes})
    return FaceData(
        images=images,
        labels=labels.astype(np.int64),
        usage=np.asarray(USAGES)[usage_codes],
        source=f"fer2013 csv {path}",
        content_hash=digest[:16],
    )


def csv_fingerprint(path: Path) -> str:
    """The ``content_hash`` :func:`load_fer2013_csv` gives ``path``, without parsing it (the
    file's sha256 is cached by path, size and mtime)."""
    path = Path(path)
    if not path.is_file():
        if path.is_dir():
            return load_fer2013_csv(path).content_hash  # its one-line error
        raise missing_data_error([path])
    return cached_file_sha256(path)[:16]


def _consistent(arrays: dict[str, np.ndarray]) -> bool:
    images, labels, usage = arrays["images"], arrays["labels"], arrays["usage"]
    n = labels.shape[0]
    return (
        images.shape == (n, IMAGE_SIZE, IMAGE_SIZE)
        and images.dtype == np.uint8
        and usage.shape == (n,)
        and bool(n == 0 or (labels.max() < NUM_CLASSES and usage.max() < len(USAGES)))
    )


def _decompress(raw: bytes, path: Path) -> bytes:
    if raw[:2] != b"\x1f\x8b":  # gzip magic; anything else is read as plain text
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: not a complete gzip file ({error}); download it again") from error


def parse_fer2013_csv(text: bytes, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse the CSV's bytes into ``(images (N,48,48) uint8, labels (N,) uint8, usage (N,) uint8)``.

    ``usage`` holds indices into USAGES. ``path`` only names the file in error messages.
    """
    if not text.strip():
        raise DataError(
            f"{path}: the file is empty; expected the FER2013 CSV ({HEADER} and one row per face)"
        )
    buf = np.frombuffer(text, dtype=np.uint8)
    bom = 3 if text[:3] == b"\xef\xbb\xbf" else 0
    newlines = np.flatnonzero(buf == _NEWLINE)
    line_starts = np.concatenate(([bom], newlines + 1))
    line_ends = np.concatenate((newlines, [buf.size]))  # exclusive, without the newline
    has_cr = (line_ends > line_starts) & (buf[np.maximum(line_ends - 1, 0)] == _CR)
    line_ends = line_ends - has_cr

    header = text[line_starts[0] : line_ends[0]].decode("utf-8", "replace")
    if [field.strip().strip('"') for field in header.split(",")] != HEADER.split(","):
        raise DataError(
            f"{path}: line 1 is {header[:60]!r}, expected the FER2013 header {HEADER!r} "
            "(the Kaggle fer2013.csv layout)"
        )

    data_lines = np.flatnonzero(line_ends[1:] > line_starts[1:]) + 1  # blank lines are skipped
    if data_lines.size == 0:
        raise DataError(f"{path}: has the FER2013 header but no data rows")
    starts, ends = line_starts[data_lines], line_ends[data_lines]

    # Each check finds its first bad row; the earliest of them is reported.
    problems: list[tuple[int, str]] = []
    commas = np.flatnonzero(buf == _COMMA)
    first_comma = np.searchsorted(commas, starts)
    comma_counts = np.searchsorted(commas, ends) - first_comma
    bad = np.flatnonzero(comma_counts != 2)
    if bad.size:  # rows from the first bad one on cannot be split into fields
        problems.append(
            (int(bad[0]), f"has {comma_counts[bad[0]] + 1} fields, expected 3 ({HEADER})")
        )
        starts, ends, first_comma = starts[: bad[0]], ends[: bad[0]], first_comma[: bad[0]]
    comma1, comma2 = commas[first_comma], commas[first_comma + 1]

    label_a, label_b = _unquote(buf, starts, comma1)
    pixel_a, pixel_b = _unquote(buf, comma1 + 1, comma2)
    usage_a, usage_b = _unquote(buf, comma2 + 1, ends)
    labels = _lookup(
        text, label_a, label_b, _LABELS, "label", f"an integer 0..{NUM_CLASSES - 1}", problems
    )
    usage = _lookup(
        text, usage_a, usage_b, _USAGE_CODES, "Usage", f"one of {', '.join(USAGES)}", problems
    )

    rows_to_check = min((row for row, _ in problems), default=starts.size)
    images = np.empty((starts.size, _PIXELS), dtype=np.uint8)  # (N, 48*48)
    for first in range(0, rows_to_check, _CHUNK_ROWS):
        rows = slice(first, min(first + _CHUNK_ROWS, rows_to_check))
        values = _parse_pixel_chunk(buf, pixel_a[rows], pixel_b[rows])
        if values is None:
            problems.append(_first_bad_pixel_row(text, pixel_a[rows], pixel_b[rows], first))
            break
        images[rows] = values
    if problems:
        row, problem = min(problems)  # named by data row and file line, both 1-based
        raise DataError(f"{path}: row {row + 1} (line {int(data_lines[row]) + 1}): {problem}")
    return images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE), labels, usage


def _unquote(buf: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Field bounds [a, b) without one pair of surrounding double quotes, where present."""
    quoted = (b - a >= 2) & (buf[np.minimum(a, buf.size - 1)] == _QUOTE) & (buf[b - 1] == _QUOTE)
    return a + quoted, b - quoted


def _lookup(
    text: bytes,
    a: np.ndarray,
    b: np.ndarray,
    codes: dict[bytes, int],
    field: str,
    expected: str,
    problems: list[tuple[int, str]],
) -> np.ndarray:
    """Map each row's short field (label, Usage) to its code; the first unknown -> problems."""
    out = np.empty(a.size, dtype=np.uint8)
    for row, (start, stop) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
        code = codes.get(text[start:stop])
        if code is None:
            value = text[start:stop].decode("utf-8", "replace")
            problems.append((row, f"{field} {value!r} is not {expected}"))
            break
        out[row] = code
    return out


def _parse_pixel_chunk(buf: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """Parse rows' pixel fields [a, b) into (rows, 2304) uint8; None if any row is malformed.

    Each value is read from the (up to) 4 bytes before the space that ends it, fetched in one
    gather as a little-endian uint32 through an unaligned, overlapping view: the 3 digits it
    may have and the byte before, which must be a space (no longer values, no stray chars).
    """
    separator = np.full(1, _SPACE, dtype=np.uint8)
    pieces = [np.full(4, _SPACE, dtype=np.uint8)]  # lead-in: the first value has 4 bytes before
    for start, stop in zip(a.tolist(), b.tolist(), strict=True):
        pieces.append(buf[start:stop])
        pieces.append(separator)  # every value, the row's last included, now ends in a space
    chunk = np.concatenate(pieces)
    row_ends = 4 + np.cumsum(b - a + 1) - 1  # position of each row's terminating space

    value_ends = np.flatnonzero(chunk == _SPACE)[4:]  # skip the lead-in
    # Exactly 2304 separators per row, the last at the row's end <=> 2304 values per row.
    if value_ends.size != row_ends.size * _PIXELS or not np.array_equal(
        value_ends[_PIXELS - 1 :: _PIXELS], row_ends
    ):
        return None
    windows = np.ndarray((chunk.size - 3,), dtype="<u4", buffer=chunk, strides=(1,))
    window = windows[value_ends - 4]  # bytes e-4 (lowest) .. e-1 (highest)
    ones, tens, hundreds, before = ((window >> shift).astype(np.uint8) for shift in (24, 16, 8, 0))
    ones -= _ZERO  # wraps: any non-digit becomes >= 10
    tens -= _ZERO
    hundreds -= _ZERO
    has_tens, has_hundreds = tens < 10, hundreds < 10
    valid = (ones < 10) & (
        (tens == _SPACE_MINUS_ZERO)
        | (has_tens & ((hundreds == _SPACE_MINUS_ZERO) | (has_hundreds & (before == _SPACE))))
    )
    if not valid.all():
        return None
    values = ones.astype(np.uint16)
    values += has_tens * (tens * np.uint16(10) + has_hundreds * (hundreds * np.uint16(100)))
    if values.max() > 255:
        return None
    return values.astype(np.uint8).reshape(-1, _PIXELS)


def _first_bad_pixel_row(
    text: bytes, a: np.ndarray, b: np.ndarray, first_row: int
) -> tuple[int, str]:
    """The malformed row of a chunk the fast parser rejected, and what is wrong with it."""
    for offset, (start, stop) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
        problem = _pixel_problem(text[start:stop])
        if problem is not None:
            return first_row + offset, problem
    return first_row, f"malformed pixels in rows {first_row + 1}..{first_row + a.size}"


def _pixel_problem(field: bytes) -> str | None:
    """What is wrong with one row's pixel field, or None if it is valid."""
    tokens = field.split(b" ")
    count = len(field.split())
    if count != _PIXELS:
        return f"has {count} pixel values, expected {_PIXELS} (48x48)"
    for index, token in enumerate(tokens):
        if not token:
            return f"pixels have a stray space before value {index + 1}"
        if not token.isdigit() or len(token) > 3 or int(token) > 255:
            shown = token[:20].decode("utf-8", "replace")
            return f"pixel {index + 1} is {shown!r}, expected an integer 0..255"
    return None
