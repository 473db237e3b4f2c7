"""``ferablate final``: train a final model on all of Training, score the test splits."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ferablate.cli._app import app
from ferablate.cli._console import console
from ferablate.cli._options import (
    NoFiguresOpt,
    OverridesOpt,
    PresetOrSweepArg,
    TrackingUriOpt,
    VariantOpt,
)

if TYPE_CHECKING:
    from ferablate.config import Trial
    from ferablate.runner import FinalOutcome

__all__ = ["final", "final_trial"]


def final_trial(target: str, variant: str | None, patch: dict[str, object]) -> tuple[Trial, str]:
    """The trial to train and its experiment: a sweep file's variant (the sweep's
    experiment) or a preset name (experiment ``final``); ``patch`` applies last."""
    from ferablate._errors import ConfigError
    from ferablate.cli._resolve import sweep_trial
    from ferablate.config import Trial, resolve_preset, resolve_trial
    from ferablate.runner import FINAL_EXPERIMENT

    if target.endswith((".yaml", ".yml")) or Path(target).is_file():
        sweep, trial = sweep_trial(target, variant, patch)
        return trial, sweep.name
    if variant is not None:
        raise ConfigError("--variant goes with a sweep file, not a preset name")
    where = f"preset '{target}'"
    base = resolve_preset({"model": {"preset": target}}, where)
    config = resolve_trial(base, [("--set", patch)] if patch else [])
    return Trial(name=target, variant=target, config=config, patch=patch, index=0), FINAL_EXPERIMENT


@app.command()
def final(
    target: PresetOrSweepArg,
    variant: VariantOpt = None,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", min=1, help="Epochs (overrides train.epochs), e.g. 50."),
    ] = None,
    overrides: OverridesOpt = None,
    tracking_uri: TrackingUriOpt = None,
    no_figures: NoFiguresOpt = False,
) -> None:
    """Train on all of Training, score PublicTest and PrivateTest; log a `final` MLflow run.

    A preset trains with the default data section (synthetic faces): give
    --set data.source=fer2013 for the real data.
    """
    from ferablate.config import parse_overrides

    patch: dict[str, object] = dict(parse_overrides(overrides or []))
    if epochs is not None:
        patch["train.epochs"] = epochs
    trial, experiment = final_trial(target, variant, patch)

    from ferablate.cli._progress import sweep_progress
    from ferablate.runner import DataCache, check_final, run_final
    from ferablate.tracking import resolve_tracking_uri

    # Everything that can be known before training fails before "trial 1/1 start" and
    # before any run is written: the store's URI, the faces, the test splits, the network.
    tracking_uri = resolve_tracking_uri(tracking_uri, create=False, missing_ok=True)
    data = DataCache()
    check_final(trial, data)
    with sweep_progress() as progress:
        callback = progress.on_trial_start(trial, 1, 1)
        outcome = run_final(
            trial,
            experiment,
            tracking_uri=tracking_uri,
            data=data,
            callbacks=[callback],
            figures=not no_figures,
        )
    _print_outcome(outcome, experiment)


def _print_outcome(outcome: FinalOutcome, experiment: str) -> None:
    from rich.table import Table

    from ferablate.config import CLASS_NAMES
    from ferablate.tracking import FINAL_WEIGHTS

    keys = (
        ["test", *(split.lower() for split in outcome.splits)]
        if len(outcome.splits) > 1
        else ["test"]
    )
    labels = ["all test", *outcome.splits] if len(outcome.splits) > 1 else [outcome.splits[0]]
    table = Table(
        title=f"final {outcome.trial.name}: run {outcome.run_id} in experiment '{experiment}'"
    )
    table.add_column("score")
    for label in labels:
        table.add_column(label, justify="right")
    rows = [
        ("accuracy", "accuracy"),
        ("precision (macro)", "precision"),
        ("recall (macro)", "recall"),
    ]
    rows += [(f"recall {name}", f"recall_{name}") for name in CLASS_NAMES]
    for title, metric in rows:
        cells = [outcome.metrics.get(f"{key}_{metric}") for key in keys]
        table.add_row(title, *("—" if value is None else f"{value:.3f}" for value in cells))
    console.print(table)
    console.print(
        f"weights: runs:/{outcome.run_id}/{FINAL_WEIGHTS} (torch.load(..., weights_only=True))"
    )
