"""The format registry: every registered format renders every kind of table (a new one too)."""

from __future__ import annotations

import pandas as pd
import pytest

from ferablate.config import Claim
from ferablate.stats import STAT_TESTS, TrialScores, compare_all
from ferablate.tables import (
    RENDERERS,
    AblationTable,
    SweepClaims,
    SweepComparison,
    TableFormat,
    check_claims,
    render_ablation,
    render_claims,
    render_sweep_comparison,
)

SCORES = {"base": [0.40, 0.42, 0.41, 0.43], "wide": [0.45, 0.48, 0.47, 0.50]}
TRIALS = {
    name: TrialScores(name, {"val_accuracy": {f"f{i}": s for i, s in enumerate(scores)}}, "split")
    for name, scores in SCORES.items()
}
ABLATION = AblationTable(
    frame=pd.DataFrame({"variant": ["base_1"], "acc.": ["0.41"]}),
    family="sequential",
    caption="Tiny & co",
    label="tab:tiny",
    names=("base_1",),
    statuses=("finished",),
    footer="Data: x_y.",
)


def _rendered(fmt: TableFormat, test: str) -> dict[str, str]:
    comparisons = compare_all(list(TRIALS.values()), "base", test=test)
    claim = Claim(says="wide is better", variant="wide", versus="base", expect="better")
    claims = SweepClaims(
        "tiny", check_claims([claim], TRIALS, test=test), "tiny: claims", "Data: x."
    )
    return {
        "table": render_ablation([ABLATION], fmt),
        "compare": render_sweep_comparison(
            SweepComparison("tiny", comparisons, "cap", "Data: x."), fmt
        ),
        "claims": render_claims(claims, fmt, standalone=True),
    }


def test_every_enum_member_has_one_renderer() -> None:
    assert set(RENDERERS) == set(TableFormat)


@pytest.mark.parametrize("test", list(STAT_TESTS))
@pytest.mark.parametrize("fmt", list(RENDERERS))
def test_every_format_renders_the_table_compare_and_claims_tables(
    fmt: TableFormat, test: str
) -> None:
    for kind, text in _rendered(fmt, test).items():
        assert text.strip(), (kind, fmt)
        assert ("base" if kind == "table" else "wide") in text, (kind, fmt)


def test_an_unknown_format_is_one_line_naming_the_formats() -> None:
    with pytest.raises(ValueError, match=r"unknown table format 'xml'; choose one of: text, "):
        render_ablation([ABLATION], "xml")
