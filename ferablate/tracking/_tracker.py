"""MLflow logging of trials: one parent run per trial, one nested run per fold.

Logging goes through ``MlflowClient`` (no fluent global "active run"), batched once per epoch,
so it costs milliseconds per epoch whatever the step count.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ferablate import __version__
from ferablate._errors import StoreFullError, TrackingError
from ferablate._logging import get_logger
from ferablate._outcome import TrialEnding, TrialOutcome, outcome_of
from ferablate.config import IDENTITY_VERSION, Trial, flatten_config
from ferablate.engine import EpochMetrics, TrialCallback, TrialInfo, TrialResult, epoch_mean
from ferablate.tracking._artifacts import write_final_artifacts, write_trial_artifacts
from ferablate.tracking._claims import (
    ClaimState,
    Heartbeat,
    owner_alive,
    read_claims,
    store_lock,
    wins_claim,
)
from ferablate.tracking._identity import identity_of
from ferablate.tracking._runs import StoredRun, newest_by_identity
from ferablate.tracking._store import (
    TAG,
    git_commit,
    mlflow_ending,
    now_ms,
    open_experiment,
    outcome_for_failure_tag,
    resolve_tracking_uri,
    search_runs,
    translating_client,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

__all__ = ["TrialRun", "TrialTracker"]

_log = get_logger(__name__)


class TrialTracker:
    """An MLflow experiment (= sweep) ferablate logs trials into."""

    def __init__(self, experiment: str, tracking_uri: str | None = None) -> None:
        self.uri = resolve_tracking_uri(tracking_uri)
        self.experiment = experiment
        with store_lock(self.uri, "init"):  # two processes creating one SQLite store collide
            self.client: MlflowClient = translating_client(self.uri)  # a full disk: StoreFullError
            self.experiment_id = open_experiment(self.client, self.uri, experiment)
        self.heartbeat = Heartbeat(self.client)

    def search(self, filter_string: str, max_results: int = 5000) -> list[Run]:
        """Runs of this experiment matching an MLflow filter, newest first."""
        return search_runs(self.client, [self.experiment_id], filter_string, max_results)

    def finished_trials(self) -> dict[str, StoredRun]:
        """trial identity -> newest FINISHED trial run (what a re-run skips)."""
        where = f"tags.`{TAG.ROLE}` = 'trial' and attributes.status = 'FINISHED'"
        return newest_by_identity(StoredRun.from_mlflow(run) for run in self.search(where))

    def close_stale_runs(self) -> int:
        """Mark RUNNING trial runs whose owner is gone (a dead local pid, or a heartbeat older
        than ``STALE_AFTER_S`` from another host) as KILLED; returns how many."""
        closed = 0
        for run in self.search(f"tags.`{TAG.ROLE}` = 'trial' and attributes.status = 'RUNNING'"):
            if owner_alive(StoredRun.from_mlflow(run)):
                continue
            self._kill(run.info.run_id, "process ended mid-trial")
            closed += 1
        return closed

    def claim(
        self,
        trial: Trial,
        *,
        data_hash: str,
        extra_tags: Mapping[str, str] | None = None,
        finished_since: int = 0,
        ended_since: int | None = None,
    ) -> TrialRun | StoredRun:
        """Start ``trial``'s run only if no other process has it (tracking/_claims.py).

        Returns the new :class:`TrialRun` (this process holds the claim), else the run that
        stands in the way: FINISHED or ended (done, see ``read_claims``) or RUNNING (taken).
        A trial without an identity gets it from ``data_hash`` and this machine.
        """
        if trial.identity is None:
            trial = dataclasses.replace(trial, identity=identity_of(trial.config, data_hash))
        with store_lock(self.uri, "claims"):
            state = self._claims(trial.config_hash, finished_since, ended_since)
            if state.done is not None or state.live:
                return state.done or state.live[0]
            run = self.start(trial, data_hash=data_hash, extra_tags=extra_tags)
            try:
                state = self._claims(trial.config_hash, finished_since, ended_since)
            except BaseException:  # the re-read failed: withdraw, never leave a live claim
                self._withdraw(run.run_id)
                raise
        if wins_claim(run.run_id, state):
            return run
        self._withdraw(run.run_id)
        return state.done or next(r for r in state.live if r.run_id != run.run_id)

    def _withdraw(self, run_id: str) -> None:
        """Drop a claim's run that never trained (a withdrawn claim is not a result)."""
        self.heartbeat.release(run_id)
        self.client.delete_run(run_id)

    def _claims(self, config_hash: str, finished_since: int, ended_since: int | None) -> ClaimState:
        state = read_claims(
            self.client,
            self.experiment_id,
            config_hash,
            finished_since=finished_since,
            ended_since=ended_since,
        )
        for run in state.dead:  # its owner is gone: close it so the trial can be taken over
            self._kill(run.run_id, "process ended mid-trial")
        return state

    def close_study_trial_runs(self, study: str, number: int, reason: str) -> int:
        """Mark the RUNNING runs of Optuna trial ``number`` of ``study`` as KILLED; how many."""
        runs = self.search(
            f"tags.`{TAG.STUDY}` = '{study}' and tags.`{TAG.OPTUNA_TRIAL}` = '{number}'"
            " and attributes.status = 'RUNNING'"
        )
        for run in runs:
            self._kill(run.info.run_id, reason)
        return len(runs)

    def _kill(self, run_id: str, reason: str) -> None:
        """End a trial run a dead process left RUNNING (and its RUNNING folds) as KILLED."""
        status, failure = mlflow_ending(TrialOutcome.KILLED)
        self.client.set_tag(run_id, TAG.FAILURE, str(failure))
        self.client.set_tag(run_id, TAG.FAILURE_REASON, reason)
        for child in self.search(f"tags.`{TAG.PARENT}` = '{run_id}'"):
            if child.info.status == "RUNNING":
                self.client.set_terminated(child.info.run_id, status=status)
        self.client.set_terminated(run_id, status=status)

    def start(
        self, trial: Trial, *, data_hash: str, extra_tags: Mapping[str, str] | None = None
    ) -> TrialRun:
        """Create the parent run of ``trial`` (status RUNNING) with params and identity tags.

        Its identity is the trial's own, else computed from ``data_hash`` (the faces it trains
        on) and this machine's precision.
        """
        config = trial.config
        identity = identity_of(config, data_hash) if trial.identity is None else trial.identity
        tags = {
            TAG.ROLE: "trial",
            TAG.SWEEP: self.experiment,
            TAG.VARIANT: trial.variant,
            TAG.TRIAL: trial.name,
            TAG.TRIAL_INDEX: str(trial.index),
            TAG.CONFIG_HASH: identity,
            TAG.IDENTITY: str(IDENTITY_VERSION),
            TAG.CONFIG: config.model_dump_json(),
            TAG.DATA_HASH: data_hash,
            TAG.GIT_COMMIT: git_commit(),
            TAG.VERSION: __version__,
            TAG.HOST: socket.gethostname(),
            TAG.PID: str(os.getpid()),
            TAG.HEARTBEAT: f"{time.time():.0f}",
            **(extra_tags or {}),
        }
        run = self.client.create_run(self.experiment_id, tags=tags, run_name=trial.name)
        self.heartbeat.hold(run.info.run_id)
        params = [(key, _param_value(value)) for key, value in flatten_config(config).items()]
        trial_run = TrialRun(self, run.info.run_id, trial.name)
        try:
            _log_params(self.client, run.info.run_id, params)
        except BaseException as exc:  # e.g. a full disk: never leave the run RUNNING
            trial_run.end_from(exc)
            raise
        return trial_run


def _param_value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _log_params(client: MlflowClient, run_id: str, params: Sequence[tuple[str, str]]) -> None:
    from mlflow.entities import Param

    for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
        chunk = [Param(key, value) for key, value in params[start : start + 100]]
        client.log_batch(run_id, params=chunk, synchronous=True)


@dataclass
class _FoldRun:
    fold: int  # index in the plan (EpochMetrics.fold)
    name: str  # the ferablate.fold tag: "<i>" (one repeat) or "r<repeat>-f<fold>"
    run_id: str


class TrialRun(TrialCallback):
    """The MLflow side of one running trial; pass it to ``run_trial`` as a callback.

    Every way a trial ends goes through :meth:`end` (or :meth:`end_from` for an exception),
    which maps the :class:`~ferablate.TrialOutcome` to the run status and failure tags.
    """

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
        names = [spec.name for spec in info.fold_specs] or [f"fold-{i}" for i in range(info.folds)]
        for fold, name in enumerate(names):
            # The ferablate.fold tag: fold-3 -> 3 (the tag of trials before repeats existed),
            # r1-f3 unchanged; stats.fold_grid reads both.
            tag = name.removeprefix("fold-")
            run = self.client.create_run(
                self.tracker.experiment_id,
                run_name=f"{self.name}/{name}",  # "<trial>/fold-0", or "<trial>/r1-f0" (repeats)
                tags={TAG.PARENT: self.run_id, TAG.ROLE: "fold", TAG.FOLD: tag},
            )
            self._fold_runs.append(_FoldRun(fold, tag, run.info.run_id))

    def on_epoch_end(self, epoch: int, metrics: Sequence[EpochMetrics]) -> None:
        stamp = now_ms()
        for entry in metrics:
            _log_metrics(
                self.client, self._fold_runs[entry.fold].run_id, entry.scores(), epoch, stamp
            )
        _log_metrics(self.client, self.run_id, epoch_mean(metrics), epoch, stamp)

    # -- logging --------------------------------------------------------------------------------

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Log metric values of the trial's run at ``step`` (the epoch), in batches."""
        _log_metrics(self.client, self.run_id, metrics, step, now_ms())

    def log_artifacts(self, local_dir: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifacts(self.run_id, str(local_dir), artifact_path)

    def log_final_artifacts(
        self,
        result: TrialResult,
        metrics: Mapping[str, float],
        usage: np.ndarray,
        write_confusion: Callable[[Path], None] | None = None,
    ) -> None:
        """A final run's weights, test predictions, history, scores and confusion matrices."""
        self._upload(
            lambda root: write_final_artifacts(root, result, metrics, usage, write_confusion)
        )

    def _upload(self, write: Callable[[Path], None]) -> None:
        with tempfile.TemporaryDirectory(prefix="ferablate-") as tmp:
            write(Path(tmp))
            self.client.log_artifacts(self.run_id, tmp)

    def _log_fold_results(self, result: TrialResult, step: int) -> None:
        """Per fold: distinct faces (the corrected t-test's n_train/n_val), PublicTest scores,
        and the collapsed tag; the trial run lists its collapsed folds."""
        collapsed = []
        for fold in result.folds:
            if fold.fold >= len(self._fold_runs):
                continue  # no fold run (the callback started without fold specs)
            run = self._fold_runs[fold.fold]
            params = [
                ("n_train_distinct", str(fold.n_train_distinct)),
                ("n_val_distinct", str(fold.n_val_distinct)),
            ]
            _log_params(self.client, run.run_id, params)
            if fold.publictest:
                _log_metrics(self.client, run.run_id, fold.publictest, step, now_ms())
            if fold.status == "collapsed":
                self.client.set_tag(run.run_id, TAG.FOLD_STATUS, "collapsed")
                collapsed.append(run.name)
        if collapsed:
            self.client.set_tag(self.run_id, TAG.COLLAPSED_FOLDS, ",".join(collapsed))
            _log.warning(
                "trial %s: %d fold(s) stayed at chance (collapsed): %s",
                self.name, len(collapsed), ", ".join(collapsed),
            )  # fmt: skip

    # -- ending ---------------------------------------------------------------------------------

    def finish(self, result: TrialResult) -> None:
        """Log summary metrics and artifacts, then mark the trial and its folds FINISHED."""
        summary = {
            **result.summary(),
            "train_seconds": result.seconds,
            "faces_per_second": result.faces_per_second,
            "best_fold": float(result.best_fold),
        }
        step = len(result.folds[0].history)
        self.log_metrics({**summary, **result.publictest_summary()}, step=step)
        self._log_fold_results(result, step)
        # fold weights (state dicts), validation predictions and the config, in one upload
        self._upload(lambda root: write_trial_artifacts(root, result))
        self.end(TrialOutcome.FINISHED)

    def end(self, outcome: TrialOutcome, reason: str = "") -> None:
        """End the trial (and its folds) as ``outcome``: its MLflow status and failure tags."""
        if self._ended:
            return
        status, failure = mlflow_ending(outcome)
        if failure is not None:
            self.client.set_tag(self.run_id, TAG.FAILURE, failure)
            self.client.set_tag(self.run_id, TAG.FAILURE_REASON, reason[:5000])
        self._end(status)

    def end_from(self, exc: BaseException) -> TrialEnding:
        """End the trial as the exception that stopped it says (see ``outcome_of``)."""
        ending = outcome_of(exc)
        reason = f"{ending.reason}\n{ending.detail}" if ending.detail else ending.reason
        if isinstance(exc, StoreFullError):  # mark what can still be written; never raise
            self._end_best_effort(ending.outcome, reason)
        else:
            self.end(ending.outcome, reason)
        return ending

    def _end_best_effort(self, outcome: TrialOutcome, reason: str) -> None:
        status, failure = mlflow_ending(outcome)
        writes: list[Callable[[], object]] = [
            lambda: self.client.set_tag(self.run_id, TAG.FAILURE_REASON, reason[:5000])
        ]
        if failure is not None:
            writes.insert(0, lambda: self.client.set_tag(self.run_id, TAG.FAILURE, failure))
        for run_id in [*(fold.run_id for fold in self._fold_runs), self.run_id]:
            writes.append(functools.partial(self.client.set_terminated, run_id, status=status))
        for write in writes:  # each on its own: an UPDATE may succeed where an INSERT failed
            try:
                write()
            except Exception as exc:
                _log.debug("could not mark run %s: %s", self.run_id, exc)
        self._ended = True

    def fail(self, kind: str, reason: str) -> None:
        """End the trial as failure ``kind`` (a ``ferablate.failure`` tag: oom, error, ...)."""
        self.end(outcome_for_failure_tag(kind), reason)

    def _end(self, status: str) -> None:
        try:
            for fold in self._fold_runs:
                self.client.set_terminated(fold.run_id, status=status)
            self.client.set_terminated(self.run_id, status=status)
        except Exception as exc:  # the store went away: say so, never mask the trial's outcome
            raise TrackingError(f"could not close MLflow run {self.run_id}: {exc}") from exc
        finally:
            self._ended = True


def _log_metrics(
    client: MlflowClient, run_id: str, metrics: Mapping[str, float], step: int, stamp: int
) -> None:
    from mlflow.entities import Metric

    batch = [Metric(key, value, stamp, step) for key, value in metrics.items()]
    for start in range(0, len(batch), 1000):  # MLflow takes at most 1000 metrics per batch
        client.log_batch(run_id, metrics=batch[start : start + 1000], synchronous=True)
