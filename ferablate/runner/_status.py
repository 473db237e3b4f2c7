"""Where a sweep stands: per trial waiting / running / finished / failed / …, read-only.

What a researcher asks after coming back to a sweep that runs for hours (``ferablate status``).
The trial runs in MLflow say who runs what since when and how many epochs are logged; an
Optuna study (``--storage``) says what is queued. Nothing here imports torch or writes: a
missing store, experiment or study is a :class:`~ferablate.TrackingError` /
:class:`~ferablate.SearchError`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ferablate._errors import TrackingError
from ferablate.config import Sweep, Trial, expand_sweep, experiment_name

if TYPE_CHECKING:
    from ferablate.search import StudyTrialState
    from ferablate.tracking import RunStore, StoredRun

__all__ = ["SweepStatus", "TrialState", "TrialStatus", "sweep_status"]

# ended states are TrialOutcome values; "skipped": FINISHED before the sweep now running began
TrialState = Literal[
    "waiting", "running", "finished", "failed", "oom", "diverged", "pruned", "killed", "skipped"
]


@dataclass(frozen=True)
class TrialStatus:
    """One trial of the sweep (or of the study, for sampled search trials)."""

    name: str
    state: TrialState
    detail: str = ""  # running: "on host:pid since HH:MM"; failed: the reason; skipped: the run
    run_id: str | None = None  # its newest MLflow trial run
    epochs_done: int | None = None  # epochs logged so far (running trials)
    epochs: int | None = None  # train.epochs
    seconds: float | None = None  # wall time: so far (running) or start to end (ended)
    accuracy: float | None = None  # mean val accuracy over folds (finished)
    study_state: str | None = None  # Optuna: WAITING | RUNNING | COMPLETE | PRUNED | FAIL


@dataclass(frozen=True)
class SweepStatus:
    """A sweep's trials now, with the sweep's elapsed and estimated remaining time."""

    sweep: str
    experiment: str
    study: str | None
    trials: list[TrialStatus]
    elapsed: float | None  # seconds since its first trial (of this sweep run) started
    remaining: float | None  # estimated seconds left (None: nothing to estimate from yet)
    checked_at: float  # time.time() of the reading
    # one line each: runs of the sweep's variants under other --set values; data from the store
    notes: tuple[str, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        """state -> trials, in the order a reader scans them."""
        counted = Counter(trial.state for trial in self.trials)
        return {state: counted[state] for state in TrialState.__args__ if counted[state]}  # type: ignore[attr-defined]

    @property
    def done(self) -> bool:
        return not any(t.state in ("waiting", "running") for t in self.trials)


def sweep_status(
    sweep: Sweep,
    overrides: Mapping[str, Any] | None = None,
    *,
    tracking_uri: str | None = None,
    storage_url: str | None = None,
    study_name: str | None = None,
) -> SweepStatus:
    """Read the state of every trial of ``sweep`` from MLflow (and the Optuna study on
    ``storage_url``, default study name: the sweep's). Never writes."""
    from ferablate.search import study_trial_states
    from ferablate.tracking import RunStore, resolve_tracking_uri

    store = RunStore(resolve_tracking_uri(tracking_uri, create=False))
    experiment = experiment_name(sweep, overrides)
    trials = expand_sweep(sweep, overrides)
    study = study_trial_states(storage_url, study_name or sweep.name) if storage_url else None
    if store.experiment_id(experiment) is None and not study:
        raise TrackingError(
            f"no MLflow experiment '{experiment}' in {store.uri}; start the sweep with "
            f"`ferablate run {sweep.source}` (or check --tracking-uri / --set)"
        )
    from ferablate.tracking import match_sweep

    # the one lookup rule of every reader: a trial's runs are those with its identity
    matched = match_sweep(trials, store.trial_runs(experiment))  # newest first
    trials = matched.trials
    runs = matched.by_identity
    active = {_owner(run) for hash_runs in runs.values() for run in hash_runs if _is_alive(run)}
    rows = [_trial_status(trial, matched.runs_of(trial), store, active, study) for trial in trials]
    if study:  # sampled search trials are the study's, not the sweep file's
        known = {trial.config_hash for trial in trials}
        rows += [_search_trial(entry) for entry in study.values() if entry.config_hash not in known]
    elapsed, remaining = _timing(rows, runs)
    return SweepStatus(
        sweep=sweep.name,
        experiment=experiment,
        study=(study_name or sweep.name) if storage_url else None,
        trials=rows,
        elapsed=elapsed,
        remaining=remaining,
        checked_at=time.time(),
        notes=tuple(matched.notes),
    )


# -- MLflow ---------------------------------------------------------------------------------------


def _owner(run: StoredRun) -> tuple[str, str]:
    from ferablate.tracking import TAG

    return run.tags.get(TAG.HOST, ""), run.tags.get(TAG.PID, "")


def _is_alive(run: StoredRun) -> bool:
    """A RUNNING run whose owner lives, by the rule claims use (pid here, heartbeat elsewhere)."""
    from ferablate.tracking import owner_alive

    return run.status == "RUNNING" and owner_alive(run)


def _seconds(run: StoredRun, now: float) -> float:
    end = run.end_time / 1000 if run.end_time else now
    return max(0.0, end - run.start_time / 1000)


def _trial_status(
    trial: Trial,
    runs: Sequence[StoredRun],
    store: RunStore,
    active: set[tuple[str, str]],
    study: Mapping[str, StudyTrialState] | None,
) -> TrialStatus:
    now = time.time()
    epochs = trial.config.train.epochs
    queued = study.get(trial.config_hash) if study is not None else None
    study_state = queued.state if queued is not None else None
    running = next((run for run in runs if run.status == "RUNNING"), None)
    finished = next((run for run in runs if run.status == "FINISHED"), None)
    common: dict[str, Any] = {"name": trial.name, "epochs": epochs, "study_state": study_state}
    if running is not None and _is_alive(running) and study_state in (None, "RUNNING"):
        host, pid = _owner(running)
        since = time.strftime("%H:%M", time.localtime(running.start_time / 1000))
        return TrialStatus(
            state="running",
            detail=f"on {host}:{pid} since {since}",
            run_id=running.run_id,
            epochs_done=store.epochs_logged(running.run_id),
            seconds=_seconds(running, now),
            **common,
        )
    if study_state == "RUNNING":  # claimed by a worker that has not started its run yet
        return TrialStatus(state="running", detail="claimed by a worker, starting", **common)
    if study_state == "WAITING" or (study is not None and queued is None and finished is None):
        return TrialStatus(state="waiting", **common)
    if finished is not None:
        # skipped: finished before the sweep now running began (by another process), or
        # finished and therefore never queued in the study
        earlier = (queued is None and study is not None) or (
            bool(active) and _owner(finished) not in active
        )
        return TrialStatus(
            state="skipped" if earlier else "finished",
            detail=f"run {finished.run_id}" if earlier else "",
            run_id=finished.run_id,
            seconds=_seconds(finished, now),
            accuracy=finished.metrics.get("val_accuracy_mean"),
            **common,
        )
    if not runs:  # nothing in MLflow: the study's word, if any
        return TrialStatus(state=_STUDY_STATES.get(study_state or "WAITING", "waiting"), **common)
    newest = runs[0]
    if newest.status == "RUNNING":  # its process is gone without ending the run
        return TrialStatus(
            state="killed", detail="process ended mid-trial", run_id=newest.run_id, **common
        )
    outcome = newest.outcome.value if newest.outcome is not None else "failed"
    state: TrialState = outcome if outcome in TrialState.__args__ else "failed"  # type: ignore[assignment,attr-defined]
    return TrialStatus(
        state=state,
        detail=newest.failure_reason.splitlines()[0] if newest.failure_reason else "",
        run_id=newest.run_id,
        seconds=_seconds(newest, now),
        **common,
    )


def _timing(
    rows: Sequence[TrialStatus], runs: Mapping[str, Sequence[StoredRun]]
) -> tuple[float | None, float | None]:
    """Elapsed since this sweep run's first trial started; remaining from the mean trial time."""
    now = time.time()
    by_id = {run.run_id: run for hash_runs in runs.values() for run in hash_runs}
    worked = [
        by_id[r.run_id] for r in rows if r.state not in ("waiting", "skipped") and r.run_id in by_id
    ]
    running = [row for row in rows if row.state == "running"]
    elapsed = None
    if worked:
        end = now if running else max(run.end_time / 1000 for run in worked)
        elapsed = max(0.0, end - min(run.start_time / 1000 for run in worked))

    def pace(row: TrialStatus) -> float | None:  # a running trial's whole time at its pace
        return (
            (row.seconds or 0.0) / row.epochs_done * (row.epochs or 1) if row.epochs_done else None
        )

    durations = [
        row.seconds
        for row in rows
        if row.state == "finished" and row.run_id in by_id and row.seconds
    ]
    paces = [p for p in map(pace, running) if p is not None]
    mean = (
        sum(durations) / len(durations) if durations else sum(paces) / len(paces) if paces else None
    )
    if mean is None:
        return elapsed, None
    left = sum(max(0.0, (pace(row) or mean) - (row.seconds or 0.0)) for row in running)
    waiting = sum(1 for row in rows if row.state == "waiting")
    return elapsed, left + mean * waiting


# -- Optuna -----------------------------------------------------------------------------------------

_STUDY_STATES: dict[str, TrialState] = {
    "WAITING": "waiting",
    "RUNNING": "running",
    "COMPLETE": "finished",
    "PRUNED": "pruned",
    "FAIL": "failed",
}


def _search_trial(entry: StudyTrialState) -> TrialStatus:
    """A sampled search trial, as the study sees it."""
    return TrialStatus(
        name=entry.name,
        state=_STUDY_STATES.get(entry.state, "killed"),
        detail=entry.reason.splitlines()[0] if entry.reason else "",
        accuracy=entry.value,
        study_state=entry.state,
    )
