"""One entry point from a trial's ``data`` config (or a bare path) to faces in memory."""

from __future__ import annotations

from pathlib import Path

from ferablate._errors import DataError
from ferablate.config import DataConfig
from ferablate.data._facedata import FaceData
from ferablate.data._fer2013 import load_fer2013_csv
from ferablate.data._folder import load_image_folder
from ferablate.data._paths import missing_data_error, resolve_data_path
from ferablate.data._subset import stratified_limit
from ferablate.data._synthetic import load_synthetic

__all__ = ["load_data", "load_path"]


def load_data(cfg: DataConfig) -> FaceData:
    """The faces ``cfg`` names (``data.source``), cut to ``data.limit`` Training faces if set."""
    if cfg.source == "synthetic":
        data = load_synthetic(cfg)
    elif cfg.source == "folder":
        data = load_image_folder(resolve_data_path(cfg))
    else:
        data = load_fer2013_csv(resolve_data_path(cfg))
    if cfg.limit is not None:
        data = stratified_limit(data, cfg.limit, cfg.seed)
    return data


def load_path(path: Path) -> FaceData:
    """A FER2013 CSV (``.csv``/``.csv.gz``) or an image-folder root, told apart by the path."""
    path = Path(path).expanduser()
    if path.is_dir():
        return load_image_folder(path)
    if not path.exists():
        raise missing_data_error([path])
    if path.name.lower().endswith((".csv", ".csv.gz")):
        return load_fer2013_csv(path)
    raise DataError(
        f"{path}: not a FER2013 CSV (.csv or .csv.gz) or an image-folder root (ROOT/train/<class>/)"
    )
