"""``--jobs N``: N trials at once on one machine, as N processes with one progress view.

Each job is a spawned process that runs the same pending trials with claims (so each trial is
trained once), pinned to its share of the cores (all jobs share the one GPU). Jobs send their
observer events, log records and finished runs' figure requests over one queue; the parent
replays the events into its observer and draws the figures in its one background process.
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import os
import queue as queue_module
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ferablate._errors import FerablateError
from ferablate._exit import skip_final_gc_at_exit
from ferablate._logging import get_logger

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from multiprocessing.queues import Queue

    from ferablate.config import Trial
    from ferablate.engine import EpochMetrics, TrialCallback, TrialInfo
    from ferablate.runner._sweep import SweepObserver, SweepPlan, TrialReport

__all__ = ["core_share", "run_jobs", "train_in_processes"]

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


def _job_main(job: int, jobs: int, events: Queue[Any], work: Callable[[Any], Any]) -> None:
    """A job process: pin, log to the parent, run ``work(observer)``, send its result."""
    skip_final_gc_at_exit()  # the parent waits for this process to end
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


def run_jobs(
    jobs: int,
    work: Callable[[Any], Any],
    observer: Any,
    on_figures: Callable[[Trial, int, str], None] | None = None,
    show_end: Callable[[TrialReport], bool] = lambda report: True,
) -> list[Any]:
    """Run ``work(observer)`` in ``jobs`` spawned processes; replay their events into
    ``observer``; return each job's result. A job's FerablateError is raised here."""
    context = multiprocessing.get_context("spawn")
    events: Queue[Any] = context.Queue()
    processes: list[BaseProcess] = [
        context.Process(
            target=_job_main, args=(job, jobs, events, work), name=f"ferablate-job-{job}"
        )
        for job in range(jobs)
    ]
    for process in processes:
        process.start()
    callbacks: dict[tuple[int, int], TrialCallback | None] = {}
    results: dict[int, Any] = {}
    errors: list[BaseException] = []
    try:
        while len(results) + len(errors) < jobs:
            try:
                kind, job, *payload = events.get(timeout=1.0)
            except queue_module.Empty:
                if not any(p.is_alive() for p in processes):  # the queue is drained: no more news
                    dead = [p for p in processes if p.exitcode != 0] or processes
                    raise RuntimeError(
                        f"job process {dead[0].name} ended without a result (exit {dead[0].exitcode})"
                    ) from None
                continue
            if kind == "start":
                position, trial, total = payload
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
                errors.append(payload[0] or KeyboardInterrupt())
    except BaseException:
        # The parent failed or was interrupted alone: let each live job end its trial KILLED
        # through its own KeyboardInterrupt path before anything is terminated.
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGINT)
        raise
    finally:
        for process in processes:
            process.join(timeout=30 if not errors else 5)
            if process.is_alive():
                process.terminate()
    if errors:
        raise next((e for e in errors if not isinstance(e, KeyboardInterrupt)), errors[0])
    return [results[job] for job in sorted(results)]


def train_in_processes(
    plan: SweepPlan,
    pending: Sequence[tuple[int, Trial]],
    jobs: int,
    observer: SweepObserver,
    *,
    figures: bool = True,
) -> dict[int, TrialReport]:
    """Train the pending trials of a sweep in ``jobs`` processes (position -> report)."""
    from ferablate.runner._figures import FigureDrawer
    from ferablate.runner._sweep import open_tracker

    open_tracker(plan)  # stale runs closed once here, not by every job at once
    with FigureDrawer(plan.tracking_uri, observer, enabled=figures) as drawer:
        # A trial one job waited for and saw end in its sibling is reported once, by the sibling.
        per_job = run_jobs(
            jobs,
            _SweepWork(plan, pending, figures=figures),
            observer,
            drawer.submit,
            show_end=lambda r: not r.elsewhere,
        )
    reports: dict[int, TrialReport] = {}
    for job_reports in per_job:
        for position, report in job_reports.items():
            if position not in reports or reports[position].elsewhere:
                reports[position] = report
    for position, report in sorted(reports.items()):
        if report.elsewhere:  # ended in a process outside this command: not reported yet
            observer.on_trial_end(report, position, plan.total)
    return reports
