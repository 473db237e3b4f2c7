"""``ferablate final``: train a final model on all of Training, score the test splits."""

from __future__ import annotations

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
    from ferablate.runner import FinalOutcome

__all__ = ["final"]


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
    from ferablate.runner import DataCache, check_final, final_trial, run_final

    patch: dict[str, object] = dict(parse_overrides(overrides or []))
    if epochs is not None:
        patch["train.epochs"] = epochs
    trial, experiment = final_trial(target, variant, patch)

    from ferablate.cli._progress import sweep_progress
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

    several = len(outcome.splits) > 1
    keys = ["test", *(split.lower() for split in outcome.splits)] if several else ["test"]
    labels = ["all test", *outcome.splits] if several else [outcome.splits[0]]
    table = Table(
        title=f"final {outcome.trial.name}: run {outcome.run_id} in experiment '{experiment}'"
    )
    table.add_column("score")
    for label in labels:
        table.add_column(label, justify="right")
    rows = [("accuracy", "accuracy"), ("precision (macro)", "precision")]
    rows += [("recall (macro)", "recall"), *((f"recall {c}", f"recall_{c}") for c in CLASS_NAMES)]
    for title, metric in rows:
        cells = [outcome.metrics.get(f"{key}_{metric}") for key in keys]
        table.add_row(title, *("—" if value is None else f"{value:.3f}" for value in cells))
    console.print(table)
    console.print(
        f"weights: runs:/{outcome.run_id}/{FINAL_WEIGHTS} (torch.load(..., weights_only=True))"
    )
