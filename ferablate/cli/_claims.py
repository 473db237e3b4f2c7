"""``ferablate claims``: the report's sentences (a sweep file's ``claims:``) tested on its runs."""

from __future__ import annotations

from functools import partial

from ferablate.cli._app import app
from ferablate.cli._options import (
    Adjust,
    AdjustOpt,
    FormatOpt,
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

__all__ = ["claims"]


@app.command()
def claims(
    sweep: SweepArg,
    test: StatTestOpt = StatTest("corrected-t"),
    rope: RopeOpt = 0.01,
    adjust: AdjustOpt = Adjust.holm,
    fmt: FormatOpt = TableFormat.text,
    out: OutOpt = None,
    overrides: OverridesOpt = None,
    standalone: StandaloneOpt = False,
    tracking_uri: TrackingUriOpt = None,
) -> None:
    """Test each claim of SWEEP (its 'claims:') on the runs: supported, contradicted or not shown."""
    from ferablate.cli._table import emit_sweep_result
    from ferablate.stats import StatOptions
    from ferablate.tables import check_sweep_claims, render_claims

    options = StatOptions(test.value, rope, adjust=adjust.value)
    tabulate = partial(check_sweep_claims, options=options, tracking_uri=tracking_uri)
    emit_sweep_result(
        sweep, overrides, tabulate, render_claims, fmt=fmt, out=out, standalone=standalone
    )
