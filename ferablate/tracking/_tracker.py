"""MLflow logging of trials: one parent run per trial, one nested run per fold.

Logging goes through ``MlflowClient`` (no fluent global "active run"), batched once per epoch,
so it costs milliseconds per epoch whatever the step count.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ferablate import __version__
from ferablate._errors import TrackingError
from ferablate._logging import get_logger
from ferablate.config import Trial, TrialConfig, flatten_config
from ferablate.engine import EpochMetrics, TrialCallback, TrialInfo, TrialResult, epoch_mean
from ferablate.tracking._store import TAG, git_commit, open_experiment, resolve_tracking_uri

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

__all__ = ["TrialRun", "TrialTracker", "config_from_run"]

_log = get_logger(__name__)


def _now_ms() -> int:
    return int(time.time() * 1000)


def config_from_run(run: Run) -> TrialConfig:
    """The resolved config a run was trained with (from its ``ferablate.config`` tag)."""
    raw = run.data.tags.get(TAG.CONFIG)
    if raw is None:
        raise TrackingError(f"run {run.info.run_id} has no {TAG.CONFIG} tag; was it made by ferablate?")
    return TrialConfig.model_validate_json(raw)


class TrialTracker:
    """An MLflow experiment (= sweep) ferablate logs trials into."""

    def __init__(self, experiment: str, tracking_uri: str | None = None) -> None:
        from mlflow import MlflowClient

        self.uri = resolve_tracking_uri(tracking_uri)
        self.client: MlflowClient = MlflowClient(tracking_uri=self.uri)
        self.experiment = experiment
        self.experiment_id = open_experiment(self.client, self.uri, experiment)

    def search(self, filter_string: str, max_results: int = 5000) -> list[Run]:
        """Runs of this experiment matching an MLflow filter, newest first."""
        runs: list[Run] = []
        token: str | None = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id],
                filter_string=filter_string,
                max_results=min(max_results, 1000),
                order_by=["attributes.start_time DESC"],
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token or len(runs) >= max_results:
                return runs

    def finished_trials(self) -> dict[str, Run]:
        """config hash -> newest FINISHED trial run (what a re-run skips)."""
        finished: dict[str, Run] = {}
        for run in self.search(f"tags.`{TAG.ROLE}` = 'trial' and attributes.status = 'FINISHED'"):
            finished.setdefault(run.data.tags.get(TAG.CONFIG_HASH, ""), run)
        return finished

    def close_stale_runs(self) -> int:
        """Mark RUNNING trial runs of dead local processes as KILLED; returns how many."""
        host = socket.gethostname()
        closed = 0
        for run in self.search(f"tags.`{TAG.ROLE}` = 'trial' and attributes.status = 'RUNNING'"):
            tags = run.data.tags
            if tags.get(TAG.HOST) != host or _pid_alive(int(tags.get(TAG.PID, "0") or 0)):
                continue
            self.client.set_tag(run.info.run_id, TAG.FAILURE, "killed")
            self.client.set_tag(run.info.run_id, TAG.FAILURE_REASON, "process ended mid-trial")
            for child in self.search(f"tags.`{TAG.PARENT}` = '{run.info.run_id}'"):
                self.client.set_terminated(child.info.run_id, status="KILLED")
            self.client.set_terminated(run.info.run_id, status="KILLED")
            closed += 1
        return closed

    def start(self, trial: Trial, *, data_hash: str, extra_tags: Mapping[str, str] | None = None) -> TrialRun:
        """:meth:`start_trial` for an expanded sweep trial (its name, variant, index, hash)."""
        return self.start_trial(
            name=trial.name,
            config=trial.config,
            config_hash=trial.config_hash,
            variant=trial.variant,
            index=trial.index,
            data_hash=data_hash,
            extra_tags=extra_tags,
        )

    def start_trial(
        self,
        *,
        name: str,
        config: TrialConfig,
        config_hash: str,
        variant: str,
        index: int,
        data_hash: str,
        extra_tags: Mapping[str, str] | None = None,
    ) -> TrialRun:
        """Create the parent run of a trial (status RUNNING) with params and identity tags."""
        tags = {
            TAG.ROLE: "trial",
            TAG.SWEEP: self.experiment,
            TAG.VARIANT: variant,
            TAG.TRIAL: name,
            TAG.TRIAL_INDEX: str(index),
            TAG.CONFIG_HASH: config_hash,
            TAG.CONFIG: config.model_dump_json(),
            TAG.DATA_HASH: data_hash,
            TAG.GIT_COMMIT: git_commit(),
            TAG.VERSION: __version__,
            TAG.HOST: socket.gethostname(),
            TAG.PID: str(os.getpid()),
            **(extra_tags or {}),
        }
        run = self.client.create_run(self.experiment_id, tags=tags, run_name=name)
        params = [(key, _param_value(value)) for key, value in flatten_config(config).items()]
        _log_params(self.client, run.info.run_id, params)
        return TrialRun(self, run.info.run_id, name)


def _param_value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _log_params(client: MlflowClient, run_id: str, params: Sequence[tuple[str, str]]) -> None:
    from mlflow.entities import Param

    for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
        chunk = [Param(key, value) for key, value in params[start : start + 100]]
        client.log_batch(run_id, params=chunk, synchronous=True)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class _FoldRun:
    fold: int
    run_id: str


class TrialRun(TrialCallback):
    """The MLflow side of one running trial; pass it to ``run_trial`` as a callback."""

    def __init__(self, tracker: TrialTracker, run_id: str, name: str) -> None:
        self.tracker = tracker
        self.client = tracker.client
        self.run_id = run_id
        self.name = name
        self._fold_runs: list[_FoldRun] = []
        self._ended = False

    # -- TrialCallback -------------------------------------------------------------------------

    def on_trial_start(self, info: TrialInfo) -> None:
        self.client.set_tag(self.run_id, TAG.DEVICE, info.device)
        self.client.set_tag(self.run_id, TAG.PRECISION, info.precision)
        for fold in range(info.folds):
            run = self.client.create_run(
                self.tracker.experiment_id,
                run_name=f"{self.name}/fold-{fold}",
                tags={TAG.PARENT: self.run_id, TAG.ROLE: "fold", TAG.FOLD: str(fold)},
            )
            self._fold_runs.append(_FoldRun(fold, run.info.run_id))

    def on_epoch_end(self, epoch: int, metrics: Sequence[EpochMetrics]) -> None:
        from mlflow.entities import Metric

        stamp = _now_ms()
        for entry in metrics:
            values = [Metric(k, v, stamp, epoch) for k, v in entry.scores().items()]
            self.client.log_batch(self._fold_runs[entry.fold].run_id, metrics=values, synchronous=True)
        means = [Metric(k, v, stamp, epoch) for k, v in epoch_mean(metrics).items()]
        self.client.log_batch(self.run_id, metrics=means, synchronous=True)

    # -- ending ---------------------------------------------------------------------------------

    def finish(self, result: TrialResult) -> None:
        """Log summary metrics and artifacts, then mark the trial and its folds FINISHED."""
        from mlflow.entities import Metric

        stamp = _now_ms()
        summary = {
            **result.summary(),
            "train_seconds": result.seconds,
            "faces_per_second": result.faces_per_second,
            "best_fold": float(result.best_fold),
        }
        self.client.log_batch(
            self.run_id,
            metrics=[Metric(k, v, stamp, len(result.folds[0].history)) for k, v in summary.items()],
            synchronous=True,
        )
        self.log_result_artifacts(result)
        self._end("FINISHED")

    def log_result_artifacts(self, result: TrialResult) -> None:
        """Fold weights (state dicts), validation predictions and the config, in one upload."""
        with tempfile.TemporaryDirectory(prefix="ferablate-") as tmp:
            root = Path(tmp)
            (root / "weights").mkdir()
            for fold in result.folds:
                torch.save(fold.state_dict, root / "weights" / f"fold-{fold.fold}.pt")
            predictions = {
                f"fold-{fold.fold}": {
                    "val_indices": fold.val_indices.tolist(),
                    "labels": fold.val_labels.tolist(),
                    "predictions": fold.val_predictions.tolist(),
                }
                for fold in result.folds
            }
            (root / "predictions.json").write_text(json.dumps(predictions))
            history = [[m.__dict__ for m in fold.history] for fold in result.folds]
            (root / "history.json").write_text(json.dumps(history))
            (root / "config.json").write_text(result.config.model_dump_json(indent=2))
            self.client.log_artifacts(self.run_id, str(root))

    def log_artifacts(self, local_dir: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifacts(self.run_id, str(local_dir), artifact_path)

    def fail(self, kind: str, reason: str, status: str = "FAILED") -> None:
        """End the trial (and its folds) as ``status`` with ``kind``/``reason`` tags."""
        if self._ended:
            return
        self.client.set_tag(self.run_id, TAG.FAILURE, kind)
        self.client.set_tag(self.run_id, TAG.FAILURE_REASON, reason[:5000])
        self._end(status)

    def _end(self, status: str) -> None:
        try:
            for fold in self._fold_runs:
                self.client.set_terminated(fold.run_id, status=status)
            self.client.set_terminated(self.run_id, status=status)
        except Exception as exc:  # the store went away: say so, never mask the trial's outcome
            raise TrackingError(f"could not close MLflow run {self.run_id}: {exc}") from exc
        finally:
            self._ended = True

    def set_tags(self, tags: Iterable[tuple[str, str]]) -> None:
        for key, value in tags:
            self.client.set_tag(self.run_id, key, value)
