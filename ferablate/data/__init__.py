"""Data layer: FER2013 (Kaggle CSV or image folders) and synthetic faces, as :class:`FaceData`.

``load_data(cfg.data)`` is the one entry point for a trial: it dispatches on ``data.source``
(``fer2013``, ``folder``, ``synthetic``) and applies ``data.limit``. Parsed files are cached
under $FERABLATE_CACHE (default ~/.cache/ferablate), keyed by content.
"""

from __future__ import annotations

from ferablate.config import CLASS_NAMES
from ferablate.data._cache import cache_dir
from ferablate.data._facedata import ALL_USAGES, IMAGE_SIZE, TEST_USAGE, USAGES, FaceData
from ferablate.data._fer2013 import load_fer2013_csv
from ferablate.data._fingerprint import data_fingerprint
from ferablate.data._folder import load_image_folder
from ferablate.data._load import load_data, load_path
from ferablate.data._paths import DATA_ENV, resolve_data_path
from ferablate.data._subset import stratified_limit
from ferablate.data._synthetic import (
    FER2013_TRAINING_COUNTS,
    class_counts,
    load_synthetic,
    synthetic_faces,
)

__all__ = [
    "ALL_USAGES",
    "CLASS_NAMES",
    "DATA_ENV",
    "FER2013_TRAINING_COUNTS",
    "IMAGE_SIZE",
    "TEST_USAGE",
    "USAGES",
    "FaceData",
    "cache_dir",
    "class_counts",
    "data_fingerprint",
    "load_data",
    "load_fer2013_csv",
    "load_image_folder",
    "load_path",
    "load_synthetic",
    "resolve_data_path",
    "stratified_limit",
    "synthetic_faces",
]
