"""How a sweep, search or worker runs: one frozen options object every entry point takes."""

from __future__ import annotations

from dataclasses import dataclass

from ferablate.search import DEFAULT_MAX_PARAMETERS, PrunerKind, SamplerKind

__all__ = ["POLL_S", "RunOptions", "SearchOptions"]

POLL_S = 2.0  # seconds between looks at trials other processes hold (randomised ±50 %)


@dataclass(frozen=True)
class RunOptions:
    """Where trials are logged and queued, by how many processes, and when to stop."""

    tracking_uri: str | None = None  # MLflow store (None: $MLFLOW_TRACKING_URI or the default)
    storage: str | None = None  # Optuna storage URL of a study queue (None: the MLflow store)
    study: str | None = None  # the study's name (None: the sweep's)
    jobs: int = 1  # processes on this machine working on the queue
    figures: bool = True  # finished grid trials log the report's six figures
    rerun: bool = False  # train trials that already FINISHED again
    heartbeat: int = 10  # seconds between a running study trial's heartbeats
    grace: int | None = None  # seconds without heartbeat before re-queueing (None: 3x heartbeat)
    poll: float = POLL_S  # seconds between claims while live processes hold every trial left
    max_trials: int | None = None  # stop after this many trials (None: when the queue is empty)
    timeout: float | None = None  # claim no trial after this many seconds
    seed: int | None = None  # the sampler's seed (a search); job j of --jobs uses seed + j


@dataclass(frozen=True)
class SearchOptions:
    """What an Optuna search asks for on top of a sweep's ``search:`` space."""

    trials: int | None = None  # the study's trials in all (resumes to the same end)
    more: int | None = None  # instead: raise the study's target by this many
    sampler: SamplerKind = SamplerKind.tpe
    pruner: PrunerKind = PrunerKind.median
    max_parameters: int = DEFAULT_MAX_PARAMETERS  # reject sampled models with more parameters
