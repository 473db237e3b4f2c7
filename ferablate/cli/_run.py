"""``ferablate run``: a sweep file -> tracked trials."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ferablate._logging import get_logger
from ferablate.cli._app import app
from ferablate.cli._console import console
from ferablate.cli._options import (
    DryRunOpt,
    GraceOpt,
    HeartbeatOpt,
    JobsOpt,
    NoFiguresOpt,
    OverridesOpt,
    StorageOpt,
    StudyOpt,
    SweepArg,
    TrackingUriOpt,
)

if TYPE_CHECKING:
    from ferablate.config import Sweep
    from ferablate.runner import TrialReport

__all__ = ["run"]

_log = get_logger(__name__)


@app.command()
def run(
    sweep: SweepArg,
    overrides: OverridesOpt = None,
    dry_run: DryRunOpt = False,
    rerun: Annotated[
        bool, typer.Option("--rerun", help="Train trials that already FINISHED again.")
    ] = False,
    tracking_uri: TrackingUriOpt = None,
    no_figures: NoFiguresOpt = False,
    storage: StorageOpt = None,
    study: StudyOpt = None,
    heartbeat: HeartbeatOpt = 10,
    grace: GraceOpt = None,
    jobs: JobsOpt = 1,
) -> None:
    """Run every trial of SWEEP (k-fold, k = train.folds) and log it to MLflow; finished trials are skipped."""
    from ferablate.config import load_sweep, parse_overrides

    loaded = load_sweep(sweep)
    patch = parse_overrides(overrides or [])
    if dry_run:
        _print_dry_run(loaded, patch)
        return
    from ferablate.cli._progress import sweep_progress
    from ferablate.runner import RunOptions

    options = RunOptions(
        tracking_uri=tracking_uri, storage=storage, study=study, jobs=jobs,
        figures=not no_figures, rerun=rerun, heartbeat=heartbeat, grace=grace,
    )  # fmt: skip
    if storage is not None:  # queue the trials in a shared study; any `ferablate worker` may help
        from ferablate.cli._worker import exit_on_failure
        from ferablate.runner import run_sweep_on_storage

        with sweep_progress() as progress:
            report = run_sweep_on_storage(loaded, patch, options, progress)
        exit_on_failure(report)
        return
    from ferablate.runner import run_sweep

    with sweep_progress() as progress:
        outcomes = run_sweep(loaded, patch, options, progress)
    _print_results(loaded.name, outcomes)
    if any(o.status == "failed" for o in outcomes):
        raise typer.Exit(1)


def _print_dry_run(sweep: Sweep, patch: dict[str, object]) -> None:
    from rich.table import Table

    from ferablate._errors import DataError
    from ferablate.config import diff_configs, expand_sweep, parent_trials, resolve_trial
    from ferablate.tracking import identify_trials

    base = resolve_trial(sweep.base, [("--set", patch)] if patch else [])
    trials = expand_sweep(sweep, patch)
    try:  # the identity holds the data's fingerprint: without the data, no identity yet
        trials = identify_trials(trials)
    except DataError as exc:
        _log.warning("no trial identities: %s", str(exc).split(";")[0])
    by_name = {trial.name: trial for trial in trials}
    parents = parent_trials(sweep, trials)
    table = Table(title=f"{sweep.name}: {len(trials)} trial(s) (dry run)")
    table.add_column("#", justify="right")
    table.add_column("trial", no_wrap=True)
    table.add_column("differs from its parent (or the base)", overflow="fold")
    table.add_column("identity", no_wrap=True)
    for trial in trials:
        parent = parents.get(trial.name)
        reference = by_name[parent].config if parent is not None else base
        diff = diff_configs(reference, trial.config)
        changes = ", ".join(f"{k}={v}" for k, v in diff.items())
        if parent is not None:
            changes = f"{parent}: {changes or '(same config)'}"
        table.add_row(str(trial.index + 1), trial.name, changes or "(base)", trial.identity or "—")
    console.print(table)


def _print_results(name: str, outcomes: list[TrialReport]) -> None:
    from rich.table import Table

    table = Table(title=f"{name}: results (mean ± std over folds)")
    # Names and statuses wrap, numbers never do: the table fits an 80-column terminal.
    for column in ("trial", "status", "accuracy", "precision", "recall", "time"):
        text = column in ("trial", "status")
        table.add_column(
            column,
            justify="left" if text else "right",
            no_wrap=not text,
            min_width=8 if text else None,
            overflow="fold",
        )
    for outcome in outcomes:
        s = outcome.summary

        def cell(metric: str, s: dict[str, float] = s) -> str:
            if f"{metric}_mean" not in s:
                return "—"
            return f"{s[f'{metric}_mean']:.3f}±{s.get(f'{metric}_std', 0.0):.3f}"

        status = {"oom": "no fit in memory"}.get(outcome.status, outcome.status)
        if outcome.status == "failed":
            status = f"failed: {outcome.message}"  # the whole reason: the cell wraps
        elif outcome.status == "diverged" and outcome.message:
            status = outcome.message  # "diverged (fold f1, epoch 2): ..."
        if outcome.result is not None and (collapsed := len(outcome.result.collapsed_folds)):
            status += f" ({collapsed} fold{'s' * (collapsed > 1)} at chance)"
        table.add_row(
            outcome.trial.name,
            status,
            cell("val_accuracy"),
            cell("val_precision"),
            cell("val_recall"),
            f"{outcome.seconds:.0f}s" if outcome.seconds else "—",
        )
    console.print(table)
