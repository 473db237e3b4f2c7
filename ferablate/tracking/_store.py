"""Where runs live: the MLflow tracking URI, experiments, and the run tags ferablate relies on."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import subprocess
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlparse

from ferablate._errors import StoreFullError, TrackingError
from ferablate._logging import get_logger
from ferablate._outcome import TrialOutcome

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

__all__ = [
    "DEFAULT_TRACKING_URI",
    "MODEL_TRAINING_KIND",
    "TAG",
    "artifact_root_for",
    "check_store_integrity",
    "git_commit",
    "mlflow_ending",
    "now_ms",
    "open_experiment",
    "outcome_for_failure_tag",
    "outcome_of_run",
    "resolve_tracking_uri",
    "search_runs",
    "store_full_error",
    "translating_client",
]

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
# MLflow 3's UI opens an experiment with this tag in model-training mode (runs), not GenAI traces.
MODEL_TRAINING_KIND = {"mlflow.experimentKind": "custom_model_development"}


class TAG:
    """Run tag names (other tools and ``ferablate table`` read these; never rename)."""

    ROLE = "ferablate.role"  # "trial" | "fold" | "final"
    SWEEP = "ferablate.sweep"
    VARIANT = "ferablate.variant"
    TRIAL = "ferablate.trial"  # trial name (variant + grid point)
    TRIAL_INDEX = "ferablate.trial_index"  # position in sweep order
    CONFIG_HASH = "ferablate.config_hash"  # the trial's identity (config/_identity.py)
    IDENTITY = "ferablate.identity"  # the identity version CONFIG_HASH follows (absent: 1)
    CONFIG = "ferablate.config"  # resolved config as canonical JSON
    DATA_HASH = "ferablate.data_hash"
    GIT_COMMIT = "ferablate.git_commit"
    VERSION = "ferablate.version"
    DEVICE = "ferablate.device"
    PRECISION = "ferablate.precision"
    FOLD = "ferablate.fold"  # "<i>" (one repeat) or "r<repeat>-f<fold>": stats.fold_grid reads it
    FOLD_STATUS = "ferablate.fold_status"  # on a fold run that stayed at chance: "collapsed"
    COLLAPSED_FOLDS = "ferablate.collapsed_folds"  # on the trial run: its collapsed folds, "0,3"
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


_log = get_logger(__name__)

# MLflow's own tracking-store schemes (an SQLAlchemy URL may add a driver: postgresql+psycopg).
_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks")


def resolve_tracking_uri(
    explicit: str | None = None, *, create: bool = True, missing_ok: bool = False
) -> str:
    """``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlruns/mlflow.db``.

    Checked before MLflow sees it: a known scheme; for SQLite, with ``create`` a folder that
    exists (made when missing) and can be written (fail fast, not after MLflow's retries),
    without ``create`` (read-only commands) a database file that already exists, unless
    ``missing_ok`` (a look-up that treats a missing store as empty and creates nothing).
    """
    uri = explicit or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    scheme = urlparse(uri).scheme.split("+", 1)[0]
    if scheme in ("", "file"):
        raise TrackingError(
            f"tracking URI '{uri}': MLflow's file store is deprecated; use "
            f"sqlite:///<dir>/mlflow.db or an http(s):// tracking server"
        )
    if scheme not in _SCHEMES:
        raise TrackingError(
            f"tracking URI '{uri}': unknown scheme '{scheme}'; use sqlite:///<dir>/mlflow.db, "
            f"an http(s):// tracking server or a postgresql:// database"
        )
    if scheme in ("http", "https"):
        _probe_server(uri)
    if scheme == "sqlite":
        if not uri.startswith("sqlite:///") or uri == "sqlite:///":
            raise TrackingError(
                f"tracking URI '{uri}': a SQLite store is sqlite:/// and a file path: three "
                f"slashes for a relative path (sqlite:///mlruns/mlflow.db), four for an absolute "
                f"one (sqlite:////data/mlflow.db)"
            )
        db_path = Path(uri.removeprefix("sqlite:///"))
        if create:
            _check_writable(db_path.parent, uri)
            if db_path.is_file() and not os.access(db_path, os.W_OK):
                raise TrackingError(f"cannot write the MLflow store {db_path} (read-only file)")
            if db_path.is_file() and db_path.stat().st_size > 0:
                check_store_integrity(db_path)
        elif not db_path.is_file() and not missing_ok:
            raise TrackingError(
                f"no MLflow store at {db_path} (tracking URI '{uri}'); check --tracking-uri "
                f"or $MLFLOW_TRACKING_URI, or run a sweep first"
            )
        elif db_path.is_file() and not (missing_ok and db_path.stat().st_size == 0):
            _check_readable_store(db_path, uri)
    return uri


PROBE_TIMEOUT_S = 5.0  # a tracking server that does not accept a connection in this is down


@cache
def _probe_server(uri: str) -> None:
    """Connect once to an ``http(s)://`` tracking server: an unreachable one fails here in
    seconds, where MLflow's client would retry each request for minutes."""
    import socket

    parsed = urlparse(uri)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "localhost", port), PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise TrackingError(
            f"cannot reach the MLflow tracking server {uri} ({why}); start it (mlflow server) "
            f"or check --tracking-uri / $MLFLOW_TRACKING_URI"
        ) from exc


def _check_readable_store(db_path: Path, uri: str) -> None:
    """A read-only command opens only a SQLite file that holds MLflow's tables: on any other
    file MLflow would write its whole schema (0 bytes -> about 1 MB) before reading nothing."""
    import sqlite3

    size = db_path.stat().st_size
    try:
        with contextlib.closing(
            sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        ) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return  # a writer holds it: it is a store in use; MLflow waits for its turn
        raise TrackingError(f"cannot read the MLflow store {db_path}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise TrackingError(
            f"{db_path} is not an MLflow store ({exc}); check --tracking-uri or "
            f"$MLFLOW_TRACKING_URI (tracking URI '{uri}')"
        ) from exc
    if not {"runs", "experiments", "alembic_version"} <= tables:
        what = "an empty file (0 bytes)" if size == 0 else "a SQLite file without MLflow's tables"
        raise TrackingError(
            f"{db_path} is not an MLflow store: {what}, so there are no runs to read; run a "
            f"sweep into it first, or check --tracking-uri or $MLFLOW_TRACKING_URI"
        )


def check_store_integrity(db_path: Path) -> None:
    """``PRAGMA quick_check`` of a SQLite store about to be written (once per process and
    file): a damaged store would otherwise take new runs silently, and fail later."""
    stat = db_path.stat()
    _check_integrity(str(db_path.resolve()), stat.st_ino, stat.st_dev)


@cache
def _check_integrity(path: str, inode: int, device: int) -> None:
    import sqlite3

    try:
        with contextlib.closing(
            sqlite3.connect(f"{Path(path).as_uri()}?mode=ro", uri=True, timeout=30)
        ) as db:
            problems = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
    except sqlite3.OperationalError as exc:
        _log.debug("PRAGMA quick_check of %s not run: %s", path, exc)  # locked: in use
        return
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    if problems == ["ok"]:
        return
    _log.debug("PRAGMA quick_check of %s: %s", path, problems)
    raise TrackingError(
        f"the MLflow store {path} is damaged ({problems[0]}); restore it from a backup, or "
        f"recover what is readable with: sqlite3 {path} .recover | sqlite3 recovered.db"
    )


def _check_writable(folder: Path, uri: str) -> None:
    """Make the store's folder and write a probe file in it (SQLite needs both for its journal)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise StoreFullError(str(folder)) from exc
        why = exc.strerror or type(exc).__name__
        raise TrackingError(
            f"cannot write the MLflow store's folder {folder} ({why}); pick a writable place "
            f"with --tracking-uri sqlite:///<dir>/mlflow.db (tracking URI '{uri}')"
        ) from exc


def store_full_error(exc: BaseException, uri: str) -> StoreFullError | None:
    """The :class:`StoreFullError` an exception from a store write stands for, else None.

    The one place a full disk is recognised: SQLite's "database or disk is full" (raw, or
    wrapped by SQLAlchemy and MLflow) and ``OSError`` ENOSPC from an artifact copy.
    """
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, StoreFullError):
            return cause
        if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
            # A copy names its source first: the file that could not be written is the second.
            written = cause.filename2 or cause.filename
            return StoreFullError(_full_folder(written, uri) if written else _store_place(uri))
        if "database or disk is full" in str(cause) or "No space left on device" in str(cause):
            return StoreFullError(_store_place(uri))
        cause = cause.__cause__ or cause.__context__
    return None


def _full_folder(written: str | bytes | int, uri: str) -> str:
    """The folder to name for a file that could not be written: the store's folder when the
    file is under it (its artifacts), else the file's own folder (e.g. the temporary one)."""
    path = Path(os.fsdecode(written) if not isinstance(written, int) else "").resolve()
    store = Path(_store_place(uri))
    if store.is_absolute() and path.is_relative_to(store):
        return str(store)
    return str(path.parent)


def _store_place(uri: str) -> str:
    if uri.startswith("sqlite:///"):
        return str(Path(uri.removeprefix("sqlite:///")).resolve().parent)
    return uri


class _TranslatingClient:
    """An ``MlflowClient`` whose every call turns a full disk into :class:`StoreFullError`."""

    def __init__(self, client: Any, uri: str) -> None:
        self._client = client
        self.tracking_uri = uri

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attribute(*args, **kwargs)
            except Exception as exc:
                full = store_full_error(exc, self.tracking_uri)
                if full is None:
                    raise
                raise full from exc

        return call


def translating_client(uri: str) -> MlflowClient:
    """An ``MlflowClient`` on ``uri`` that reports a full disk as :class:`StoreFullError`."""
    from mlflow import MlflowClient

    try:
        client = MlflowClient(tracking_uri=uri)
    except Exception as exc:
        raise TrackingError(f"tracking URI '{uri}': {str(exc).strip().splitlines()[0]}") from exc
    return cast("MlflowClient", _TranslatingClient(client, uri))


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
        return str(
            client.create_experiment(name, artifact_location=location, tags=MODEL_TRAINING_KIND)
        )
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
    """``HEAD`` of the source tree ferablate was imported from (``+dirty`` when a tracked file
    there is modified), or ``""`` when the package does not live in a git checkout.

    The package's own directory decides, not the working directory: an editable install used
    from another folder still logs the commit of the code that ran.
    """
    package = Path(__file__).resolve().parents[1]  # .../ferablate

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(package), *args],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip

    try:
        # A package copied into site-packages inside some other repository is no checkout of it.
        if not git("ls-files", "--", "__init__.py"):
            return ""
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{commit}+dirty" if dirty else commit
