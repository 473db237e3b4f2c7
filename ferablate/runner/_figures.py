"""Figures off the critical path: one background process redraws each finished trial's figures
from its stored run (weights, histories, predictions) while the next trial trains; the last
trial's are drawn here, with every thread, since nothing is left to overlap them with."""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ferablate._exit import die_with_parent, skip_final_gc_at_exit
from ferablate._logging import get_logger
from ferablate.tracking import resolve_tracking_uri

if TYPE_CHECKING:
    from ferablate.config import Trial
    from ferablate.runner._observer import SweepObserver

__all__ = ["FigureDrawer", "FigureSink", "draw_figures_here", "draw_stored_figures"]

_log = get_logger(__name__)


class FigureSink(Protocol):
    """Takes a FINISHED trial's run; ``last``: nothing more trains in this process after it."""

    def __call__(self, trial: Trial, position: int, run_id: str, *, last: bool = False) -> None: ...


def draw_stored_figures(tracking_uri: str, run_id: str, *, background: bool = True) -> int:
    """Draw the report's figures of a stored run and log them under ``figures/``; how many.

    ``background``: one thread (a by-product must leave the cores to the trials training).
    """
    import torch

    from ferablate.viz import DPI, FIGURE_NAMES, draw_run_figures

    if background:
        torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="ferablate-figures-") as tmp:
        return len(
            draw_run_figures(tracking_uri, run_id, FIGURE_NAMES, Path(tmp), dpi=DPI, log=True)
        )


def draw_figures_here(
    tracking_uri: str, trial: Trial, run_id: str, observer: SweepObserver
) -> None:
    """Draw a finished trial's figures in this process, with its threads (observer stage
    "figures"); a failure only warns."""
    observer.on_trial_stage(trial, "figures")
    try:
        draw_stored_figures(tracking_uri, run_id, background=False)
    except Exception as exc:
        _warn_not_logged(trial, exc)


class FigureDrawer:
    """Queues figure drawing in one background process, except a ``last`` trial's (drawn here
    at once); on exit waits for what is pending (observer stage "figures"). A figure failure
    only warns: figures are a by-product."""

    def __init__(
        self, tracking_uri: str | None, observer: SweepObserver, *, enabled: bool = True
    ) -> None:
        self._uri = resolve_tracking_uri(tracking_uri)
        self._observer = observer
        self._enabled = enabled
        self._pool: ProcessPoolExecutor | None = None
        self._pending: list[tuple[Trial, int, Future[Any]]] = []

    def __enter__(self) -> FigureDrawer:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            if exc_type is None:
                self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=exc_type is None, cancel_futures=True)

    def submit(self, trial: Trial, position: int, run_id: str, *, last: bool = False) -> None:
        if not self._enabled or not run_id:
            return
        if last:  # nothing left to overlap with: no process to start (imports, ~6 s of a CPU)
            self._draw_here(trial, run_id)
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_figure_process_init,
                initargs=(os.getpid(),),
            )
        self._pending.append(
            (trial, position, self._pool.submit(draw_stored_figures, self._uri, run_id))
        )

    def _draw_here(self, trial: Trial, run_id: str) -> None:
        draw_figures_here(self._uri, trial, run_id, self._observer)

    def wait(self) -> None:
        """Wait for every queued trial's figures."""
        for trial, _, future in self._pending:
            if not future.done():
                self._observer.on_trial_stage(trial, "figures")
            try:
                future.result()
            except Exception as exc:
                _warn_not_logged(trial, exc)
        self._pending.clear()


def _figure_process_init(parent: int) -> None:
    skip_final_gc_at_exit()  # the sweep waits for this process to end
    die_with_parent(parent)  # a killed sweep leaves no figure process behind


def _warn_not_logged(trial: Trial, exc: Exception) -> None:
    _log.warning("figures of trial %s not logged: %s: %s", trial.name, type(exc).__name__, exc)
