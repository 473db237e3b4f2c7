"""Reading the store: trial runs of an experiment, stored results with their fold metrics.

:class:`RunStore` never creates an experiment; it hands out plain frozen records
(:class:`StoredRun`, :class:`StoredTrial`) so that no layer above tracking sees MLflow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferablate._errors import TrackingError
from ferablate._outcome import TrialOutcome
from ferablate.config import IDENTITY_VERSION, TrialConfig
from ferablate.tracking._artifacts import FIGURES_DIR, RunArtifacts, read_run_artifacts
from ferablate.tracking._store import (
    TAG,
    outcome_of_run,
    resolve_tracking_uri,
    search_runs,
    translating_client,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

__all__ = ["RunStore", "StoredRun", "StoredTrial", "config_from_run", "newest_by_identity"]

_TRIALS = f"tags.`{TAG.ROLE}` = 'trial'"
_FINISHED = "attributes.status = 'FINISHED'"


def config_from_run(run: Run | StoredRun) -> TrialConfig:
    """The resolved config a run was trained with (from its ``ferablate.config`` tag)."""
    tags = run.tags if isinstance(run, StoredRun) else run.data.tags
    run_id = run.run_id if isinstance(run, StoredRun) else run.info.run_id
    raw = tags.get(TAG.CONFIG)
    if raw is None:
        raise TrackingError(f"run {run_id} has no {TAG.CONFIG} tag; was it made by ferablate?")
    return TrialConfig.model_validate_json(raw)


@dataclass(frozen=True)
class StoredRun:
    """One stored trial (or final) parent run, read from its tags, status and metrics."""

    run_id: str
    experiment_id: str
    name: str  # trial name (ferablate.trial; else the variant, the run name, the run id)
    variant: str
    index: int | None  # position in sweep order (ferablate.trial_index)
    role: str  # "trial" | "final"
    status: str  # MLflow: RUNNING | FINISHED | FAILED | KILLED
    outcome: TrialOutcome | None  # how it ended (None while RUNNING)
    failure: str  # ferablate.failure tag ("" when none): error | oom | diverged | pruned | killed
    failure_reason: str
    config_hash: str
    data_hash: str
    git_commit: str
    start_time: int  # ms since the epoch
    end_time: int  # ms since the epoch (0 while it runs)
    metrics: Mapping[str, float]  # the run's latest value of each metric (means/std over folds)
    tags: Mapping[str, str]

    @cached_property
    def identity(self) -> str:
        """The run's trial identity under this version of the rule (see
        ``tracking/_identity.py``: runs written before it are identified from their config,
        data hash and precision); "" when it cannot be known."""
        from ferablate.tracking._identity import run_identity

        return run_identity(self.tags)

    @cached_property
    def config(self) -> TrialConfig:
        """The resolved :class:`TrialConfig` (TrackingError without a config tag)."""
        return config_from_run(self)

    @classmethod
    def from_mlflow(cls, run: Run) -> StoredRun:
        return cls(**_fields(run))


@dataclass(frozen=True)
class StoredTrial(StoredRun):
    """A stored trial result with the last-epoch metrics of every fold, for paired statistics.

    Identity: ``variant``, ``name`` (trial name), :attr:`identity`, :attr:`config` (the resolved
    ``TrialConfig``), ``data_hash``, ``git_commit``; ending: ``status`` (MLflow), ``outcome``,
    ``failure`` / ``failure_reason`` (tags). ``fold_metrics`` maps each nested fold run's fold
    name (its ``ferablate.fold`` tag: ``"0"``, ``"1"``, ... today, ``"r<repeat>-f<fold>"`` with
    repeated k-fold) to its last-epoch ``val_accuracy``, ``val_precision``, ``val_recall``,
    ``train_loss`` and ``val_loss``. Folds of a trial that did not finish may be missing.
    ``fold_params`` holds each fold run's params (``n_train_distinct``, ``n_val_distinct``)
    and ``collapsed_folds`` the folds tagged ``ferablate.fold_status=collapsed``.
    """

    fold_metrics: Mapping[str, Mapping[str, float]]
    fold_params: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    collapsed_folds: frozenset[str] = frozenset()

    @classmethod
    def from_runs(cls, run: Run, folds: list[Run]) -> StoredTrial:
        return cls(
            **_fields(run),
            fold_metrics={_fold_name(f): dict(f.data.metrics) for f in folds},
            fold_params={_fold_name(f): dict(f.data.params) for f in folds},
            collapsed_folds=frozenset(
                _fold_name(f) for f in folds if f.data.tags.get(TAG.FOLD_STATUS) == "collapsed"
            ),
        )


def newest_by_identity(runs: Iterable[StoredRun]) -> dict[str, StoredRun]:
    """trial identity -> the first of ``runs`` (newest first) with it; no unknown ("") one."""
    newest: dict[str, StoredRun] = {}
    for run in runs:
        newest.setdefault(run.identity, run)
    newest.pop("", None)
    return newest


def _fields(run: Run) -> dict[str, Any]:
    tags = dict(run.data.tags)
    index = tags.get(TAG.TRIAL_INDEX, "")
    failure = tags.get(TAG.FAILURE, "")
    return {
        "run_id": run.info.run_id,
        "experiment_id": str(run.info.experiment_id),
        "name": tags.get(TAG.TRIAL)
        or tags.get(TAG.VARIANT)
        or run.info.run_name
        or run.info.run_id,
        "variant": tags.get(TAG.VARIANT, ""),
        "index": int(index) if index.isdigit() else None,
        "role": tags.get(TAG.ROLE, "trial"),
        "status": run.info.status,
        "outcome": outcome_of_run(run.info.status, failure),
        "failure": failure,
        "failure_reason": tags.get(TAG.FAILURE_REASON, ""),
        "config_hash": tags.get(TAG.CONFIG_HASH, ""),
        "data_hash": tags.get(TAG.DATA_HASH, ""),
        "git_commit": tags.get(TAG.GIT_COMMIT, ""),
        "start_time": int(run.info.start_time or 0),
        "end_time": int(run.info.end_time or 0),
        "metrics": dict(run.data.metrics),
        "tags": tags,
    }


def _fold_name(run: Run) -> str:
    name = run.data.tags.get(TAG.FOLD)
    if name:
        return name
    run_name = run.info.run_name or run.info.run_id
    return run_name.rsplit("/", 1)[-1].removeprefix("fold-")


class RunStore:
    """Read-only access to the runs of an MLflow store (``--tracking-uri``, else the default)."""

    def __init__(
        self, tracking_uri: str | None = None, *, client: MlflowClient | None = None
    ) -> None:
        if client is None:  # read-only: never creates a store (a missing one is a TrackingError)
            self.uri = resolve_tracking_uri(tracking_uri, create=False)
            self._client = translating_client(self.uri)
        else:
            self._client = client
            self.uri = str(getattr(client, "tracking_uri", "") or tracking_uri or "")

    @classmethod
    def of(cls, source: RunStore | str | Any | None) -> RunStore:
        """A store from a store, a tracking URI (None: the default) or an ``MlflowClient``."""
        if isinstance(source, RunStore):
            return source
        if source is None or isinstance(source, str):
            return cls(source)
        return cls(client=source)

    # -- experiments ---------------------------------------------------------------------------

    def experiment_id(self, name: str) -> str | None:
        """The id of experiment ``name``; None when the store has none by that name."""
        found = self._client.get_experiment_by_name(name)
        return None if found is None else str(found.experiment_id)

    def require_experiment(self, name: str) -> str:
        """The id of experiment ``name``; a TrackingError naming the store's experiments if none."""
        found = self.experiment_id(name)
        if found is None:
            names = self.experiment_names()
            known = f" (experiments: {', '.join(names)})" if names else " (it has none yet)"
            raise TrackingError(
                f"no experiment '{name}' in MLflow store {self.uri}{known}; run the sweep "
                f"first or check --tracking-uri"
            )
        return found

    def experiment_names(self) -> list[str]:
        return sorted(e.name for e in self._client.search_experiments())

    # -- runs -----------------------------------------------------------------------------------

    def trial_runs(self, experiment: str, *, finished: bool = False) -> list[StoredRun]:
        """Trial parent runs of ``experiment`` (only FINISHED ones with ``finished``), newest
        first; none when the experiment does not exist."""
        return [StoredRun.from_mlflow(run) for run in self._search(experiment, finished=finished)]

    def finished_by_hash(self, experiment: str) -> dict[str, StoredRun]:
        """trial identity -> newest FINISHED trial run (what a re-run skips)."""
        return newest_by_identity(self.trial_runs(experiment, finished=True))

    def newest_finished(
        self, experiment: str, *, config_hash: str | None = None, variant: str | None = None
    ) -> StoredRun | None:
        """The newest FINISHED trial run with identity ``config_hash`` (else, given, of
        ``variant``); runs written before this identity version count by their derived one."""
        if config_hash is not None:
            current = (
                f"tags.`{TAG.CONFIG_HASH}` = '{config_hash}' and "
                f"tags.`{TAG.IDENTITY}` = '{IDENTITY_VERSION}'"
            )
            runs = self._search(experiment, finished=True, extra=current, max_results=1)
            if runs:
                return StoredRun.from_mlflow(runs[0])
            legacy = (  # only runs without the version tag can still match
                run
                for run in self.trial_runs(experiment, finished=True)
                if run.tags.get(TAG.IDENTITY) is None and run.identity == config_hash
            )
            found = next(legacy, None)
            if found is not None:
                return found
        if variant is not None:
            condition = f"tags.`{TAG.VARIANT}` = '{variant}'"
            runs = self._search(experiment, finished=True, extra=condition, max_results=1)
            if runs:
                return StoredRun.from_mlflow(runs[0])
        return None

    def get_run(self, run_id: str) -> StoredRun:
        """The run ``run_id`` (TrackingError when the store has no such run)."""
        return StoredRun.from_mlflow(self._get(run_id))

    def load_trial(self, run_id: str) -> StoredTrial:
        """A stored trial result with its per-fold last-epoch metrics (from its fold runs)."""
        run = self._get(run_id)
        folds = search_runs(
            self._client, [str(run.info.experiment_id)], f"tags.`{TAG.PARENT}` = '{run_id}'", None
        )
        return StoredTrial.from_runs(run, folds)

    def load_trials(self, experiment: str, *, finished: bool = True) -> list[StoredTrial]:
        """Every trial of ``experiment`` (FINISHED only by default) with its fold metrics,
        newest first; reads the fold runs in one query."""
        parents = self._search(experiment, finished=finished)
        if not parents:
            return []
        experiment_id = str(parents[0].info.experiment_id)
        folds: dict[str, list[Run]] = {}
        for fold in search_runs(self._client, [experiment_id], f"tags.`{TAG.ROLE}` = 'fold'", None):
            folds.setdefault(fold.data.tags.get(TAG.PARENT, ""), []).append(fold)
        return [StoredTrial.from_runs(run, folds.get(run.info.run_id, [])) for run in parents]

    def epochs_logged(self, run_id: str, metric: str = "val_accuracy_mean") -> int:
        """The last epoch a trial run logged ``metric`` for (0: none yet): a running trial's progress."""
        return max((m.step for m in self._client.get_metric_history(run_id, metric)), default=0)

    # -- artifacts --------------------------------------------------------------------------------

    def artifacts(self, run_id: str) -> RunArtifacts:
        """Weights (best fold, or final), histories and predictions stored by a FINISHED run."""
        run = self.get_run(run_id)

        def download(path: str, directory: str) -> str:
            return str(self._client.download_artifacts(run_id, path, directory))

        return read_run_artifacts(download, run_id, run.role)

    def newest_final(self, experiment: str, variant: str) -> StoredRun | None:
        """The newest FINISHED final run (``ferablate final``) of ``variant`` in ``experiment``."""
        experiment_id = self.experiment_id(experiment)
        if experiment_id is None:
            return None
        where = (
            f"tags.`{TAG.ROLE}` = 'final' and {_FINISHED} and tags.`{TAG.VARIANT}` = '{variant}'"
        )
        runs = search_runs(self._client, [experiment_id], where, 1)
        return StoredRun.from_mlflow(runs[0]) if runs else None

    def download_figures(self, run_id: str, folder: Path) -> list[Path]:
        """The PNGs stored under ``figures/`` of a run, copied into ``folder`` (none: ``[]``)."""
        listed = [
            entry.path
            for entry in self._client.list_artifacts(run_id, FIGURES_DIR)
            if entry.path.endswith(".png")
        ]
        folder.mkdir(parents=True, exist_ok=True)
        return [Path(self._client.download_artifacts(run_id, path, str(folder))) for path in listed]

    def log_figures(self, run_id: str, folder: Path) -> None:
        """The store's one write: put the PNGs of ``folder`` under ``figures/`` of a run."""
        self._client.log_artifacts(run_id, str(folder), FIGURES_DIR)

    # -- helpers ----------------------------------------------------------------------------------

    def _get(self, run_id: str) -> Run:
        try:
            return self._client.get_run(run_id)
        except Exception as exc:
            raise TrackingError(
                f"no MLflow run '{run_id}' in this store ({exc.__class__.__name__}); check the id and --tracking-uri"
            ) from exc

    def _search(
        self, experiment: str, *, finished: bool, extra: str = "", max_results: int | None = None
    ) -> list[Run]:
        experiment_id = self.experiment_id(experiment)
        if experiment_id is None:
            return []
        where = " and ".join(
            part for part in (_TRIALS, _FINISHED if finished else "", extra) if part
        )
        return search_runs(self._client, [experiment_id], where, max_results)
