"""Table rows from tracked runs (read through ``tracking.RunStore``): per trial, its newest FINISHED run wins.

Reading never creates anything in the store: a sweep nobody ran yet gives a table of
``—`` rows; an ``--experiment`` that does not exist is an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from ferablate._errors import TrackingError
from ferablate._logging import get_logger
from ferablate.config import Sweep, Trial, TrialConfig, expand_sweep, experiment_name, resolve_trial
from ferablate.tables._build import AblationTable, TableRow, build_tables, choose_run
from ferablate.tables._compare import add_delta_column
from ferablate.tables._sweepcompare import compare_sweep
from ferablate.tracking import TAG, RunStore, StoredRun, match_sweep

__all__ = [
    "PARENT",
    "experiment_rows",
    "experiment_tables",
    "row_from_runs",
    "sweep_rows",
    "sweep_tables",
]

PARENT = "parent"  # ``table --vs parent``: each row's Δ against its declared parent

_log = get_logger(__name__)


def row_from_runs(
    name: str, runs: Sequence[StoredRun], fallback: TrialConfig | None = None
) -> TableRow:
    """The row of trial ``name`` from its runs (newest first): the run and status
    :func:`choose_run` picks; no run at all: ``missing`` with ``fallback``'s config."""
    chosen, status = choose_run(runs)
    if chosen is None:
        if fallback is None:
            raise ValueError(f"trial '{name}' has neither runs nor a config")
        return TableRow(name, fallback, "missing")
    config = _config_of(chosen, fallback)
    metrics = dict(chosen.metrics) if status == "finished" else {}
    collapsed = chosen.tags.get(TAG.COLLAPSED_FOLDS, "")
    return TableRow(
        name, config, status, metrics, chosen.run_id, data_hash=chosen.data_hash,
        git_commit=chosen.git_commit, precision=chosen.tags.get(TAG.PRECISION, ""),
        collapsed=tuple(filter(None, collapsed.split(","))),
    )  # fmt: skip


def _config_of(run: StoredRun, fallback: TrialConfig | None) -> TrialConfig:
    try:
        return run.config
    except (TrackingError, ValidationError) as exc:
        if fallback is None:
            raise TrackingError(
                f"run {run.run_id}: its {TAG.CONFIG} tag is missing or no longer a valid "
                f"config ({str(exc).splitlines()[0]}); table it from its sweep file instead"
            ) from None
        _log.warning("run %s: unreadable config tag, showing the sweep's config", run.run_id)
        return fallback


def sweep_rows(
    sweep: Sweep,
    tracking_uri: str | None = None,
    trials: Sequence[Trial] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    announce: bool = True,
) -> list[TableRow]:
    """One row per trial of ``sweep`` (under ``overrides``) in sweep order.

    A trial's runs are those with its identity (``tracking.match_sweep``: the one rule of
    ``table``, ``compare`` and ``status``); runs of its variants under other settings are
    never shown as its row: with ``announce`` one warning line names their ``--set`` pairs.
    """
    trials = list(trials) if trials is not None else expand_sweep(sweep, overrides)
    store = RunStore(tracking_uri)
    experiment = experiment_name(sweep, overrides)
    store.require_experiment(experiment)  # a mistyped store or sweep: one line, not dashes
    matched = match_sweep(trials, store.trial_runs(experiment))
    if announce:
        for line in matched.notes:
            _log.warning("%s", line)
    return [
        row_from_runs(trial.name, matched.runs_of(trial), trial.config) for trial in matched.trials
    ]


def experiment_rows(experiment: str, tracking_uri: str | None = None) -> list[TableRow]:
    """One row per trial tracked in ``experiment``, ordered by its ``trial_index`` tag."""
    store = RunStore(tracking_uri)
    store.require_experiment(experiment)
    runs: dict[str, list[StoredRun]] = {}  # trial name -> its runs, newest first
    for run in store.trial_runs(experiment):
        runs.setdefault(run.name, []).append(run)
    if not runs:
        raise TrackingError(f"experiment '{experiment}' in {store.uri} has no trial runs yet")

    def order(name: str) -> tuple[int, int]:
        oldest = runs[name][-1]
        return (1_000_000 if oldest.index is None else oldest.index, oldest.start_time)

    return [row_from_runs(name, runs[name]) for name in sorted(runs, key=order)]


def sweep_tables(
    sweep: Sweep,
    *,
    tracking_uri: str | None = None,
    std: bool = False,
    overrides: Mapping[str, Any] | None = None,
    vs: str | None = None,
    metric: str = "val_accuracy",
    announce: bool = True,
) -> list[AblationTable]:
    """The report-layout tables of ``sweep`` (under ``overrides``) from its tracked runs.

    ``vs`` (a trial or variant name) adds a Δ column against that baseline with the
    corrected resampled t-test (see ``compare_sweep``); ``vs="parent"`` puts each row's Δ
    against its declared parent (the first row for a row without one). With ``announce``
    one warning line names the ``--set`` pairs the sweep's variants ran with otherwise.
    """
    rows = sweep_rows(sweep, tracking_uri, overrides=overrides, announce=announce)
    base = resolve_trial(sweep.base, [])
    title = sweep.description or sweep.name
    tables = build_tables(rows, title=title, name=sweep.name, base=base, std=std)
    if vs is None:
        return tables
    compared = compare_sweep(
        sweep,
        overrides,
        baseline=None if vs == PARENT else vs,
        metric=metric,
        tracking_uri=tracking_uri,
        announce=False,
    )
    return [add_delta_column(table, compared.comparisons) for table in tables]


def experiment_tables(
    experiment: str, *, tracking_uri: str | None = None, std: bool = False
) -> list[AblationTable]:
    """The report-layout tables of every trial tracked in ``experiment`` (no sweep file)."""
    rows = experiment_rows(experiment, tracking_uri)
    return build_tables(rows, title=experiment, std=std)
