"""``ferablate claims``: the report's sentences (a sweep file's ``claims:``) tested on its runs."""

from __future__ import annotations

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
    test: StatTestOpt = StatTest.corrected_t,
    rope: RopeOpt = 0.01,
    adjust: AdjustOpt = Adjust.holm,
    fmt: FormatOpt = TableFormat.text,
    out: OutOpt = None,
    overrides: OverridesOpt = None,
    standalone: StandaloneOpt = False,
    tracking_uri: TrackingUriOpt = None,
) -> None:
    """Test each claim of SWEEP (its 'claims:') on the runs: supported, contradicted or not shown."""
    from ferablate.cli._table import emit
    from ferablate.config import load_sweep, parse_overrides
    from ferablate.tables import check_sweep_claims, render_claims

    result = check_sweep_claims(
        load_sweep(sweep),
        parse_overrides(overrides or []),
        test=test.value,
        rope=rope,
        adjust=adjust.value,
        tracking_uri=tracking_uri,
    )
    emit(render_claims(result, fmt.value, standalone=standalone), out)
