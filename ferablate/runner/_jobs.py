"""``--jobs N``: N trials at once on one machine, as N processes with one progress view.

Each job is a spawned process that runs the same pending trials with claims (so each trial is
trained once), pinned to its share of the cores (all jobs share the one GPU). Jobs send their
observer events, log records and finished runs' figure requests over their queues; the parent
replays the events into its observer and draws the figures in its one background process.
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import os
import pickle
import queue as queue_module
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

from ferablate._errors import FerablateError, TrialError
from ferablate._exit import die_with_parent, skip_final_gc_at_exit
from ferablate._logging import get_logger

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from multiprocessing.queues import Queue

    from ferablate.config import Trial
    from ferablate.engine import EpochMetrics, TrialCallback, TrialInfo
    from ferablate.runner._sweep import SweepObserver, SweepPlan, TrialReport

__all__ = ["available_cores", "cap_jobs", "core_share", "run_jobs", "train_in_processes"]

_log = get_logger(__name__)

_STEP_EVERY_S = 0.2  # jobs forward step progress at most this often


def core_share(job: int, jobs: int) -> set[int]:
    """The cores job ``job`` of ``jobs`` runs on: a contiguous share of this process's cores."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not cores:
        return set()
    if len(cores) < jobs:
        return {cores[job % len(cores)]}
    size = len(cores) // jobs
    return set(cores[job * size : (job + 1) * size])


def _pin(job: int, jobs: int) -> None:
    share = core_share(job, jobs)
    if share and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, share)
    import torch

    cores = os.cpu_count() or 1
    torch.set_num_threads(max(1, len(share) or cores // jobs))


class _Events:
    """The job side of the queue: every message is ``(kind, job, payload...)``."""

    def __init__(self, events: Queue[Any], job: int) -> None:
        self.events = events
        self.job = job

    def put(self, kind: str, *payload: Any) -> None:
        self.events.put((kind, self.job, *payload))


class _QueueHandler(logging.handlers.QueueHandler):
    def __init__(self, events: _Events) -> None:
        super().__init__(events.events)
        self._sink = events

    def enqueue(self, record: logging.LogRecord) -> None:
        self._sink.put("log", record)


def _forwarding_callback(events: _Events, position: int) -> TrialCallback:
    from ferablate.engine import TrialCallback

    class _Forward(TrialCallback):
        last = 0.0

        def on_trial_start(self, info: TrialInfo) -> None:
            events.put("call", position, "on_trial_start", (info,))

        def on_step(self, epoch: int, step: int, steps: int, loss: float | None) -> None:
            now = time.monotonic()
            if now - self.last >= _STEP_EVERY_S or step == steps:
                self.last = now
                events.put("call", position, "on_step", (epoch, step, steps, loss))

        def on_epoch_end(self, epoch: int, metrics: Sequence[EpochMetrics]) -> None:
            events.put("call", position, "on_epoch_end", (epoch, list(metrics)))

    return _Forward()


class _QueueObserver:
    """A job's observer: every event goes to the parent."""

    def __init__(self, events: _Events) -> None:
        self.events = events

    def on_trial_start(self, trial: Trial, position: int, total: int) -> TrialCallback | None:
        self.events.put("start", position, trial, total)
        return _forwarding_callback(self.events, position)

    def on_trial_stage(self, trial: Trial, stage: str) -> None:
        self.events.put("stage", trial, stage)

    def on_trial_end(self, outcome: TrialReport, position: int, total: int) -> None:
        self.events.put("end", position, replace(outcome, result=None), total)

    def __getattr__(self, name: str) -> Callable[..., None]:  # StudyObserver's other hooks
        if not name.startswith("on_"):
            raise AttributeError(name)
        return lambda *args: self.events.put("hook", name, args)


def _job_main(
    job: int, jobs: int, events: Queue[Any], work: Callable[[Any], Any], parent: int
) -> None:
    """A job process: pin, log to the parent, run ``work(observer)``, send its result."""
    skip_final_gc_at_exit()  # the parent waits for this process to end
    die_with_parent(parent)  # a killed parent leaves no job training for nobody
    sink = _Events(events, job)
    logger = logging.getLogger("ferablate")
    logger.handlers[:] = [_QueueHandler(sink)]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        _pin(job, jobs)
        sink.put("done", work(_QueueObserver(sink)))
    except KeyboardInterrupt:
        sink.put("failed", None)
    except BaseException as exc:
        message = (
            exc if isinstance(exc, FerablateError) else RuntimeError(f"{type(exc).__name__}: {exc}")
        )
        sink.put("failed", message)


class _JobFigures(_QueueObserver):
    """A sweep job's observer that is also its figure sink.

    A finished trial's figures go to the parent's background process once this job starts
    another trial, so drawing them overlaps that training. The figures of the job's final
    trial are drawn by the job itself when nothing is left for it to train: its cores are
    free then and torch and MLflow are already imported, where the parent's one background
    process would draw every job's final trial in turn on one thread.
    """

    def __init__(self, events: _Events, tracking_uri: str) -> None:
        super().__init__(events)
        self._uri = tracking_uri
        self._held: tuple[Trial, int, str] | None = None  # the latest finished trial's run

    def __call__(self, trial: Trial, position: int, run_id: str, *, last: bool = False) -> None:
        self.forward()
        self._held = (trial, position, run_id)

    def on_trial_start(self, trial: Trial, position: int, total: int) -> TrialCallback | None:
        self.forward()
        return super().on_trial_start(trial, position, total)

    def forward(self) -> None:
        """Hand the held trial's figures to the parent's background process."""
        if self._held is not None:
            self.events.put("figures", *self._held)
            self._held = None

    def draw_held(self) -> None:
        """Draw the held trial's figures here (the job has nothing left to train)."""
        from ferablate.runner._figures import draw_figures_here

        if self._held is not None:
            trial, _, run_id = self._held
            self._held = None
            draw_figures_here(self._uri, trial, run_id, self)


class _SweepWork:
    """What a sweep job does (a picklable callable)."""

    def __init__(
        self, plan: SweepPlan, pending: Sequence[tuple[int, Trial]], *, figures: bool = True
    ) -> None:
        self.plan = plan
        self.pending = list(pending)
        self.figures = figures  # False (--no-figures): no trial's figures, the final one's neither

    def __call__(self, observer: _QueueObserver) -> dict[int, TrialReport]:
        from ferablate.runner._sweep import DataCache, train_pending
        from ferablate.tracking import resolve_tracking_uri

        job = _JobFigures(observer.events, resolve_tracking_uri(self.plan.tracking_uri))
        reports = train_pending(
            self.plan,
            self.pending,
            job,
            DataCache(),
            figure_sink=job if self.figures else None,
            close_stale=False,
        )
        job.draw_held()
        return {position: replace(report, result=None) for position, report in reports.items()}


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, else every core)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def cap_jobs(jobs: int, work: int | None) -> int:
    """``--jobs`` as started: at most one process per trial to run (``work``; None: no cap),
    with one warning line when the request is above this machine's cores."""
    started = max(1, min(jobs, work)) if work is not None else max(1, jobs)
    cores = available_cores()
    if jobs > cores:
        _log.warning(
            "--jobs %d is more than the %d core(s) here: starting %d job(s)%s",
            jobs,
            cores,
            started,
            ", which share the cores" if started > cores else "",
        )
    elif started < jobs:
        _log.info("--jobs %d: starting %d, one per trial to run", jobs, started)
    return started


def _death(exitcode: int | None) -> str:
    """How a job process ended, in words: "SIGKILL", "exit 1"."""
    if exitcode is not None and exitcode < 0:
        try:
            return signal.Signals(-exitcode).name
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit {exitcode}"


_LOOK_S = 0.5  # seconds between looks at the job processes (a dead one is reaped then)


def run_jobs(
    jobs: int,
    work: Callable[[Any], Any],
    observer: Any,
    on_figures: Callable[[Trial, int, str], None] | None = None,
    show_end: Callable[[TrialReport], bool] = lambda report: True,
    on_lost: Callable[[int, str], bool] | None = None,
) -> list[Any]:
    """Run ``work(observer)`` in ``jobs`` spawned processes; replay their events into
    ``observer``; return each job's result. A job's FerablateError is raised here.

    Every ``_LOOK_S`` the parent looks at (and so reaps) its jobs: a job that died without a
    result (SIGKILL, the OOM killer, a crash) is noticed within a second, not left a zombie
    whose pid looks alive to every claim check. Then ``on_lost(job, how)`` runs (a sweep
    closes the dead job's run KILLED there) and, when it returns True, a new process takes
    the job's place (at most ``jobs`` times per call); otherwise the job counts as failed.
    Each job dies with this process (``die_with_parent``).
    """
    context = multiprocessing.get_context("spawn")
    parent = os.getpid()
    # One queue per job: a job killed while it writes can hold only its own queue's lock, and
    # with this process's copy of each write end closed, its half-written message reads as
    # the end of that queue instead of blocking here.
    queues: dict[int, Queue[Any]] = {}
    readers: dict[Any, int] = {}  # each open queue's read end -> its job

    def start(job: int) -> BaseProcess:
        events: Queue[Any] = context.Queue()
        process = context.Process(
            target=_job_main, args=(job, jobs, events, work, parent), name=f"ferablate-job-{job}"
        )
        process.start()
        events._writer.close()  # type: ignore[attr-defined]  # only the job writes to it
        queues[job] = events
        readers[events._reader] = job  # type: ignore[attr-defined]
        return process

    processes: dict[int, BaseProcess] = {job: start(job) for job in range(jobs)}
    callbacks: dict[tuple[int, int], TrialCallback | None] = {}
    training: dict[int, str] = {}  # job -> the trial it trains now (for a dead job's line)
    results: dict[int, Any] = {}
    errors: dict[int, BaseException] = {}
    restarts = 0

    def handle(kind: str, job: int, *payload: Any) -> None:
        if kind == "start":
            position, trial, total = payload
            training[job] = trial.name
            callbacks[job, position] = observer.on_trial_start(trial, position, total)
        elif kind == "call":
            position, method, args = payload
            callback = callbacks.get((job, position))
            if callback is not None:
                getattr(callback, method)(*args)
        elif kind == "stage":
            observer.on_trial_stage(*payload)
        elif kind == "end":
            position, report, total = payload
            training.pop(job, None)
            if show_end(report):
                observer.on_trial_end(report, position, total)
        elif kind == "hook":
            name, args = payload
            getattr(observer, name)(*args)
        elif kind == "figures" and on_figures is not None:
            on_figures(*payload)
        elif kind == "log":
            (record,) = payload
            logging.getLogger(record.name).handle(record)
        elif kind == "done":
            results[job] = payload[0]
        elif kind == "failed":
            errors[job] = payload[0] or KeyboardInterrupt()

    def receive(job: int, timeout: float = 0.0) -> bool:
        """Handle one message of ``job`` (waiting up to ``timeout``); False: none (or its
        queue ended: the job exited, or died mid-message)."""
        events = queues.get(job)
        if events is None:
            return False
        try:
            message = events.get(timeout=timeout) if timeout else events.get_nowait()
        except queue_module.Empty:
            return False
        except (EOFError, OSError, pickle.UnpicklingError):
            readers.pop(events._reader, None)  # type: ignore[attr-defined]
            del queues[job]
            return False
        handle(*message)
        return True

    def drain(job: int) -> None:
        while receive(job, 0.05):
            pass

    def look() -> None:
        nonlocal restarts
        for job, process in list(processes.items()):
            if job in results or job in errors or process.is_alive():  # is_alive() reaps
                continue
            drain(job)  # what it sent before it ended comes first
            if job in results or job in errors:
                continue
            how = _death(process.exitcode)
            trial = training.pop(job, None)
            during = f" while training trial {trial}" if trial else ""
            if job in queues:  # a dead job's queue is done with (its last message may be torn)
                readers.pop(queues.pop(job)._reader, None)  # type: ignore[attr-defined]
            if on_lost is not None and on_lost(job, how) and restarts < jobs:
                restarts += 1
                _log.warning(
                    "job %d (pid %s) died (%s)%s; its run is marked KILLED and a new job "
                    "takes over",
                    job + 1,
                    process.pid,
                    how,
                    during,
                )
                processes[job] = start(job)
                continue
            errors[job] = TrialError(
                f"job {job + 1} (pid {process.pid}) died ({how}){during}; "
                f"run the same command again to resume"
            )

    try:
        next_look = time.monotonic() + _LOOK_S
        while len(results) + len(errors) < jobs:
            for reader in wait(list(readers), timeout=_LOOK_S):
                if reader in readers and not receive(readers[reader]):
                    next_look = 0.0  # its queue ended: look at that job now
            if time.monotonic() >= next_look:
                look()
                next_look = time.monotonic() + _LOOK_S
    except BaseException:
        # The parent failed or was interrupted alone: let each live job end its trial KILLED
        # through its own KeyboardInterrupt path before anything is terminated.
        for process in processes.values():
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGINT)
        raise
    finally:
        for process in processes.values():
            process.join(timeout=30 if not errors else 5)
            if process.is_alive():
                process.terminate()
    if errors:
        found = list(errors.values())
        raise next((e for e in found if not isinstance(e, KeyboardInterrupt)), found[0])
    return [results[job] for job in sorted(results)]


def train_in_processes(
    plan: SweepPlan,
    pending: Sequence[tuple[int, Trial]],
    jobs: int,
    observer: SweepObserver,
    *,
    figures: bool = True,
) -> dict[int, TrialReport]:
    """Train the pending trials of a sweep in ``jobs`` processes (position -> report).

    A job that dies mid-trial (SIGKILL, the OOM killer) has its run closed KILLED here and a
    new job in its place: the trial is trained again, by that job or by a sibling that was
    waiting for it, so the sweep still ends with every trial trained once.
    """
    from ferablate.runner._figures import FigureDrawer
    from ferablate.runner._sweep import open_tracker

    tracker = open_tracker(plan)  # stale runs closed once here, not by every job at once

    def on_lost(job: int, how: str) -> bool:
        tracker.close_stale_runs()  # the dead job's pid is reaped: its run is stale now
        return True

    shown: dict[int, TrialReport] = {}  # what the observer heard, a dead job's trials too

    def show_end(report: TrialReport) -> bool:
        # A trial one job waited for and saw end in its sibling is reported once, by the sibling.
        if report.elsewhere:
            return False
        shown[_position_of(report, pending)] = report
        return True

    with FigureDrawer(plan.tracking_uri, observer, enabled=figures) as drawer:
        per_job = run_jobs(
            jobs,
            _SweepWork(plan, pending, figures=figures),
            observer,
            drawer.submit,
            show_end=show_end,
            on_lost=on_lost,
        )
    reports = dict(shown)
    for job_reports in per_job:
        for position, report in job_reports.items():
            if position not in reports or reports[position].elsewhere:
                reports[position] = report
    for position, report in sorted(reports.items()):
        if report.elsewhere:  # ended in a process outside this command: not reported yet
            observer.on_trial_end(report, position, plan.total)
    return reports


def _position_of(report: TrialReport, pending: Sequence[tuple[int, Trial]]) -> int:
    return next((p for p, t in pending if t.config_hash == report.trial.config_hash), 0)
