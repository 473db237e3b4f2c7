"""What the MLflow UI needs from a store: the server command, and a runs view saved in the store.

MLflow 3's UI reads its runs-table state (filter, order, visible columns) either from the URL
(filter and order only) or from a *shared view*: JSON stored as the experiment tag
``mlflow.sharedViewState.<key>`` and named by ``?viewStateShareKey=<key>`` (the UI's own
"Share" button does the same). ``?workflowType=machine_learning`` selects the model-training
UI. Names read from mlflow/server/js/build/static/js (MLflow 3.17): ``3793.*.chunk.js`` (URL
facets ``searchFilter``/``orderByKey``/``orderByAsc``), ``3878.*.chunk.js`` (loading a shared
view), ``main.*.js`` (``viewStateShareKey``, ``mlflow.sharedViewState.``, ``workflowType``,
column keys ``metrics.`name```).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from ferablate._errors import TrackingError
from ferablate.tracking._store import MODEL_TRAINING_KIND, TAG, artifact_root_for

__all__ = [
    "TRIAL_METRICS",
    "RunsView",
    "UiServerCommand",
    "experiment_name_for",
    "runs_page_url",
    "runs_view_state",
    "save_runs_view",
    "ui_server_command",
    "view_key",
]

TRIAL_METRICS = ("val_accuracy_mean", "val_precision_mean", "val_recall_mean")
_VIEW_TAG_PREFIX = "mlflow.sharedViewState."
_MAX_PARAM_COLUMNS = 12  # more ablated keys than this would push the metrics off screen
# The server's private configuration, set as `mlflow server` would (mlflow/server/constants.py;
# tests/cli/test_cli_ui.py checks the names against the installed MLflow).
_STORE_ENV = "_MLFLOW_SERVER_FILE_STORE"
_REGISTRY_ENV = "_MLFLOW_SERVER_REGISTRY_STORE"
_ARTIFACT_ROOT_ENV = "_MLFLOW_SERVER_ARTIFACT_ROOT"
_SERVER_NAME_ENV = "_MLFLOW_SGI_NAME"


@dataclass(frozen=True)
class UiServerCommand:
    """A command line serving the UI, and the environment it needs on top of ours."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""  # where it answers, e.g. http://127.0.0.1:5000


def ui_server_command(
    tracking_uri: str, host: str = "127.0.0.1", port: int = 5000, *, verbose: bool = False
) -> UiServerCommand:
    """One uvicorn worker running MLflow's app on ``tracking_uri``; no job consumers.

    ``mlflow server`` would add a supervising process, four workers and seven huey consumers
    (an ~30 s start on 2 cores); the UI needs none of them.
    """
    if tracking_uri.startswith(("http://", "https://")):
        raise TrackingError(
            f"tracking URI '{tracking_uri}' is a tracking server: open it in a browser"
        )
    env = {
        _STORE_ENV: tracking_uri,
        _REGISTRY_ENV: tracking_uri,
        _SERVER_NAME_ENV: "uvicorn",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # no huey consumers
    }
    root = artifact_root_for(tracking_uri)
    if root is not None:
        env[_ARTIFACT_ROOT_ENV] = root
    if not verbose:
        env["PYTHONWARNINGS"] = "ignore"  # StarletteDeprecationWarning & co. at import
    argv = [sys.executable, "-m", "uvicorn", "--host", host, "--port", str(port), "--workers", "1"]
    if not verbose:
        argv += ["--log-level", "warning", "--no-access-log"]
    display_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return UiServerCommand(
        [*argv, "mlflow.server.fastapi_app:app"], env, f"http://{display_host}:{port}"
    )


def runs_view_state(
    param_keys: Sequence[str], metric_keys: Sequence[str] = TRIAL_METRICS
) -> dict[str, Any]:
    """The shared-view JSON: trial runs by mean validation accuracy, metrics and params shown."""
    columns = [f"metrics.`{key}`" for key in metric_keys] + [
        f"params.`{key}`" for key in param_keys
    ]
    return {
        "searchFilter": f"tags.`{TAG.ROLE}` = 'trial'",  # parents only; fold runs nest below
        "orderByKey": f"metrics.`{metric_keys[0]}`" if metric_keys else "attributes.start_time",
        "orderByAsc": False,
        "selectedColumns": columns,
        "runsHiddenMode": "SHOW_ALL",
    }


def view_key(state: Mapping[str, Any]) -> str:
    """A key naming ``state``: the same view is saved once, under the same key."""
    canonical = json.dumps(state, sort_keys=True, separators=(",", ":"))
    return "ferablate-" + hashlib.sha256(canonical.encode()).hexdigest()[:12]


def runs_page_url(base_url: str, experiment_id: str | None = None, view: str | None = None) -> str:
    """The UI's address of an experiment's runs table in model-training mode (hash routing)."""
    if experiment_id is None:
        return f"{base_url}/#/experiments?{urlencode({'workflowType': 'machine_learning'})}"
    query = {"workflowType": "machine_learning", "compareRunsMode": "TABLE"}
    if view is not None:
        query["viewStateShareKey"] = view
    return f"{base_url}/#/experiments/{experiment_id}/runs?{urlencode(query)}"


@dataclass(frozen=True)
class RunsView:
    """A sweep's runs view, saved in its experiment."""

    experiment_id: str
    key: str  # viewStateShareKey
    param_keys: tuple[str, ...]  # ablated params shown as columns


def experiment_name_for(sweep: str) -> str:
    """A sweep file's experiment (its ``name``), or ``sweep`` itself taken as an experiment name."""
    if sweep.endswith((".yaml", ".yml")) or Path(sweep).is_file():
        from ferablate.config import load_sweep

        return load_sweep(sweep).name
    return sweep


def save_runs_view(tracking_uri: str, experiment: str, *, dry_run: bool = False) -> RunsView:
    """Save the runs view of ``experiment`` as a shared view (nothing when ``dry_run``).

    Reads the trial runs to find the ablated params (those whose values differ between trials);
    marks an experiment made before ferablate tagged them as a model-training experiment.
    """
    if (
        tracking_uri.startswith("sqlite:///")
        and not Path(tracking_uri.removeprefix("sqlite:///")).is_file()
    ):
        raise TrackingError(
            f"no MLflow store at {tracking_uri}; run a sweep first or pass --tracking-uri"
        )
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = ", ".join(e.name for e in client.search_experiments(max_results=20)) or "none"
        raise TrackingError(
            f"no experiment '{experiment}' in {tracking_uri} (experiments: {names})"
        )
    experiment_id = str(found.experiment_id)
    runs = client.search_runs([experiment_id], f"tags.`{TAG.ROLE}` = 'trial'", max_results=5000)
    param_keys = ablated_params(run.data.params for run in runs)
    state = runs_view_state(param_keys)
    key = view_key(state)
    if not dry_run:
        for tag, value in MODEL_TRAINING_KIND.items():
            if tag not in found.tags:
                client.set_experiment_tag(experiment_id, tag, value)
        if _VIEW_TAG_PREFIX + key not in found.tags:
            client.set_experiment_tag(experiment_id, _VIEW_TAG_PREFIX + key, json.dumps(state))
    return RunsView(experiment_id, key, param_keys)


def ablated_params(params_per_run: Iterable[Mapping[str, str]]) -> tuple[str, ...]:
    """Param keys whose value differs between runs (a key missing from a run counts as a value)."""
    runs = list(params_per_run)
    keys = sorted({key for params in runs for key in params})
    varying = [key for key in keys if len({params.get(key) for params in runs}) > 1]
    return tuple(varying[:_MAX_PARAM_COLUMNS])
