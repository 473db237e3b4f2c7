"""Where runs live: the MLflow tracking URI, experiments, and the run tags ferablate relies on."""

from __future__ import annotations

import os
import subprocess
import time
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from ferablate._errors import TrackingError
from ferablate._outcome import TrialOutcome

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

__all__ = [
    "DEFAULT_TRACKING_URI",
    "TAG",
    "artifact_root_for",
    "git_commit",
    "mlflow_ending",
    "now_ms",
    "open_experiment",
    "outcome_for_failure_tag",
    "outcome_of_run",
    "resolve_tracking_uri",
    "search_runs",
]

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"


class TAG:
    """Run tag names (other tools and ``ferablate table`` read these; never rename)."""

    ROLE = "ferablate.role"  # "trial" | "fold" | "final"
    SWEEP = "ferablate.sweep"
    VARIANT = "ferablate.variant"
    TRIAL = "ferablate.trial"  # trial name (variant + grid point)
    TRIAL_INDEX = "ferablate.trial_index"  # position in sweep order
    CONFIG_HASH = "ferablate.config_hash"  # the trial's identity
    CONFIG = "ferablate.config"  # resolved config as canonical JSON
    DATA_HASH = "ferablate.data_hash"
    GIT_COMMIT = "ferablate.git_commit"
    VERSION = "ferablate.version"
    DEVICE = "ferablate.device"
    PRECISION = "ferablate.precision"
    FOLD = "ferablate.fold"
    FAILURE = "ferablate.failure"  # "oom" | "diverged" | "error" | "pruned" | "killed"
    FAILURE_REASON = "ferablate.failure_reason"
    HOST = "ferablate.host"
    PID = "ferablate.pid"
    HEARTBEAT = "ferablate.heartbeat"  # seconds since the epoch, refreshed while a trial runs
    STUDY = "ferablate.study"  # Optuna study name (optuna/worker runs)
    OPTUNA_TRIAL = "ferablate.optuna_trial"  # Optuna trial number
    PARENT = "mlflow.parentRunId"
    RUN_NAME = "mlflow.runName"


# The one mapping of trial outcomes to MLflow: run status and ``ferablate.failure`` tag.
_ENDINGS: dict[TrialOutcome, tuple[str, str | None]] = {
    TrialOutcome.FINISHED: ("FINISHED", None),
    TrialOutcome.FAILED: ("FAILED", "error"),
    TrialOutcome.OOM: ("FAILED", "oom"),  # "no fit in memory": a result
    TrialOutcome.DIVERGED: ("FAILED", "diverged"),
    TrialOutcome.PRUNED: ("KILLED", "pruned"),
    TrialOutcome.KILLED: ("KILLED", "killed"),
    TrialOutcome.LOST: ("KILLED", "killed"),  # the worker lost its lease: ended like a dead one
}
_TAGGED: dict[str, TrialOutcome] = {}
for _outcome, (_status, _tag) in _ENDINGS.items():
    if _tag is not None:
        _TAGGED.setdefault(_tag, _outcome)  # "killed" reads back as KILLED


def mlflow_ending(outcome: TrialOutcome) -> tuple[str, str | None]:
    """The MLflow run status and ``ferablate.failure`` tag (None: no tag) of an outcome."""
    try:
        return _ENDINGS[outcome]
    except KeyError:
        raise ValueError(f"a trial run cannot end as '{outcome}'") from None


def outcome_for_failure_tag(tag: str) -> TrialOutcome:
    """The outcome a ``ferablate.failure`` tag (or an outcome's own name) stands for."""
    if tag in _TAGGED:
        return _TAGGED[tag]
    try:
        return TrialOutcome(tag)
    except ValueError:
        raise ValueError(f"unknown failure '{tag}' (known: {', '.join(_TAGGED)})") from None


def outcome_of_run(status: str, failure: str) -> TrialOutcome | None:
    """How a stored run ended, from its MLflow status and failure tag; None while it runs."""
    if status == "FINISHED":
        return TrialOutcome.FINISHED
    if status in ("RUNNING", "SCHEDULED"):
        return None
    if failure in _TAGGED:
        return _TAGGED[failure]
    return TrialOutcome.KILLED if status == "KILLED" else TrialOutcome.FAILED


def now_ms() -> int:
    """MLflow's timestamps: milliseconds since the epoch."""
    return int(time.time() * 1000)


def search_runs(
    client: MlflowClient,
    experiment_ids: list[str],
    filter_string: str,
    max_results: int | None = 5000,
) -> list[Run]:
    """Runs matching an MLflow filter, newest first, page after page (all with None)."""
    runs: list[Run] = []
    token: str | None = None
    while True:
        page = client.search_runs(
            experiment_ids,
            filter_string=filter_string,
            max_results=1000 if max_results is None else min(max_results, 1000),
            order_by=["attributes.start_time DESC"],
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token or (max_results is not None and len(runs) >= max_results):
            return runs


def resolve_tracking_uri(explicit: str | None = None) -> str:
    """``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlruns/mlflow.db``."""
    uri = explicit or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        db_path = Path(uri.removeprefix("sqlite:///"))
        db_path.parent.mkdir(parents=True, exist_ok=True)
    elif parsed.scheme in ("", "file"):
        raise TrackingError(
            f"tracking URI '{uri}': MLflow's file store is deprecated; use "
            f"sqlite:///<dir>/mlflow.db or an http(s):// tracking server"
        )
    return uri


def artifact_root_for(uri: str) -> str | None:
    """Artifacts of a SQLite store live beside its database (``mlruns/artifacts``)."""
    if not uri.startswith("sqlite:///"):
        return None  # a tracking server decides where artifacts go
    return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "artifacts").as_uri()


def open_experiment(client: MlflowClient, uri: str, name: str) -> str:
    """The id of experiment ``name``, created (with artifacts beside the DB) when missing."""
    try:
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                client.restore_experiment(experiment.experiment_id)
            return str(experiment.experiment_id)
        root = artifact_root_for(uri)
        location = f"{root}/{_safe_dir(name)}" if root else None
        return str(client.create_experiment(name, artifact_location=location))
    except TrackingError:
        raise
    except Exception as exc:
        if exc.__class__.__name__ == "RestException" and "already exists" in str(exc):
            found = client.get_experiment_by_name(name)  # created by a concurrent worker
            if found is not None:
                return str(found.experiment_id)
        raise TrackingError(f"MLflow store {uri}: cannot open experiment '{name}': {exc}") from exc


def _safe_dir(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


@cache
def git_commit() -> str:
    """``HEAD`` of the current checkout (``-dirty`` when modified), or ``""`` outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{commit}-dirty" if dirty else commit
