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
from ferablate.tracking._ui import (
    RunsView,
    UiServerCommand,
    experiment_name_for,
    runs_page_url,
    save_runs_view,
    ui_server_command,
)

__all__ = [
    "DEFAULT_TRACKING_URI",
    "TAG",
    "RunsView",
    "TrialRun",
    "TrialTracker",
    "UiServerCommand",
    "artifact_root_for",
    "config_from_run",
    "experiment_name_for",
    "git_commit",
    "open_experiment",
    "resolve_tracking_uri",
    "runs_page_url",
    "save_runs_view",
    "ui_server_command",
]
