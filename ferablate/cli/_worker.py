"""``ferablate worker``: join a shared study and work through its waiting trials (issue 4)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ferablate.cli._app import app
from ferablate.cli._console import console
from ferablate.cli._options import (
    GraceOpt,
    HeartbeatOpt,
    JobsOpt,
    NoFiguresOpt,
    TimeoutOpt,
    TrackingUriOpt,
)

if TYPE_CHECKING:
    from ferablate.runner import StudyReport

__all__ = ["exit_on_failure", "print_worked", "worker"]


def print_worked(title: str, report: StudyReport) -> None:
    """Counts per outcome and wall time of this process's trials."""
    from collections import Counter

    from ferablate import TrialOutcome

    counts = Counter(w.status for w in report.worked)
    parts = ", ".join(f"{counts[o]} {o.value}" for o in TrialOutcome if counts[o])
    console.print(
        f"{title}: {len(report.worked)} trial(s) here ({parts or 'none'}) in {report.seconds:.0f}s"
    )


def exit_on_failure(report: StudyReport) -> None:
    """Exit 1 when a trial of this process failed (Optuna FAIL: error, oom, diverged)."""
    if any(w.status.is_failure for w in report.worked):
        raise typer.Exit(1)


@app.command()
def worker(
    storage: Annotated[
        str, typer.Option("--storage", metavar="URL", help="Optuna storage of the study.")
    ],
    study: Annotated[str, typer.Option("--study", metavar="NAME", help="Study to work on.")],
    max_trials: Annotated[
        int | None, typer.Option("--max-trials", min=1, help="Stop after this many trials.")
    ] = None,
    timeout: TimeoutOpt = None,
    tracking_uri: TrackingUriOpt = None,
    heartbeat: HeartbeatOpt = 10,
    grace: GraceOpt = None,
    no_figures: NoFiguresOpt = False,
    jobs: JobsOpt = 1,
) -> None:
    """Join a study (grid or Optuna search) from any machine; run its trials until none remain."""
    from ferablate.cli._progress import sweep_progress
    from ferablate.runner import RunOptions, work_on_study

    options = RunOptions(
        tracking_uri=tracking_uri, storage=storage, study=study, jobs=jobs,
        figures=not no_figures, heartbeat=heartbeat, grace=grace,
        max_trials=max_trials, timeout=timeout,
    )  # fmt: skip
    with sweep_progress() as progress:
        report = work_on_study(options, progress)
    print_worked(f"worker on '{study}'", report)
    exit_on_failure(report)
