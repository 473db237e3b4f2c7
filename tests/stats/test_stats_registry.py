"""The statistical-test registry: each test compares, captions its rows and is a --test choice."""

from __future__ import annotations

import pytest

from ferablate.cli._options import StatTest
from ferablate.stats import STAT_TESTS, TrialScores, compare
from ferablate.tables import comparison_frame, render_comparisons

BASE = TrialScores(
    "base", {"val_accuracy": {f"f{i}": s for i, s in enumerate([0.40, 0.42, 0.41, 0.43])}}, "s"
)
WIDE = TrialScores(
    "wide", {"val_accuracy": {f"f{i}": s for i, s in enumerate([0.45, 0.48, 0.47, 0.50])}}, "s"
)


@pytest.mark.parametrize("name", list(STAT_TESTS))
def test_every_registered_test_compares_and_captions_its_rows(name: str) -> None:
    entry = STAT_TESTS[name]
    row = compare(BASE, WIDE, test=name)
    assert row.test == name and row.ci_low is not None and row.ci_high is not None
    assert (row.p_value is None) == entry.posterior
    assert (row.p_better is not None) == entry.posterior
    assert row.verdict == "better"
    columns = list(comparison_frame([row]).columns)
    assert ("P(better)" in columns) == entry.posterior and ("p" in columns) != entry.posterior
    assert entry.interval in render_comparisons([row], "text").splitlines()[0]
    assert StatTest(name).value == name  # offered as --test NAME
