"""On-disk cache of parsed face arrays, keyed by what was parsed (a file's content hash).

Entries are uncompressed ``.npz`` files (fast to read back), written to a temporary file and
moved into place with ``os.replace`` so a killed process never leaves a half-written entry.
An entry that cannot be read is ignored (and later overwritten): the cache is never a reason
for a load to fail.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

import numpy as np

from ferablate._logging import get_logger

__all__ = [
    "cache_dir",
    "cached_file_sha256",
    "file_sha256",
    "read_cache",
    "remember_file_sha256",
    "write_cache",
]

_log = get_logger(__name__)

CACHE_ENV = "FERABLATE_CACHE"


def cache_dir() -> Path:
    """$FERABLATE_CACHE, else ~/.cache/ferablate (read at call time so tests can redirect it)."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "ferablate"


def file_sha256(path: Path) -> str:
    """Hex sha256 of the file's bytes."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _hash_entry(path: Path, stat: os.stat_result) -> Path:
    where = f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
    return cache_dir() / "file-sha256" / hashlib.sha256(where.encode()).hexdigest()


def cached_file_sha256(path: Path) -> str:
    """:func:`file_sha256`, remembered under the cache keyed by (path, size, mtime): a data
    file's fingerprint costs a stat, not a read of ~100 MB, until the file changes."""
    stat = path.stat()
    entry = _hash_entry(path, stat)
    try:
        digest = entry.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        digest = ""
    if len(digest) == 64 and all(ch in "0123456789abcdef" for ch in digest):
        return digest
    digest = file_sha256(path)
    remember_file_sha256(path, stat, digest)
    return digest


def remember_file_sha256(path: Path, stat: os.stat_result, digest: str) -> None:
    """Store the sha256 of ``path`` as it was at ``stat`` (atomically; a failure only costs
    the next fingerprint a read)."""
    try:
        _replace_atomically(
            _hash_entry(path, stat), lambda handle: handle.write(digest.encode("ascii")), "."
        )
    except OSError as error:
        _log.debug("could not remember the sha256 of %s (%s)", path, error)


def _replace_atomically(path: Path, write: Callable[[IO[bytes]], object], prefix: str) -> None:
    """Create or replace ``path`` with what ``write`` writes, through a temporary file
    (``prefix``…``.tmp``) in its folder moved into place (atomic on POSIX and Windows): a killed
    process never leaves a half-written file, a failure (raised) no temporary file."""
    temp_name: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=path.parent, prefix=prefix, suffix=".tmp", delete=False
        ) as handle:
            temp_name = handle.name
            write(handle)
        Path(temp_name).chmod(0o644)  # temp files are private; the entry is an ordinary file
        Path(temp_name).replace(path)
        temp_name = None
    finally:
        if temp_name is not None:
            Path(temp_name).unlink(missing_ok=True)


def _entry_path(key: str) -> Path:
    return cache_dir() / f"{key}.npz"


def read_cache(key: str, expected: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The arrays stored under ``key``, or None when absent, unreadable or lacking a name."""
    path = _entry_path(key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in expected}
    except Exception as error:  # any damage means "not cached": rebuild instead of failing
        _log.warning("ignoring unreadable cache entry %s (%s); rebuilding it", path, error)
        return None
    _log.debug("cache hit %s", path)
    return arrays


def write_cache(key: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Store ``arrays`` under ``key`` atomically; a failure only costs the next load a re-parse."""
    path = _entry_path(key)
    try:
        # Uncompressed: reading back is a plain copy. (numpy's stub mistakes **arrays for its
        # allow_pickle keyword.)
        _replace_atomically(
            path,
            lambda handle: np.savez(handle, **arrays),  # type: ignore[arg-type]
            f".{path.stem}.",
        )
    except OSError as error:
        _log.warning("could not write cache entry %s (%s); the next load parses again", path, error)
