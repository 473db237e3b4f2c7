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
from typing import TYPE_CHECKING, Any, Protocol

from ferablate._errors import FerablateError, TrialError
from ferablate._exit import die_with_parent, skip_final_gc_at_exit
from ferablate._logging import get_logger
from ferablate.runner._figures import draw_figures_here

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from multiprocessing.queues import Queue

    from ferablate.config import Trial
    from ferablate.engine import EpochMetrics, TrialCallback, TrialInfo
    from ferablate.runner._observer import StudyReady
    from ferablate.tracking import TrialReport

__all__ = ["JobFigures", "JobObserver", "available_cores", "cap_jobs", "core_share", "run_jobs"]

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


class JobObserver:
    """A job's observer: every event goes to the parent."""

    def __init__(self, events: _Events) -> None:
        self.events = events

    def on_trial_start(self, trial: Trial, position: int, total: int) -> TrialCallback | None:
        self.events.put("start", position, trial, total)
        return _forwarding_callback(self.events, position)

    def on_trial_stage(self, trial: Trial, stage: str) -> None:
        self.events.put("stage", trial, stage)

    # A report travels without its TrialResult: the parent needs none of it, and its tensors
    # would go through torch's shared-memory passing, which keeps this process from exiting.
    def on_trial_end(self, outcome: TrialReport, position: int, total: int) -> None:
        self.events.put("end", position, replace(outcome, result=None), total)

    def on_study_ready(self, ready: StudyReady) -> None:
        self.events.put("hook", "on_study_ready", (ready,))

    def on_worked(self, worked: TrialReport) -> None:
        self.events.put("hook", "on_worked", (replace(worked, result=None),))


class JobWork(Protocol):
    """What each job process does (picklable): run the loop on its queue, return its reports."""

    def __call__(self, job: int, observer: JobObserver) -> dict[int, TrialReport]: ...


def _job_main(job: int, jobs: int, events: Queue[Any], work: JobWork, parent: int) -> None:
    """A job process: pin, log to the parent, run ``work(job, observer)``, send its result."""
    skip_final_gc_at_exit()  # the parent waits for this process to end
    die_with_parent(parent)  # a killed parent leaves no job training for nobody
    sink = _Events(events, job)
    logger = logging.getLogger("ferablate")
    logger.handlers[:] = [_QueueHandler(sink)]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        _pin(job, jobs)
        reports = work(job, JobObserver(sink))
        sink.put("done", {position: replace(r, result=None) for position, r in reports.items()})
    except KeyboardInterrupt:
        sink.put("failed", None)
    except BaseException as exc:
        message = (
            exc if isinstance(exc, FerablateError) else RuntimeError(f"{type(exc).__name__}: {exc}")
        )
        sink.put("failed", message)


class JobFigures:
    """A job's figure sink: a finished trial's figures go to the parent's background process
    (the loop hands them over once this job claims its next trial, so drawing overlaps that
    training); the job's final trial's are drawn by the job itself, on its own cores, with
    torch and MLflow already imported, where the parent's one background process would draw
    every job's final trial in turn on one thread."""

    def __init__(self, observer: JobObserver, tracking_uri: str) -> None:
        self._observer = observer
        self._uri = tracking_uri

    def __call__(self, trial: Trial, position: int, run_id: str, *, last: bool = False) -> None:
        if last:
            draw_figures_here(self._uri, trial, run_id, self._observer)
        else:
            self._observer.events.put("figures", trial, position, run_id)


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
    work: JobWork,
    observer: Any,
    on_figures: Callable[[Trial, int, str], None] | None = None,
    show_end: Callable[[int, TrialReport], bool] = lambda position, report: True,
    on_lost: Callable[[int, str], None] | None = None,
) -> list[dict[int, TrialReport]]:
    """Run ``work(job, observer)`` in ``jobs`` spawned processes; replay their events into
    ``observer``; return each job's reports. A job's FerablateError is raised here.

    Every ``_LOOK_S`` the parent looks at (and so reaps) its jobs: a job that died without a
    result (SIGKILL, the OOM killer, a crash) is noticed within a second, not left a zombie
    whose pid looks alive to every claim check. Then ``on_lost(job, how)`` runs (a sweep
    closes the dead job's run KILLED there) and a new process takes the job's place (at most
    ``jobs`` times per call): the dead job's trial is taken over by the queue's rule. Each job
    dies with this process (``die_with_parent``).
    """
    pool = _JobPool(jobs, work, observer, on_figures, show_end, on_lost)
    try:
        pool.run()
    except BaseException:
        pool.interrupt()
        raise
    finally:
        pool.join()
    return pool.results()


class _JobPool:
    """The parent's side of ``run_jobs``: the processes, their queues, what they sent."""

    def __init__(
        self,
        jobs: int,
        work: JobWork,
        observer: Any,
        on_figures: Callable[[Trial, int, str], None] | None,
        show_end: Callable[[int, TrialReport], bool],
        on_lost: Callable[[int, str], None] | None,
    ) -> None:
        self.jobs, self.work, self.observer = jobs, work, observer
        self.on_figures, self.show_end, self.on_lost = on_figures, show_end, on_lost
        self.context = multiprocessing.get_context("spawn")
        self.parent = os.getpid()
        # One queue per job: a job killed while it writes can hold only its own queue's lock,
        # and with this process's copy of each write end closed, its half-written message
        # reads as the end of that queue instead of blocking here.
        self.queues: dict[int, Queue[Any]] = {}
        self.readers: dict[Any, int] = {}  # each open queue's read end -> its job
        self.callbacks: dict[tuple[int, int], TrialCallback | None] = {}
        self.training: dict[int, str] = {}  # job -> the trial it trains now (a dead job's line)
        self.done: dict[int, dict[int, TrialReport]] = {}
        self.errors: dict[int, BaseException] = {}
        self.restarts = 0
        self.processes: dict[int, BaseProcess] = {job: self.start(job) for job in range(jobs)}

    def start(self, job: int) -> BaseProcess:
        events: Queue[Any] = self.context.Queue()
        process = self.context.Process(
            target=_job_main,
            args=(job, self.jobs, events, self.work, self.parent),
            name=f"ferablate-job-{job}",
        )
        process.start()
        events._writer.close()  # type: ignore[attr-defined]  # only the job writes to it
        self.queues[job] = events
        self.readers[events._reader] = job  # type: ignore[attr-defined]
        return process

    def handle(self, kind: str, job: int, *payload: Any) -> None:
        if kind == "start":
            position, trial, total = payload
            self.training[job] = trial.name
            self.callbacks[job, position] = self.observer.on_trial_start(trial, position, total)
        elif kind == "call":
            position, method, args = payload
            if (callback := self.callbacks.get((job, position))) is not None:
                getattr(callback, method)(*args)
        elif kind == "stage":
            self.observer.on_trial_stage(*payload)
        elif kind == "end":
            position, report, total = payload
            self.training.pop(job, None)
            if self.show_end(position, report):
                self.observer.on_trial_end(report, position, total)
        elif kind == "hook":
            name, args = payload
            getattr(self.observer, name)(*args)
        elif kind == "figures" and self.on_figures is not None:
            self.on_figures(*payload)
        elif kind == "log":
            logging.getLogger(payload[0].name).handle(payload[0])
        elif kind == "done":
            self.done[job] = payload[0]
        elif kind == "failed":
            self.errors[job] = payload[0] or KeyboardInterrupt()

    def receive(self, job: int, timeout: float = 0.0) -> bool:
        """Handle one message of ``job`` (waiting up to ``timeout``); False: none (or its
        queue ended: the job exited, or died mid-message)."""
        events = self.queues.get(job)
        if events is None:
            return False
        try:
            message = events.get(timeout=timeout) if timeout else events.get_nowait()
        except queue_module.Empty:
            return False
        except (EOFError, OSError, pickle.UnpicklingError):
            self.readers.pop(events._reader, None)  # type: ignore[attr-defined]
            del self.queues[job]
            return False
        self.handle(*message)
        return True

    def ended(self, job: int) -> bool:
        return job in self.done or job in self.errors

    def look(self) -> None:
        """Reap the jobs; a dead one without a result is replaced (or counts as failed)."""
        for job, process in list(self.processes.items()):
            if self.ended(job) or process.is_alive():  # is_alive() reaps
                continue
            while self.receive(job, 0.05):  # what it sent before it ended comes first
                pass
            if self.ended(job):
                continue
            how = _death(process.exitcode)
            trial = self.training.pop(job, None)
            during = f" while training trial {trial}" if trial else ""
            if job in self.queues:  # a dead job's queue is done with (its last message may be torn)
                self.readers.pop(self.queues.pop(job)._reader, None)  # type: ignore[attr-defined]
            if self.restarts < self.jobs:
                self.restarts += 1
                if self.on_lost is not None:
                    self.on_lost(job, how)
                _log.warning(
                    "job %d (pid %s) died (%s)%s; a new job takes over its trial",
                    job + 1, process.pid, how, during,
                )  # fmt: skip
                self.processes[job] = self.start(job)
                continue
            self.errors[job] = TrialError(
                f"job {job + 1} (pid {process.pid}) died ({how}){during}; "
                f"run the same command again to resume"
            )

    def run(self) -> None:
        next_look = time.monotonic() + _LOOK_S
        while len(self.done) + len(self.errors) < self.jobs:
            for reader in wait(list(self.readers), timeout=_LOOK_S):
                if reader in self.readers and not self.receive(self.readers[reader]):
                    next_look = 0.0  # its queue ended: look at that job now
            if time.monotonic() >= next_look:
                self.look()
                next_look = time.monotonic() + _LOOK_S

    def interrupt(self) -> None:
        """The parent failed or was interrupted alone: let each live job end its trial KILLED
        through its own KeyboardInterrupt path before anything is terminated."""
        for process in self.processes.values():
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGINT)

    def join(self) -> None:
        for process in self.processes.values():
            process.join(timeout=30 if not self.errors else 5)
            if process.is_alive():
                process.terminate()

    def results(self) -> list[dict[int, TrialReport]]:
        if self.errors:
            found = list(self.errors.values())
            raise next((e for e in found if not isinstance(e, KeyboardInterrupt)), found[0])
        return [self.done[job] for job in sorted(self.done)]
