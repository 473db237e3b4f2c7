"""``ferablate optuna``: Optuna search over a sweep's ``search:`` space, with pruning (issue 4)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ferablate.cli._app import app
from ferablate.cli._console import console
from ferablate.cli._options import (
    GraceOpt,
    HeartbeatOpt,
    OverridesOpt,
    StudyOpt,
    TimeoutOpt,
    TrackingUriOpt,
)

if TYPE_CHECKING:
    from ferablate.runner import StudyReport

__all__ = ["DEFAULT_SEARCH_SWEEP", "optuna_command"]

DEFAULT_SEARCH_SWEEP = Path("sweeps/model1_optuna.yaml")
DEFAULT_TRIALS = 20  # --trials: the study's total
_EXPORT_HELP = "With --best: where to write it \\[default: sweeps/<study>-best.yaml]."


@app.command("optuna")
def optuna_command(
    sweep: Annotated[
        Path | None,
        typer.Argument(
            help=f"Sweep file with a 'search:' mapping \\[default: {DEFAULT_SEARCH_SWEEP}].",
            metavar="[SWEEP]",
        ),
    ] = None,
    trials: Annotated[
        int | None,
        typer.Option(
            "--trials",
            "-n",
            min=1,
            help="The study's trials in all: the same command resumes to the same end "
            "\\[default: 20].",
        ),
    ] = None,
    more: Annotated[
        int | None,
        typer.Option("--more", min=1, metavar="N", help="Add N trials to the study's target."),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            metavar="URL",
            help="Optuna storage \\[default: sqlite:///mlruns/optuna.db].",
        ),
    ] = None,
    study: StudyOpt = None,
    # Enum-valued, read as text and parsed by the enum: a bad value is one `error:` line.
    sampler: Annotated[
        str, typer.Option("--sampler", metavar="tpe|random", help="Optuna sampler.")
    ] = "tpe",
    pruner: Annotated[
        str, typer.Option("--pruner", metavar="median|hyperband|none", help="Optuna pruner.")
    ] = "median",
    timeout: TimeoutOpt = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Sampler seed.")] = None,
    overrides: OverridesOpt = None,
    max_parameters: Annotated[
        int,
        typer.Option("--max-params", min=1, help="Reject sampled models with more parameters."),
    ] = 2_000_000,
    best: Annotated[
        bool, typer.Option("--best", help="Write the best trial as a sweep file; train nothing.")
    ] = False,
    export: Annotated[
        Path | None, typer.Option("--export", metavar="FILE", help=_EXPORT_HELP)
    ] = None,
    tracking_uri: TrackingUriOpt = None,
    heartbeat: HeartbeatOpt = 10,
    grace: GraceOpt = None,
) -> None:
    """Search SWEEP's space with Optuna (pruning on the per-epoch mean over folds); resumable."""
    from ferablate.config import load_sweep, parse_overrides
    from ferablate.search import DEFAULT_STORAGE, PrunerKind, SamplerKind

    sampler_kind = SamplerKind.parse(sampler, "--sampler")
    pruner_kind = PrunerKind.parse(pruner, "--pruner")
    loaded = load_sweep(sweep or DEFAULT_SEARCH_SWEEP)
    study_name = study or loaded.name
    storage_url = storage or DEFAULT_STORAGE
    if best or export is not None:
        from ferablate.search import export_best_trial

        path, description = export_best_trial(storage_url, study_name, export)
        console.print(f"wrote {path} ({description})")
        return

    from ferablate.cli._progress import sweep_progress
    from ferablate.runner import RunOptions, SearchOptions, run_search

    wanted = SearchOptions(
        trials=trials if trials is not None or more is not None else DEFAULT_TRIALS,
        more=more, sampler=sampler_kind, pruner=pruner_kind, max_parameters=max_parameters,
    )  # fmt: skip
    options = RunOptions(
        tracking_uri=tracking_uri, storage=storage_url, study=study_name, heartbeat=heartbeat,
        grace=grace, timeout=timeout, seed=seed,
    )  # fmt: skip
    with sweep_progress() as progress:
        report = run_search(loaded, parse_overrides(overrides or []), wanted, options, progress)
    _print_study(report)


def _print_study(report: StudyReport) -> None:
    from ferablate.cli._worker import print_worked

    print_worked(f"study '{report.study}'", report)
    console.print(
        "study totals: " + ", ".join(f"{n} {s.lower()}" for s, n in report.totals.items() if n)
    )
    if report.best is not None:
        console.print(
            f"best: trial {report.best.number} ({report.best.name}) mean val accuracy {report.best.value:.4f}; "
            f"write it with 'ferablate optuna SWEEP --best'"
        )
