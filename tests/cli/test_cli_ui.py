"""``ferablate ui``: the runs-table URL, the view saved in the store, and a server that leaves nothing behind."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from ferablate._errors import TrackingError
from ferablate.cli import app
from ferablate.tracking import TAG, open_experiment, runs_page_url, save_runs_view
from ferablate.tracking._ui import ablated_params, runs_view_state, ui_server_command, view_key

REPO = Path(__file__).resolve().parents[2]


def test_runs_page_url_opens_the_runs_table_in_model_training_mode() -> None:
    url = runs_page_url("http://127.0.0.1:5000", "7", "ferablate-0123abcd")
    base, _, fragment = url.partition("#")
    assert base == "http://127.0.0.1:5000/"
    route = urlsplit(fragment)
    assert route.path == "/experiments/7/runs"
    assert parse_qs(route.query) == {
        "workflowType": ["machine_learning"],
        "compareRunsMode": ["TABLE"],
        "viewStateShareKey": ["ferablate-0123abcd"],
    }
    assert runs_page_url("http://h:1") == "http://h:1/#/experiments?workflowType=machine_learning"


def test_view_state_orders_trials_by_accuracy_and_shows_metrics_then_ablated_params() -> None:
    state = runs_view_state(["model.activation", "model.batch_norm"])
    assert state["searchFilter"] == "tags.`ferablate.role` = 'trial'"
    assert (state["orderByKey"], state["orderByAsc"]) == ("metrics.`val_accuracy_mean`", False)
    assert state["selectedColumns"] == [
        "metrics.`val_accuracy_mean`",
        "metrics.`val_precision_mean`",
        "metrics.`val_recall_mean`",
        "params.`model.activation`",
        "params.`model.batch_norm`",
    ]
    assert view_key(state) == view_key(json.loads(json.dumps(state)))  # same view, same key
    assert view_key(state) != view_key(runs_view_state(["model.activation"]))


def test_ablated_params_are_the_keys_whose_values_differ() -> None:
    runs = [{"a": "1", "b": "x", "c": "0"}, {"a": "1", "b": "y", "c": "0"}, {"a": "1", "b": "x"}]
    assert ablated_params(runs) == ("b", "c")
    assert ablated_params([{"a": "1"}]) == ()


def test_server_command_is_one_uvicorn_worker_without_job_consumers(tmp_path: Path) -> None:
    from mlflow.server import constants

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = ui_server_command(uri, "0.0.0.0", 5001)
    assert command.argv[command.argv.index("--workers") + 1] == "1"
    assert command.argv[-1] == "mlflow.server.fastapi_app:app"
    assert command.url == "http://127.0.0.1:5001"
    assert command.env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    # the server's private configuration names are those of the installed MLflow
    assert command.env[constants.BACKEND_STORE_URI_ENV_VAR] == uri
    assert command.env[constants.REGISTRY_STORE_URI_ENV_VAR] == uri
    assert command.env[constants.ARTIFACT_ROOT_ENV_VAR] == (tmp_path / "artifacts").as_uri()
    assert "--log-level" not in ui_server_command(uri, verbose=True).argv
    with pytest.raises(TrackingError, match="tracking server"):
        ui_server_command("http://mlflow.example:5000")


def _store_with_trials(tmp_path: Path) -> tuple[str, str]:
    """A store whose experiment 'ui-sweep' holds two trial runs (+ a fold run) differing in one param."""
    from mlflow import MlflowClient

    uri = os.environ["MLFLOW_TRACKING_URI"]
    client = MlflowClient(uri)
    experiment_id = open_experiment(client, uri, "ui-sweep")
    for activation, accuracy in (("relu", 0.6), ("elu", 0.7)):
        run = client.create_run(experiment_id, tags={TAG.ROLE: "trial"}, run_name=activation)
        client.log_param(run.info.run_id, "model.activation", activation)
        client.log_param(run.info.run_id, "train.epochs", "2")
        client.log_metric(run.info.run_id, "val_accuracy_mean", accuracy)
        client.set_terminated(run.info.run_id)
    fold = client.create_run(experiment_id, tags={TAG.ROLE: "fold"})
    client.log_param(fold.info.run_id, "fold.only", "1")
    return uri, experiment_id


def test_new_experiments_are_model_training_and_the_view_is_saved_once(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    uri, experiment_id = _store_with_trials(tmp_path)
    client = MlflowClient(uri)
    assert (
        client.get_experiment(experiment_id).tags["mlflow.experimentKind"]
        == "custom_model_development"
    )

    planned = save_runs_view(uri, "ui-sweep", dry_run=True)
    assert not any(
        k.startswith("mlflow.sharedViewState.") for k in client.get_experiment(experiment_id).tags
    )
    view = save_runs_view(uri, "ui-sweep")
    assert view == planned and view.experiment_id == experiment_id
    assert view.param_keys == ("model.activation",)  # fold runs and constant params left out
    saved = json.loads(
        client.get_experiment(experiment_id).tags[f"mlflow.sharedViewState.{view.key}"]
    )
    assert saved == runs_view_state(["model.activation"])
    assert save_runs_view(uri, "ui-sweep") == view  # idempotent


def test_unknown_experiment_or_missing_store_is_one_error_and_creates_nothing(
    tmp_path: Path,
) -> None:
    uri, _ = _store_with_trials(tmp_path)
    with pytest.raises(TrackingError, match=r"no experiment 'nope'.*ui-sweep"):
        save_runs_view(uri, "nope")
    missing = tmp_path / "elsewhere" / "mlflow.db"
    with pytest.raises(TrackingError, match="no MLflow store"):
        save_runs_view(f"sqlite:///{missing}", "ui-sweep")
    assert not missing.exists()


def test_dry_run_prints_the_server_command_and_the_runs_page(tmp_path: Path) -> None:
    _, experiment_id = _store_with_trials(tmp_path)
    result = CliRunner().invoke(app, ["ui", "ui-sweep", "--port", "5999", "--dry-run"])
    assert result.exit_code == 0, result.output
    command, url = result.stdout.strip().splitlines()
    assert "-m uvicorn" in command and "--workers 1" in command and "--port 5999" in command
    assert url.startswith(f"http://127.0.0.1:5999/#/experiments/{experiment_id}/runs?")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _proc_stats() -> list[tuple[int, list[str]]]:
    """(pid, the fields after the command name) of every process in /proc."""
    stats = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            stats.append((int(entry.name), stat.rsplit(")", 1)[1].split()))
    return stats


def _children(pid: int) -> list[int]:
    return [child for child, fields in _proc_stats() if int(fields[1]) == pid]  # field 4: ppid


def _group_members(pgid: int) -> list[int]:
    # field 5: pgrp; zombies (state Z) are gone
    return [
        member for member, fields in _proc_stats() if int(fields[2]) == pgid and fields[0] != "Z"
    ]


@pytest.mark.slow  # ~25 s on a loaded 2-core machine (two MLflow start-ups)
def test_server_answers_within_10_s_and_sigint_leaves_no_process(tmp_path: Path) -> None:
    _, experiment_id = _store_with_trials(tmp_path)
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # Ctrl-C as a terminal delivers it: a suite started from a background shell has SIGINT
    # ignored, and a child would inherit that and never hear the signal this test sends.
    parent = subprocess.Popen(
        [sys.executable, "-m", "ferablate", "ui", "ui-sweep", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        assert parent.stdout is not None
        ready = parent.stdout.readline()  # blocks until the server answers (or the parent fails)
        match = re.match(r"ready \(([\d.]+) s\): (\S+)", ready)
        assert match, f"{ready!r} / {parent.stderr.read() if parent.poll() is not None else ''}"
        assert float(match.group(1)) < 10.0, f"the server answered only after {match.group(1)} s"
        assert f"/#/experiments/{experiment_id}/runs?" in match.group(2)
        api = f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/get?experiment_id={experiment_id}"
        with urllib.request.urlopen(api, timeout=10) as answer:  # the UI's own API, on our store
            assert json.load(answer)["experiment"]["name"] == "ui-sweep"
        (server,) = _children(parent.pid)
        pgid = os.getpgid(server)
        assert pgid == server != os.getpgid(parent.pid)  # its own process group
        parent.send_signal(signal.SIGINT)
        assert parent.wait(timeout=30) == 0
    finally:
        if parent.poll() is None:
            parent.kill()
    assert _group_members(pgid) == []
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    assert "stopped" in (parent.stderr.read() if parent.stderr else "")
