"""``ferablate compare``: which variants of a sweep differ from a baseline, fold by fold."""

from __future__ import annotations

from functools import partial
from typing import Annotated

import typer

from ferablate.cli._app import app
from ferablate.cli._options import (
    Adjust,
    AdjustOpt,
    FormatOpt,
    Metric,
    MetricOpt,
    OutOpt,
    OverridesOpt,
    RopeOpt,
    StandaloneOpt,
    StatTest,
    StatTestOpt,
    SweepArg,
    TableFormat,
    TrackingUriOpt,
)

__all__ = ["compare"]


@app.command()
def compare(
    sweep: SweepArg,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            "-b",
            help="Variant (or trial) to compare every row against \\[default: each variant's parent, else the first].",
        ),
    ] = None,
    metric: MetricOpt = Metric.val_accuracy,
    test: StatTestOpt = StatTest("corrected-t"),
    rope: RopeOpt = 0.01,
    adjust: AdjustOpt = Adjust.holm,
    fmt: FormatOpt = TableFormat.text,
    out: OutOpt = None,
    overrides: OverridesOpt = None,
    standalone: StandaloneOpt = False,
    tracking_uri: TrackingUriOpt = None,
) -> None:
    """Compare every variant of SWEEP with its parent (or a baseline) on per-fold scores (paired where the folds are shared)."""
    from ferablate.cli._table import emit_sweep_result
    from ferablate.stats import StatOptions
    from ferablate.tables import compare_sweep, render_sweep_comparison

    options = StatOptions(test.value, rope, adjust=adjust.value)
    tabulate = partial(
        compare_sweep, baseline=baseline, metric=metric.value, options=options,
        tracking_uri=tracking_uri,
    )  # fmt: skip
    render = render_sweep_comparison
    emit_sweep_result(sweep, overrides, tabulate, render, fmt=fmt, out=out, standalone=standalone)
