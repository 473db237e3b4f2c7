"""Table rows from tracked MLflow runs: per trial, its newest FINISHED run wins.

Reading never creates anything in the store: a sweep nobody ran yet gives a table of
``—`` rows; an ``--experiment`` that does not exist is an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import ValidationError

from ferablate._errors import TrackingError
from ferablate._logging import get_logger
from ferablate.config import Sweep, Trial, TrialConfig, expand_sweep, resolve_trial
from ferablate.tables._build import AblationTable, RowStatus, TableRow, build_tables
from ferablate.tracking import TAG, config_from_run, resolve_tracking_uri

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

__all__ = ["experiment_rows", "experiment_tables", "row_from_runs", "sweep_rows", "sweep_tables"]

_log = get_logger(__name__)

# ferablate.failure tag -> row status (anything else that ended a run: "failed")
_FAILURES: dict[str, RowStatus] = {"oom": "oom", "pruned": "pruned", "killed": "interrupted"}


def row_from_runs(name: str, runs: Sequence[Run], fallback: TrialConfig | None = None) -> TableRow:
    """The row of trial ``name`` from its runs (newest first).

    The newest FINISHED run gives the metrics; without one, the newest run decides: RUNNING
    reads ``running``, one tagged ``ferablate.failure=oom`` reads ``no fit in memory``
    (``pruned`` / ``killed``: ``pruned`` / ``interrupted``), any other ending ``failed``. No run
    at all: ``missing`` with ``fallback``'s config.
    """
    finished = next((run for run in runs if run.info.status == "FINISHED"), None)
    chosen = finished or (runs[0] if runs else None)
    if chosen is None:
        if fallback is None:
            raise ValueError(f"trial '{name}' has neither runs nor a config")
        return TableRow(name, fallback, "missing")
    status: RowStatus
    if finished is not None:
        status = "finished"
    elif chosen.info.status == "RUNNING":
        status = "running"
    else:
        failure = chosen.data.tags.get(TAG.FAILURE, "")
        status = _FAILURES.get(failure, "failed")
    config = _config_of(chosen, fallback)
    metrics = dict(chosen.data.metrics) if status == "finished" else {}
    return TableRow(name, config, status, metrics, chosen.info.run_id)


def _config_of(run: Run, fallback: TrialConfig | None) -> TrialConfig:
    try:
        return config_from_run(run)
    except (TrackingError, ValidationError) as exc:
        if fallback is None:
            raise TrackingError(
                f"run {run.info.run_id}: its {TAG.CONFIG} tag is missing or no longer a valid "
                f"config ({str(exc).splitlines()[0]}); table it from its sweep file instead"
            ) from None
        _log.warning("run %s: unreadable config tag, showing the sweep's config", run.info.run_id)
        return fallback


def _client(tracking_uri: str | None) -> tuple[MlflowClient, str]:
    from mlflow import MlflowClient

    uri = resolve_tracking_uri(tracking_uri)
    return MlflowClient(tracking_uri=uri), uri


def _trial_runs(client: MlflowClient, experiment_id: str) -> dict[str, list[Run]]:
    """Trial runs (newest first) grouped by trial name."""
    grouped: dict[str, list[Run]] = {}
    token: str | None = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{TAG.ROLE}` = 'trial'",
            max_results=1000,
            order_by=["attributes.start_time DESC"],
            page_token=token,
        )
        for run in page:
            tags = run.data.tags
            name = (
                tags.get(TAG.TRIAL) or tags.get(TAG.VARIANT) or run.info.run_name or run.info.run_id
            )
            grouped.setdefault(name, []).append(run)
        token = page.token
        if not token:
            return grouped


def sweep_rows(
    sweep: Sweep, tracking_uri: str | None = None, trials: Sequence[Trial] | None = None
) -> list[TableRow]:
    """One row per trial of ``sweep`` in sweep order, matched to runs by trial name."""
    trials = list(trials) if trials is not None else expand_sweep(sweep)
    client, _ = _client(tracking_uri)
    experiment = client.get_experiment_by_name(sweep.name)
    runs = _trial_runs(client, experiment.experiment_id) if experiment is not None else {}
    return [row_from_runs(trial.name, runs.get(trial.name, []), trial.config) for trial in trials]


def experiment_rows(experiment: str, tracking_uri: str | None = None) -> list[TableRow]:
    """One row per trial tracked in ``experiment``, ordered by its ``trial_index`` tag."""
    client, uri = _client(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = sorted(e.name for e in client.search_experiments())
        known = f" (experiments: {', '.join(names)})" if names else ""
        raise TrackingError(f"no experiment '{experiment}' in MLflow store {uri}{known}")
    runs = _trial_runs(client, found.experiment_id)
    if not runs:
        raise TrackingError(f"experiment '{experiment}' in {uri} has no trial runs yet")

    def order(name: str) -> tuple[int, int]:
        oldest = runs[name][-1]
        index = oldest.data.tags.get(TAG.TRIAL_INDEX, "")
        return (int(index) if index.isdigit() else 1_000_000, oldest.info.start_time or 0)

    return [row_from_runs(name, runs[name]) for name in sorted(runs, key=order)]


def sweep_tables(
    sweep: Sweep,
    *,
    tracking_uri: str | None = None,
    std: bool = False,
) -> list[AblationTable]:
    """The report-layout tables of ``sweep`` from its tracked runs."""
    rows = sweep_rows(sweep, tracking_uri)
    base = resolve_trial(sweep.base, [])
    title = sweep.description or sweep.name
    return build_tables(rows, title=title, name=sweep.name, base=base, std=std)


def experiment_tables(
    experiment: str, *, tracking_uri: str | None = None, std: bool = False
) -> list[AblationTable]:
    """The report-layout tables of every trial tracked in ``experiment`` (no sweep file)."""
    rows = experiment_rows(experiment, tracking_uri)
    return build_tables(rows, title=experiment, std=std)
