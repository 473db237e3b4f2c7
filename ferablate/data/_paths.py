"""Where the data file is: ``data.path``, else $FERABLATE_DATA, else ``data/fer2013.csv[.gz]``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ferablate._errors import DataError
from ferablate.config import DataConfig

__all__ = ["DATA_ENV", "missing_data_error", "resolve_data_path"]

DATA_ENV = "FERABLATE_DATA"
_DEFAULT_CSV_PATHS = (Path("data/fer2013.csv.gz"), Path("data/fer2013.csv"))  # cwd-relative
_DEFAULT_FOLDER_PATHS = (Path("data/fer2013"),)


def missing_data_error(tried: Sequence[Path]) -> DataError:
    """The one message for "no data file": where FER2013 comes from and how to point at it."""
    listed = ", ".join(str(path) for path in tried)
    return DataError(
        f"FER2013 data not found (tried: {listed}); download fer2013.csv from the Kaggle "
        '"Challenges in Representation Learning: Facial Expression Recognition Challenge" '
        "and set data.path (e.g. --set data.path=/path/to/fer2013.csv.gz) or the "
        f"{DATA_ENV} environment variable, or use data.source=synthetic to run without it"
    )


def resolve_data_path(cfg: DataConfig) -> Path:
    """The data file (or image-folder root) ``cfg`` names; DataError listing what was tried.

    The first place that is set decides: an explicit ``data.path`` or $FERABLATE_DATA that
    does not exist is an error, never a silent fall-back to the defaults.
    """
    from_env = os.environ.get(DATA_ENV)
    if cfg.path:
        candidates: Sequence[Path] = (Path(cfg.path).expanduser(),)
    elif from_env:
        candidates = (Path(from_env).expanduser(),)
    elif cfg.source == "folder":
        candidates = _DEFAULT_FOLDER_PATHS
    else:
        candidates = _DEFAULT_CSV_PATHS
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise missing_data_error(candidates)
