"""A data config's fingerprint: the content hash of the faces it names, without loading them.

It equals ``load_data(cfg).content_hash`` (``data.limit`` draws from those faces and is a
setting of its own): a file's sha256 (cached by path, size and mtime, so a finished sweep's
skip check costs a stat), an image folder's decoded-faces hash (from its cache entry), or the
synthetic generator's version and settings. The path itself is no part of it.
"""

from __future__ import annotations

from ferablate.config import DataConfig
from ferablate.data._fer2013 import csv_fingerprint
from ferablate.data._folder import folder_fingerprint
from ferablate.data._paths import resolve_data_path
from ferablate.data._synthetic import synthetic_fingerprint

__all__ = ["data_fingerprint"]


def data_fingerprint(cfg: DataConfig) -> str:
    """The content hash of the faces ``cfg`` names (DataError when they cannot be found)."""
    if cfg.source == "synthetic":
        return synthetic_fingerprint(cfg)
    if cfg.source == "folder":
        return folder_fingerprint(resolve_data_path(cfg))
    return csv_fingerprint(resolve_data_path(cfg))
