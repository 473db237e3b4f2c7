"""MDE and repeats_needed by hand; Holm and Benjamini–Hochberg equal the libraries' own."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from ferablate import ConfigError
from ferablate.stats import (
    MORE_DATA,
    TrialScores,
    adjust_p_values,
    compare,
    compare_all,
    minimum_detectable_effect,
    paired_summary,
    repeats_needed,
)

SPLIT = ("data", "5 folds", "split seed 0")
BASE = [0.40, 0.42, 0.41, 0.43, 0.39]
SLIGHTLY_BETTER = [0.43, 0.44, 0.42, 0.47, 0.40]  # d = .03 .02 .01 .04 .01: s² = 1.7e-4
CLEARLY_BETTER = [0.45, 0.48, 0.47, 0.50, 0.45]
NOMINALLY_BETTER = [0.44, 0.44, 0.42, 0.47, 0.41]  # p = 0.045: p < 0.05 before adjustment
NOISE = [0.41, 0.42, 0.40, 0.44, 0.39]  # d = .01 0 -.01 .01 0: Δ = 0.002


def _trial(name: str, scores: Sequence[float], split: object = SPLIT) -> TrialScores:
    folds = {f"f{i}": score for i, score in enumerate(scores)}
    return TrialScores(variant=name, scores={"val_accuracy": folds}, split_key=split)


def test_mde_equals_the_hand_computation() -> None:
    row = compare(_trial("base", BASE), _trial("v", SLIGHTLY_BETTER))
    # s² = 1.7e-4 (see test_stats_compare); n = 5, n_val/n_train = 1/(k − 1) = 1/4:
    # se = √((1/5 + 1/4)·1.7e-4) = 0.0087464; MDE = (t₀.₉₇₅,₄ + t₀.₈,₄)·se.
    se = math.sqrt((1 / 5 + 1 / 4) * 1.7e-4)
    by_hand = (2.776445 + 0.940965) * se  # the two t quantiles, from a table
    assert row.mde == pytest.approx(by_hand, rel=1e-5)
    assert row.mde == pytest.approx(0.032514, abs=1e-6)
    assert row.mde == pytest.approx((stats.t.ppf(0.975, 4) + stats.t.ppf(0.8, 4)) * se)


def test_mde_uses_the_known_ratio_and_alpha() -> None:
    base, variant = _trial("base", BASE), _trial("v", SLIGHTLY_BETTER)
    known = TrialScores("v", variant.scores, SPLIT, n_train=800, n_val=100)  # ratio 1/8
    se = math.sqrt((1 / 5 + 1 / 8) * 1.7e-4)
    row = compare(base, known)
    assert row.mde == pytest.approx((stats.t.ppf(0.975, 4) + stats.t.ppf(0.8, 4)) * se)
    strict = compare(base, variant, alpha=0.01)
    assert strict.mde is not None and row.mde is not None and strict.mde > row.mde


def test_repeats_needed_is_the_first_number_of_repeats_with_mde_at_most_delta() -> None:
    row = compare(_trial("base", BASE), _trial("v", SLIGHTLY_BETTER))
    assert row.repeats_needed == 4
    # by hand: R repeats of 5 folds, n = 5R, MDE(R) = (t₀.₉₇₅ + t₀.₈, df 5R − 1)·√((1/5R + 1/4)s²)
    mdes = [
        (stats.t.ppf(0.975, 5 * r - 1) + stats.t.ppf(0.8, 5 * r - 1))
        * math.sqrt((1 / (5 * r) + 0.25) * 1.7e-4)
        for r in (1, 2, 3, 4)
    ]
    assert mdes[2] > 0.022 >= mdes[3]  # 0.0221 at three repeats, 0.0211 at four


def test_more_data_needed_when_the_floor_alone_exceeds_delta() -> None:
    row = compare(_trial("base", BASE), _trial("v", NOISE))
    # floor: (z₀.₉₇₅ + z₀.₈)·√(¼·s²) with s² of d = .01 0 −.01 .01 0 is 0.0136 > |Δ| = 0.002
    s2 = float(np.var([0.01, 0.0, -0.01, 0.01, 0.0], ddof=1))
    floor = (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * math.sqrt(0.25 * s2)
    assert row.delta is not None and floor > abs(row.delta)
    assert row.repeats_needed == MORE_DATA
    # a larger effect of the same noise needs only a few repeats
    summary = paired_summary(BASE, NOISE, 0.25)
    assert repeats_needed(summary, 0.25, floor * 1.1) not in (None, MORE_DATA)
    assert repeats_needed(summary, 0.25, floor * 0.99) == MORE_DATA
    assert minimum_detectable_effect(summary) > floor


def test_unpaired_rows_have_an_mde_but_no_repeats() -> None:
    row = compare(_trial("base", BASE), _trial("v", CLEARLY_BETTER, split="other"))
    assert not row.paired and row.mde is not None and row.mde > 0
    assert row.repeats_needed is None


@pytest.mark.parametrize(("adjust", "method"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_adjustment_equals_statsmodels_on_fixed_p_values(adjust: str, method: str) -> None:
    p = [0.001, 0.04, 0.03, 0.2, 0.012, 0.5]
    expected = multipletests(p, method=method)[1]
    assert adjust_p_values(p, adjust) == pytest.approx(list(expected))  # type: ignore[arg-type]
    if adjust == "bh":  # and scipy's own Benjamini–Hochberg
        assert adjust_p_values(p, "bh") == pytest.approx(list(stats.false_discovery_control(p)))
    if adjust == "holm":  # by hand: sorted p·(m − rank), running maximum, capped at 1
        assert adjust_p_values(p, "holm") == pytest.approx([0.006, 0.12, 0.12, 0.4, 0.06, 0.5])


def test_none_entries_are_outside_the_family_and_none_adjusts_nothing() -> None:
    assert adjust_p_values([0.01, None, 0.04], "holm") == pytest.approx([0.02, None, 0.04])
    assert adjust_p_values([0.01, 0.04], "none") == [0.01, 0.04]
    with pytest.raises(ConfigError, match="unknown adjustment 'bonferoni'"):
        adjust_p_values([0.01], "bonferoni")  # type: ignore[arg-type]


def test_compare_all_adjusts_the_family_and_the_verdict_reads_the_adjusted_p() -> None:
    trials = [
        _trial("base", BASE),
        _trial("clear", CLEARLY_BETTER),
        _trial("nominal", NOMINALLY_BETTER),
        _trial("slight", SLIGHTLY_BETTER),
    ]
    unadjusted = {row.variant: row for row in compare_all(trials, adjust="none")}
    assert unadjusted["nominal"].verdict == "better"  # p = 0.045 < 0.05 alone
    for adjust, method in (("holm", "holm"), ("bh", "fdr_bh")):
        rows = compare_all(trials, adjust=adjust)  # type: ignore[arg-type]
        p = [row.p_value for row in rows]
        assert [row.p_adjusted for row in rows] == pytest.approx(
            list(multipletests(p, method=method)[1])
        )
        verdicts = {row.variant: row.verdict for row in rows}
        assert verdicts["clear"] == "better"
        assert verdicts["nominal"] == "no evidence"  # 0.045 → 0.09 (Holm), 0.0675 (BH)
        assert all(row.adjust == adjust for row in rows)


def test_bayes_rows_stay_unadjusted() -> None:
    trials = [_trial("base", BASE), _trial("clear", CLEARLY_BETTER), _trial("s", NOISE)]
    rows = compare_all(trials, test="bayes")
    assert all(row.p_adjusted is None and row.adjust == "none" for row in rows)
    assert all(row.mde is not None for row in rows)


def test_compare_all_picks_each_trials_parent() -> None:
    trials = [
        _trial("base", BASE),
        _trial("child", SLIGHTLY_BETTER),
        _trial("grandchild", CLEARLY_BETTER),
        _trial("orphan", NOISE),
    ]
    parents = {"child": "base", "grandchild": "child"}
    rows = compare_all(trials, parents=parents)
    assert [(row.variant, row.baseline) for row in rows] == [
        ("child", "base"),
        ("grandchild", "child"),
        ("orphan", "base"),  # no parent: the first trial, as without lineage
    ]
    assert rows[1].delta == pytest.approx(0.038)  # CLEARLY − SLIGHTLY, not − BASE
    # --baseline overrides the lineage: every row against it
    fixed = compare_all(trials, "child", parents=parents)
    assert {row.baseline for row in fixed} == {"child"}
    # a parent without results gives its child a row that says so
    failed = [trials[0], TrialScores("child", {}, None, status="failed"), trials[2]]
    rows = compare_all(failed, parents=parents)
    assert rows[1].n == 0 and "parent 'child': no results (failed)" in rows[1].note
