"""Paired comparison of trials: the corrected resampled t-test by hand, baycomp's direction,
pairing rules, repeated k-fold, zero variance, and the errors of compare_all."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Sequence

import pytest
from scipy import stats

from ferablate import ConfigError
from ferablate.stats import TrialScores, compare, compare_all

SPLIT = ("data", "5 folds", "split seed 0")  # any hashable: equal keys mean equal folds
BASE_SCORES = [0.40, 0.42, 0.41, 0.43, 0.39]
# Every fold a little better (d = 0.03 0.02 0.01 0.04 0.01), but noisy for 5 folds.
SLIGHTLY_BETTER = [0.43, 0.44, 0.42, 0.47, 0.40]
# 5-7 points better on every fold.
CLEARLY_BETTER = [0.45, 0.48, 0.47, 0.50, 0.45]


def _trial(
    name: str,
    scores: Sequence[float],
    *,
    split: object = SPLIT,
    names: Sequence[str] | None = None,
    **fields: object,
) -> TrialScores:
    folds = names or [f"f{i}" for i in range(len(scores))]
    return TrialScores(
        variant=name,
        scores={"val_accuracy": dict(zip(folds, scores, strict=True))},
        split_key=split,
        **fields,  # type: ignore[arg-type]
    )


def test_corrected_t_equals_the_hand_computation() -> None:
    result = compare(_trial("base", BASE_SCORES), _trial("v", SLIGHTLY_BETTER))
    # d = 0.03 0.02 0.01 0.04 0.01: mean 0.022; squared deviations sum to 6.8e-4, s² = 1.7e-4.
    # n_val/n_train unknown: 1/(k - 1) = 1/4, corrected variance (1/5 + 1/4)·1.7e-4 = 7.65e-5.
    se = math.sqrt(7.65e-5)
    t = 0.022 / se  # 2.515
    p = 2 * stats.t.sf(t, 4)
    half = stats.t.ppf(0.975, 4) * se
    assert result.n == 5 and result.paired and result.note == ""
    assert result.delta == pytest.approx(0.022)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert p == pytest.approx(0.0657, abs=1e-4)
    assert (result.ci_low, result.ci_high) == pytest.approx((0.022 - half, 0.022 + half))
    # Positive on every fold, yet within the corrected noise of 5 folds.
    assert result.verdict == "no evidence"
    assert (result.p_better, result.p_equivalent, result.p_worse) == (None, None, None)


def test_corrected_t_uses_the_known_train_validation_ratio() -> None:
    # 100 validation faces against 300 training faces: the correction is 1/3, not 1/4.
    base = _trial("base", BASE_SCORES, n_train=300, n_val=100)
    result = compare(base, _trial("v", SLIGHTLY_BETTER, n_train=300, n_val=100))
    t = 0.022 / math.sqrt((1 / 5 + 1 / 3) * 1.7e-4)
    assert result.p_value == pytest.approx(2 * stats.t.sf(t, 4), rel=1e-9)


@pytest.mark.parametrize("test", ["corrected-t", "bayes"])
def test_a_clearly_better_variant_is_better(test: str) -> None:
    result = compare(_trial("base", BASE_SCORES), _trial("v", CLEARLY_BETTER), test=test)  # type: ignore[arg-type]
    assert result.verdict == "better"
    assert result.ci_low is not None and result.ci_low > 0
    if test == "corrected-t":
        assert result.p_value is not None and result.p_value < 0.05
    else:
        assert result.p_value is None
        assert result.p_better is not None and result.p_better >= 0.95


@pytest.mark.parametrize("test", ["corrected-t", "bayes"])
def test_a_clearly_worse_variant_is_worse(test: str) -> None:
    result = compare(_trial("base", CLEARLY_BETTER), _trial("v", BASE_SCORES), test=test)  # type: ignore[arg-type]
    assert result.verdict == "worse"
    assert result.delta is not None and result.delta < 0


def test_bayes_probabilities_sum_to_one_and_point_the_right_way() -> None:
    base, better = _trial("base", BASE_SCORES), _trial("v", SLIGHTLY_BETTER)
    forward = compare(base, better, test="bayes", rope=0.01)
    backward = compare(better, base, test="bayes", rope=0.01)
    for row in (forward, backward):
        assert row.p_better is not None and row.p_equivalent is not None and row.p_worse is not None
        assert row.p_better + row.p_equivalent + row.p_worse == pytest.approx(1.0)
    assert forward.p_better > forward.p_worse  # type: ignore[operator]
    assert forward.p_better == pytest.approx(backward.p_worse)
    assert forward.p_equivalent == pytest.approx(backward.p_equivalent)
    # Without a rope there is no equivalence, and P(better) is P(Δ > 0) of the same posterior.
    no_rope = compare(base, better, test="bayes", rope=0.0)
    assert no_rope.p_equivalent == 0.0
    assert no_rope.p_better is not None and no_rope.p_better > forward.p_better  # type: ignore[operator]


def test_bayes_interval_is_the_posterior_of_the_corrected_variance() -> None:
    # baycomp's correlated t-test uses the same Nadeau-Bengio correction (1/(k - 1)) and df:
    # its 95 % credible interval equals the corrected-t confidence interval.
    base, better = _trial("base", BASE_SCORES), _trial("v", SLIGHTLY_BETTER)
    frequentist = compare(base, better)
    bayes = compare(base, better, test="bayes")
    assert (bayes.ci_low, bayes.ci_high) == pytest.approx((frequentist.ci_low, frequentist.ci_high))


def test_identical_scores_are_no_evidence() -> None:
    base = _trial("base", BASE_SCORES)
    result = compare(base, _trial("seed-1", BASE_SCORES))
    assert (result.delta, result.p_value, result.ci_low, result.ci_high) == (0.0, 1.0, 0.0, 0.0)
    assert result.verdict == "no evidence" and result.note == "identical scores"
    # The Bayesian test puts all its mass on Δ = 0: inside any rope, on neither side without one.
    assert compare(base, _trial("s", BASE_SCORES), test="bayes").verdict == "equivalent"
    bayes = compare(base, _trial("s", BASE_SCORES), test="bayes", rope=0.0)
    assert bayes.verdict == "no evidence"


def test_a_constant_nonzero_difference_is_taken_at_the_limit() -> None:
    result = compare(_trial("base", [0.25, 0.5, 0.75]), _trial("v", [0.5, 0.75, 1.0]))
    assert result.p_value == 0.0 and result.verdict == "better"
    assert (result.ci_low, result.ci_high) == (0.25, 0.25)
    assert "zero variance" in result.note


def test_pairing_refuses_a_different_split() -> None:
    base = _trial("base", BASE_SCORES)
    result = compare(base, _trial("v", SLIGHTLY_BETTER, split=("other", "split")))
    paired = compare(base, _trial("v", SLIGHTLY_BETTER))
    assert not result.paired and result.note == "unpaired: different split"
    assert result.delta == pytest.approx(0.022)
    # Welch with the correction on each side: variance of each mean (1/5 + 1/4)·s²_j.
    var_base = (1 / 5 + 1 / 4) * stats.tvar(BASE_SCORES)
    var_variant = (1 / 5 + 1 / 4) * stats.tvar(SLIGHTLY_BETTER)
    df = (var_base + var_variant) ** 2 / (var_base**2 / 4 + var_variant**2 / 4)
    t = 0.022 / math.sqrt(var_base + var_variant)
    assert result.p_value == pytest.approx(2 * stats.t.sf(t, df), rel=1e-9)
    # The fold-to-fold differences between folds no longer cancel: much less evidence.
    assert result.p_value > paired.p_value  # type: ignore[operator]


def test_pairing_needs_the_same_fold_names() -> None:
    names = ["r1-f0", "r1-f1", "r1-f2", "r1-f3", "r1-f4"]
    result = compare(_trial("base", BASE_SCORES), _trial("v", SLIGHTLY_BETTER, names=names))
    assert not result.paired and result.note == "unpaired: different fold names"


def test_repeated_k_fold_uses_all_r_times_k_differences() -> None:
    names = [f"r{r}-f{f}" for r in range(3) for f in range(5)]
    base_scores = BASE_SCORES * 3
    variant_scores = SLIGHTLY_BETTER + CLEARLY_BETTER + BASE_SCORES
    base = _trial("base", base_scores, names=names)
    variant = _trial("v", variant_scores, names=names)
    result = compare(base, variant)
    differences = [v - b for b, v in zip(base_scores, variant_scores, strict=True)]
    mean = sum(differences) / 15
    # n = R·k = 15 differences, df = 14, correction n_val/n_train = 1/(k - 1) = 1/4 (k = 5).
    t = mean / math.sqrt((1 / 15 + 1 / 4) * stats.tvar(differences))
    assert result.n == 15 and result.paired
    assert result.p_value == pytest.approx(2 * stats.t.sf(t, 14), rel=1e-9)
    # baycomp told runs=3 applies the same 1/4 (with runs=1 it would be 1/14).
    bayes = compare(base, variant, test="bayes")
    assert (bayes.ci_low, bayes.ci_high) == pytest.approx((result.ci_low, result.ci_high))


def test_collapsed_folds_are_carried_into_the_note() -> None:
    base = _trial("base", BASE_SCORES, collapsed=frozenset({"f3"}))
    result = compare(base, _trial("v", CLEARLY_BETTER, collapsed=frozenset({"f1", "f0"})))
    assert result.note == "collapsed folds: variant f0, f1; baseline f3"
    assert result.verdict == "better"  # carried, not dropped: the researcher decides


def test_compare_all_compares_every_variant_with_the_baseline_in_order() -> None:
    trials = [
        _trial("base", BASE_SCORES),
        _trial("better", CLEARLY_BETTER),
        _trial("failed", [], status="failed"),
        _trial("seed-1", BASE_SCORES),
    ]
    rows = compare_all(trials)
    assert [(row.variant, row.baseline, row.verdict) for row in rows] == [
        ("better", "base", "better"),
        ("failed", "base", "no evidence"),
        ("seed-1", "base", "no evidence"),
    ]
    failed = rows[1]
    assert (failed.n, failed.delta, failed.p_value, failed.note) == (
        0,
        None,
        None,
        "no results (failed)",
    )
    against_better = compare_all(trials, "better", test="bayes")
    assert [row.variant for row in against_better] == ["base", "failed", "seed-1"]
    assert against_better[0].verdict == "worse" and against_better[0].rope == 0.01
    assert rows[0].rope is None


def test_an_unknown_baseline_names_the_variants() -> None:
    trials = [_trial("relu", BASE_SCORES), _trial("elu", CLEARLY_BETTER)]
    with pytest.raises(
        ConfigError, match=r"unknown baseline 'rel'.*did you mean 'relu'.*relu, elu"
    ):
        compare_all(trials, "rel")


def test_a_baseline_without_results_is_an_error() -> None:
    trials = [_trial("base", [], status="failed"), _trial("v", CLEARLY_BETTER)]
    with pytest.raises(ConfigError, match=r"baseline 'base'.*no results \(failed\)"):
        compare_all(trials)
    with pytest.raises(ConfigError, match=r"no val_recall scores"):
        compare_all([_trial("base", BASE_SCORES)], metric="val_recall")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"test": "wilcoxon"}, "unknown test 'wilcoxon'"),
        ({"rope": -0.01}, "rope must be >= 0"),
        ({"alpha": 1.5}, "alpha must lie between 0 and 1"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        compare(_trial("base", BASE_SCORES), _trial("v", CLEARLY_BETTER), **options)  # type: ignore[arg-type]


def test_the_stats_package_imports_neither_torch_nor_mlflow() -> None:
    # scipy.stats (about 1 s) and baycomp are imported when a test runs, not on import.
    code = (
        "import sys, ferablate.stats;"
        "print(sorted(m for m in ('torch', 'mlflow', 'scipy.stats') if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert completed.stdout.strip() == "[]"
