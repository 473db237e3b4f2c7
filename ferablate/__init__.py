"""ferablate: run, track and publish CNN ablation studies on FER2013.

Importing the package is cheap (no torch, no MLflow): the CLI's ``--help`` must answer fast.
The layers are imported from their subpackages: ``ferablate.config``, ``ferablate.data``,
``ferablate.models``, ``ferablate.engine``, ``ferablate.tracking``, ``ferablate.runner``.
"""

from __future__ import annotations

from ferablate._errors import (
    ConfigError,
    DataError,
    DivergedError,
    FerablateError,
    OutOfMemoryError,
    SearchError,
    StoreFullError,
    TrackingError,
    TrialError,
)
from ferablate._outcome import TrialOutcome, outcome_of

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "DivergedError",
    "FerablateError",
    "OutOfMemoryError",
    "SearchError",
    "StoreFullError",
    "TrackingError",
    "TrialError",
    "TrialOutcome",
    "__version__",
    "outcome_of",
]
