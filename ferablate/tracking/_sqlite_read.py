"""A fast read of a SQLite store's FINISHED trials with the standard library's ``sqlite3``.

Importing MLflow and opening its store costs 2-4 s; a re-run whose trials all finished must
answer in a fraction of that (issue 14.2). The query reads MLflow's SQL schema (``runs``,
``tags``, ``latest_metrics``, ``experiments``: stable across MLflow 2 and 3) read-only; any
surprise (another schema, a locked file) returns None and the caller reads through MLflow.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ferablate._logging import get_logger
from ferablate.tracking._runs import StoredRun
from ferablate.tracking._store import TAG

__all__ = ["finished_trials_sqlite"]

_log = get_logger(__name__)

_FINISHED_TRIALS = """
SELECT r.run_uuid, r.name, r.status, r.start_time, r.end_time, r.experiment_id FROM runs r
JOIN tags t ON t.run_uuid = r.run_uuid AND t.key = ? AND t.value = 'trial'
WHERE r.experiment_id = ? AND r.status = 'FINISHED' AND r.lifecycle_stage = 'active'
ORDER BY r.start_time DESC
"""
# The names the selected columns have on an MLflow ``RunInfo``, in the query's order.
_RUN_INFO = ("run_id", "run_name", "status", "start_time", "end_time", "experiment_id")


def finished_trials_sqlite(path: Path, experiment: str) -> list[StoredRun] | None:
    """FINISHED trial runs of ``experiment`` in the SQLite store at ``path``, newest first
    (None: read it through MLflow instead)."""
    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        ) as db:
            ids = db.execute(
                "SELECT experiment_id FROM experiments WHERE name = ?", (experiment,)
            ).fetchall()
            if len(ids) != 1:
                return [] if not ids else None  # several workspaces: let MLflow decide
            rows = db.execute(_FINISHED_TRIALS, (TAG.ROLE, ids[0][0])).fetchall()
            tags: dict[str, dict[str, str]] = {row[0]: {} for row in rows}
            metrics: dict[str, dict[str, float]] = {row[0]: {} for row in rows}
            for table, into in (("tags", tags), ("latest_metrics", metrics)):
                query = f"SELECT x.run_uuid, x.key, x.value FROM {table} x JOIN runs r ON r.run_uuid = x.run_uuid WHERE r.experiment_id = ?"
                for run_id, key, value in db.execute(query, (ids[0][0],)):
                    if run_id in into:
                        into[run_id][key] = value
    except sqlite3.Error as exc:
        _log.debug("fast read of %s failed (%s); reading through MLflow", path, exc)
        return None
    return [StoredRun.from_mlflow(_as_run(row, tags[row[0]], metrics[row[0]])) for row in rows]


def _as_run(row: tuple[Any, ...], tags: dict[str, str], metrics: dict[str, float]) -> Any:
    """The attributes of an MLflow ``Run`` that ``StoredRun.from_mlflow`` reads."""
    info = SimpleNamespace(**dict(zip(_RUN_INFO, row, strict=True)))
    return SimpleNamespace(info=info, data=SimpleNamespace(tags=tags, metrics=metrics))
