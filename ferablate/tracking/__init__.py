"""Tracking layer: MLflow experiments, trial/fold runs and the tags ferablate relies on."""

from __future__ import annotations

from ferablate.tracking._store import (
    DEFAULT_TRACKING_URI,
    TAG,
    artifact_root_for,
    git_commit,
    open_experiment,
    resolve_tracking_uri,
)
from ferablate.tracking._tracker import TrialRun, TrialTracker, config_from_run

__all__ = [
    "DEFAULT_TRACKING_URI",
    "TAG",
    "TrialRun",
    "TrialTracker",
    "artifact_root_for",
    "config_from_run",
    "git_commit",
    "open_experiment",
    "resolve_tracking_uri",
]
