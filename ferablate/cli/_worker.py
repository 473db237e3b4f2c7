"""``ferablate worker``: join a shared study and work through its waiting trials (issue 4).

Also holds the wiring ``ferablate optuna`` and ``ferablate run --storage`` share: open the
storage and study, then run trials through the runner until the study has none left.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ferablate.cli._app import app
from ferablate.cli._console import console, err_console
from ferablate.cli._options import GraceOpt, HeartbeatOpt, NoFiguresOpt, TrackingUriOpt

if TYPE_CHECKING:
    import optuna

    from ferablate.config import Sweep
    from ferablate.search import StudySpec, WorkedTrial

__all__ = ["print_worked", "run_sweep_on_storage", "work_on_study", "worker"]


def work_on_study(
    storage_url: str,
    study_name: str,
    *,
    spec: StudySpec | None = None,
    prepare: Callable[[optuna.Study, StudySpec], None] | None = None,
    tracking_uri: str | None = None,
    max_trials: int | None = None,
    timeout: float | None = None,
    heartbeat: int = 10,
    grace: int | None = None,
    seed: int | None = None,
    figures: bool = True,
) -> list[WorkedTrial]:
    """Open (or create, with ``spec``) the study, run ``prepare``, then work until done.

    Trials of grid studies log the report's figures like ``ferablate run`` (unless not
    ``figures``); search trials do not (figures of 50 samples are rarely looked at).
    """
    import optuna

    from ferablate.cli._progress import SweepProgress
    from ferablate.config import Trial
    from ferablate.engine import TrialCallback
    from ferablate.runner import DataCache, execute_trial, with_figures
    from ferablate.search import StaleTrialHandler, open_storage, open_study, work
    from ferablate.tracking import TAG, TrialTracker

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the CLI prints one line per trial
    storage = open_storage(
        storage_url,
        heartbeat_interval=heartbeat,
        grace_period=grace,
        stale_handler=StaleTrialHandler(tracking_uri),
    )
    study, held = open_study(storage, study_name, spec, seed=seed)
    if prepare is not None:
        prepare(study, held)
    tracker = TrialTracker(held.experiment, tracking_uri)
    data = DataCache()
    on_result = with_figures() if figures and held.kind == "grid" else None
    position = 0

    with SweepProgress() as progress:

        def execute(
            trial: Trial, callbacks: Sequence[TrialCallback], extra_tags: Mapping[str, str]
        ) -> Any:
            nonlocal position
            position += 1
            total = max(position, len(study.get_trials(deepcopy=False)))
            bar = progress.on_trial_start(trial, position, total)
            outcome = execute_trial(
                trial,
                tracker,
                data,
                [*callbacks, bar],
                extra_tags={TAG.SWEEP: held.experiment, **extra_tags},
                on_result=on_result,
            )
            progress.on_trial_end(outcome, position, total)
            return outcome

        def report(worked: WorkedTrial) -> None:
            value = f" val acc {worked.value:.4f}" if worked.value is not None else ""
            note = (
                f" ({worked.message[:100]})"
                if worked.message and worked.state != "COMPLETE"
                else ""
            )
            err_console.print(
                f"trial {worked.number} {worked.name}: {worked.state}{value} in {worked.seconds:.1f}s{note}"
            )

        return work(
            study, storage, held, execute, max_trials=max_trials, timeout=timeout, on_trial=report
        )


def print_worked(title: str, worked: Sequence[WorkedTrial], seconds: float) -> None:
    """Counts per final state and wall time of this process's trials."""
    from collections import Counter

    counts = Counter(w.state for w in worked)
    parts = ", ".join(
        f"{counts[s]} {s.lower()}"
        for s in ("COMPLETE", "PRUNED", "REJECTED", "FAIL", "LOST")
        if counts[s]
    )
    console.print(f"{title}: {len(worked)} trial(s) here ({parts or 'none'}) in {seconds:.0f}s")


def run_sweep_on_storage(
    sweep: Sweep,
    overrides: Mapping[str, Any],
    storage_url: str,
    study_name: str,
    *,
    rerun: bool = False,
    tracking_uri: str | None = None,
    heartbeat: int = 10,
    grace: int | None = None,
    figures: bool = True,
) -> list[WorkedTrial]:
    """Queue the sweep's trials in the study (skipping finished ones), then work on them."""
    from ferablate.config import expand_sweep
    from ferablate.search import StudySpec, enqueue_trials
    from ferablate.tracking import TrialTracker

    trials = expand_sweep(sweep, overrides)

    def prepare(study: optuna.Study, held: StudySpec) -> None:
        finished = (
            set() if rerun else set(TrialTracker(held.experiment, tracking_uri).finished_trials())
        )
        queued, skipped = enqueue_trials(study, trials, finished, rerun=rerun)
        err_console.print(
            f"study '{study.study_name}': queued {len(queued)} trial(s), skipped {len(skipped)} "
            f"already finished, queued or running"
        )

    return work_on_study(
        storage_url,
        study_name,
        spec=StudySpec(kind="grid", experiment=sweep.name),
        prepare=prepare,
        tracking_uri=tracking_uri,
        heartbeat=heartbeat,
        grace=grace,
        figures=figures,
    )


@app.command()
def worker(
    storage: Annotated[
        str, typer.Option("--storage", metavar="URL", help="Optuna storage of the study.")
    ],
    study: Annotated[str, typer.Option("--study", metavar="NAME", help="Study to work on.")],
    max_trials: Annotated[
        int | None, typer.Option("--max-trials", min=1, help="Stop after this many trials.")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", metavar="S", help="Start no trial after S seconds.")
    ] = None,
    tracking_uri: TrackingUriOpt = None,
    heartbeat: HeartbeatOpt = 10,
    grace: GraceOpt = None,
    no_figures: NoFiguresOpt = False,
) -> None:
    """Join a study (grid or Optuna search) from any machine; run its trials until none remain."""
    import time

    started = time.monotonic()
    worked = work_on_study(
        storage,
        study,
        tracking_uri=tracking_uri,
        max_trials=max_trials,
        timeout=timeout,
        heartbeat=heartbeat,
        grace=grace,
        figures=not no_figures,
    )
    print_worked(f"worker on '{study}'", worked, time.monotonic() - started)
    if any(w.state == "FAIL" for w in worked):
        raise typer.Exit(1)
