"""``ferablate compare``: which variants of a sweep differ from a baseline, fold by fold."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from ferablate.cli._app import app
from ferablate.cli._options import (
    Metric,
    MetricOpt,
    OutOpt,
    OverridesOpt,
    StandaloneOpt,
    SweepArg,
    TableFormat,
    TrackingUriOpt,
)

__all__ = ["compare"]


class StatTest(StrEnum):
    corrected_t = "corrected-t"
    bayes = "bayes"


@app.command()
def compare(
    sweep: SweepArg,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline", "-b", help="Variant (or trial) to compare against \\[default: the first]."
        ),
    ] = None,
    metric: MetricOpt = Metric.val_accuracy,
    test: Annotated[
        StatTest,
        typer.Option(
            "--test",
            help="corrected-t: Nadeau & Bengio's corrected resampled t-test; bayes: Bayesian correlated t-test.",
        ),
    ] = StatTest.corrected_t,
    rope: Annotated[
        float,
        typer.Option(
            "--rope", min=0.0, help="bayes: half-width of the region of practical equivalence."
        ),
    ] = 0.01,
    fmt: Annotated[
        TableFormat,
        typer.Option("--format", "-f", help="Output format: text, latex, markdown or csv."),
    ] = TableFormat.text,
    out: OutOpt = None,
    overrides: OverridesOpt = None,
    standalone: StandaloneOpt = False,
    tracking_uri: TrackingUriOpt = None,
) -> None:
    """Compare every variant of SWEEP with a baseline on per-fold scores (paired where the folds are shared)."""
    from ferablate.cli._table import emit
    from ferablate.config import load_sweep, parse_overrides
    from ferablate.tables import compare_sweep, render_sweep_comparison

    result = compare_sweep(
        load_sweep(sweep),
        parse_overrides(overrides or []),
        baseline=baseline,
        metric=metric.value,
        test=test.value,
        rope=rope,
        tracking_uri=tracking_uri,
    )
    emit(render_sweep_comparison(result, fmt.value, standalone=standalone), out)
