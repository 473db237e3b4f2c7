"""Compare every variant of a sweep with a baseline, fold by fold where the folds are shared.

A :class:`Comparison` is one row of ``ferablate compare``: its fields are the CSV columns
(:data:`COMPARISON_COLUMNS`, ``None`` where the test gives no such value) plus a ``note``
that says what a reader must know about the row (unpaired, collapsed folds, zero variance).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ferablate._errors import ConfigError
from ferablate.stats._adjust import Adjustment, adjust_p_values, check_adjustment
from ferablate.stats._inference import DifferenceSummary, paired_summary, unpaired_summary
from ferablate.stats._power import RepeatsNeeded, minimum_detectable_effect, repeats_needed
from ferablate.stats._scores import FoldGrid, TrialScores, fold_grid
from ferablate.stats._stattests import STAT_TESTS, StatResult

__all__ = [
    "BAYES_DECISION",
    "COMPARISON_COLUMNS",
    "Comparison",
    "TestName",
    "Verdict",
    "adjust_family",
    "compare",
    "compare_all",
]

TestName = str  # a name in STAT_TESTS
Verdict = Literal["better", "worse", "equivalent", "no evidence"]

COMPARISON_COLUMNS = (
    "variant",
    "baseline",
    "metric",
    "n",
    "delta",
    "ci_low",
    "ci_high",
    "p_value",
    "p_better",
    "p_equivalent",
    "p_worse",
    "paired",
    "verdict",
    "mde",
    "repeats_needed",
    "p_adjusted",
)
# A Bayesian verdict needs this much posterior probability (Benavoli et al. 2017 use 0.95).
BAYES_DECISION = 0.95


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """One variant against the baseline on one metric (Δ = variant − baseline)."""

    variant: str
    baseline: str
    metric: str
    n: int  # paired folds (R·k); unpaired: folds of the trial with fewer; 0: no results
    delta: float | None = None  # mean difference
    ci_low: float | None = None  # interval of delta: confidence (corrected-t) or credible (bayes)
    ci_high: float | None = None
    p_value: float | None = None  # corrected-t only: two-sided
    p_better: float | None = None  # bayes only: P(delta > rope)
    p_equivalent: float | None = None  # bayes only: P(|delta| <= rope)
    p_worse: float | None = None  # bayes only: P(delta < -rope)
    paired: bool
    verdict: Verdict
    note: str = ""  # "unpaired: different split", "collapsed folds: variant f3", ...
    test: TestName = "corrected-t"
    level: float = 0.95  # level of the interval (1 - alpha)
    rope: float | None = None  # bayes only: half-width of the region of practical equivalence
    mde: float | None = None  # smallest |delta| seen with 80 % power at alpha (see _power)
    repeats_needed: RepeatsNeeded = None  # repeats for mde <= |delta|, or "more data needed"
    p_adjusted: float | None = None  # corrected-t only: p over the family (``adjust``)
    adjust: Adjustment = "none"  # how p_adjusted was adjusted (the verdict reads it)

    def record(self) -> dict[str, object]:
        """The CSV row: :data:`COMPARISON_COLUMNS` to values (``None`` for an empty cell)."""
        return {column: getattr(self, column) for column in COMPARISON_COLUMNS}

    @property
    def excludes_zero(self) -> bool:
        """True when the interval of delta lies entirely above or below zero."""
        if self.ci_low is None or self.ci_high is None:
            return False
        return self.ci_low > 0 or self.ci_high < 0


def _check_options(test: str, rope: float, alpha: float) -> None:
    if test not in STAT_TESTS:
        raise ConfigError(f"unknown test {test!r}; choose one of: {', '.join(STAT_TESTS)}")
    if not rope >= 0:
        raise ConfigError(f"rope must be >= 0 (a width in metric units, e.g. 0.01), got {rope}")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must lie between 0 and 1 (e.g. 0.05), got {alpha}")


def _fold_scores(trial: TrialScores, metric: str) -> tuple[dict[str, float], FoldGrid] | str:
    """The trial's usable scores of ``metric`` and their grid, or why there are none."""
    if trial.status != "finished":
        return f"no results ({trial.status})"
    scores = dict(trial.scores.get(metric, {}))
    if not scores:
        return f"no {metric} scores"
    if len(scores) < 2:
        return f"only {len(scores)} fold: no variance"
    try:
        grid = fold_grid(scores)
    except ConfigError as error:
        return str(error)
    return scores, grid


def _baseline_error(name: str, problem: str) -> ConfigError:
    return ConfigError(
        f"baseline {name!r} cannot be compared against: {problem}; "
        "run it first or choose another --baseline"
    )


def _ratio(grid: FoldGrid, *trials: TrialScores) -> float:
    """n_val / n_train of the first trial that knows both, else 1/(k − 1) (stratified k-fold)."""
    for trial in trials:
        if trial.n_train and trial.n_val:
            return trial.n_val / trial.n_train
    return 1.0 / (grid.folds - 1)


def _collapsed_note(baseline: TrialScores, variant: TrialScores) -> str:
    parts = [
        f"{role} {', '.join(sorted(trial.collapsed))}"
        for role, trial in (("variant", variant), ("baseline", baseline))
        if trial.collapsed
    ]
    return "collapsed folds: " + "; ".join(parts) if parts else ""


def _summary(
    baseline: TrialScores,
    base: tuple[dict[str, float], FoldGrid],
    variant: TrialScores,
    other: tuple[dict[str, float], FoldGrid],
) -> tuple[DifferenceSummary, str, float]:
    """Paired summary when both trials share split and folds, else unpaired with the reason;
    and the Nadeau–Bengio ratio n_val/n_train (of the baseline's side)."""
    (base_scores, base_grid), (variant_scores, variant_grid) = base, other
    if baseline.split_key == variant.split_key and set(base_scores) == set(variant_scores):
        names = base_grid.names
        ratio = _ratio(base_grid, baseline, variant)
        summary = paired_summary(
            [base_scores[name] for name in names],
            [variant_scores[name] for name in names],
            ratio,
            base_grid.repeats,
        )
        return summary, "", ratio
    reason = (
        "different split" if baseline.split_key != variant.split_key else "different fold names"
    )
    summary = unpaired_summary(
        [base_scores[name] for name in base_grid.names],
        [variant_scores[name] for name in variant_grid.names],
        _ratio(base_grid, baseline),
        _ratio(variant_grid, variant),
    )
    return summary, f"unpaired: {reason}", _ratio(base_grid, baseline)


def _row(
    variant: str, baseline: str, metric: str, test: str, rope: float, alpha: float
) -> Callable[..., Comparison]:
    """:class:`Comparison` with the fields every row of ``test`` carries; the rest to fill in."""
    return functools.partial(
        Comparison, variant=variant, baseline=baseline, metric=metric, test=test,
        level=1.0 - alpha, rope=rope if STAT_TESTS[test].posterior else None,
    )  # fmt: skip


def compare(
    baseline: TrialScores,
    variant: TrialScores,
    *,
    metric: str = "val_accuracy",
    test: TestName = "corrected-t",
    rope: float = 0.01,
    alpha: float = 0.05,
) -> Comparison:
    """``variant`` against ``baseline`` on ``metric`` (see the package docstring for the tests).

    ``rope`` (bayes only) is the half-width of the region of practical equivalence in metric
    units; ``alpha`` is the corrected-t significance level, and intervals are at 1 − alpha.
    A baseline without usable scores is a :class:`ConfigError`; a variant without them gives
    a row with ``n = 0``, no numbers and the reason in ``note``. Every row carries its MDE and
    ``repeats_needed`` (``stats._power``); alone, a row is a family of one (``p_adjusted`` is
    its p-value): :func:`compare_all` and :func:`adjust_family` adjust over many rows.
    """
    _check_options(test, rope, alpha)
    base = _fold_scores(baseline, metric)
    if isinstance(base, str):
        raise _baseline_error(baseline.variant, base)
    other = _fold_scores(variant, metric)
    collapsed = _collapsed_note(baseline, variant)
    row = _row(variant.variant, baseline.variant, metric, test, rope, alpha)
    if isinstance(other, str):
        note = "; ".join(filter(None, [other, collapsed]))
        return row(n=0, paired=False, verdict="no evidence", note=note)
    summary, pairing, ratio = _summary(baseline, base, variant, other)
    notes = [pairing, collapsed]
    if summary.var == 0.0:
        notes.append(
            "identical scores" if summary.mean == 0.0 else "zero variance: constant difference"
        )
    result = STAT_TESTS[test].run(summary, rope, 1.0 - alpha)
    return row(
        n=summary.n,
        delta=summary.mean,
        ci_low=result.ci_low,
        ci_high=result.ci_high,
        p_value=result.p_value,
        p_better=result.p_better,
        p_equivalent=result.p_equivalent,
        p_worse=result.p_worse,
        paired=summary.paired,
        verdict=_verdict(result, summary.mean, alpha),
        note="; ".join(filter(None, notes)),
        mde=minimum_detectable_effect(summary, alpha),
        repeats_needed=repeats_needed(summary, ratio, summary.mean, alpha),
        p_adjusted=result.p_value,
    )


def _verdict(result: StatResult, mean: float, alpha: float) -> Verdict:
    """better / worse when p < alpha (a p-value test), else when a posterior probability
    reaches :data:`BAYES_DECISION` (equivalent too)."""
    if result.p_value is not None:
        return _p_verdict(result.p_value, mean, alpha)
    chances: tuple[tuple[Verdict, float | None], ...] = (
        ("better", result.p_better), ("worse", result.p_worse), ("equivalent", result.p_equivalent),
    )  # fmt: skip
    return next((name for name, p in chances if (p or 0.0) >= BAYES_DECISION), "no evidence")


def _p_verdict(p_value: float, mean: float | None, alpha: float) -> Verdict:
    if p_value < alpha and mean:
        return "better" if mean > 0 else "worse"
    return "no evidence"


def adjust_family(
    comparisons: Sequence[Comparison], adjust: Adjustment = "holm", alpha: float = 0.05
) -> list[Comparison]:
    """``comparisons`` with ``p_adjusted`` over the family of their corrected-t p-values and
    the verdicts re-read from it (bayes rows are left as they are: per-row probabilities)."""
    adjusted = adjust_p_values([row.p_value for row in comparisons], adjust)
    return [
        row  # a posterior test's row: per row
        if row.p_value is None or p is None
        else dataclasses.replace(
            row, p_adjusted=p, adjust=adjust, verdict=_p_verdict(p, row.delta, alpha)
        )
        for row, p in zip(comparisons, adjusted, strict=True)
    ]


def compare_all(
    trials: Sequence[TrialScores],
    baseline: str | None = None,
    *,
    parents: Mapping[str, str] | None = None,
    metric: str = "val_accuracy",
    test: TestName = "corrected-t",
    rope: float = 0.01,
    alpha: float = 0.05,
    adjust: Adjustment = "holm",
) -> list[Comparison]:
    """Every other trial against its reference, in order, the p-values adjusted as a family.

    The reference is ``baseline`` (a variant name) for every row when given; else a trial's
    entry in ``parents`` (its declared parent), and the first trial for one without a parent.
    A baseline (given or the first trial) without usable scores is a :class:`ConfigError`; a
    parent without them gives its child a row with ``n = 0`` that says so.
    """
    _check_options(test, rope, alpha)
    check_adjustment(adjust)
    names = [trial.variant for trial in trials]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(
            f"trial names must be unique to compare, repeated: {', '.join(duplicates)}"
        )
    if not trials:
        raise ConfigError("no trials to compare")
    chosen = baseline if baseline is not None else names[0]
    if chosen not in names:
        close = difflib.get_close_matches(chosen, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown baseline {chosen!r}{hint}; choose one of: {', '.join(names)}")
    if isinstance(problem := _fold_scores(trials[names.index(chosen)], metric), str):
        raise _baseline_error(chosen, problem)
    by_name = dict(zip(names, trials, strict=True))
    lineage = {} if baseline is not None else dict(parents or {})
    unknown = sorted(parent for parent in lineage.values() if parent not in by_name)
    if unknown:
        raise ConfigError(f"unknown parent(s) {', '.join(unknown)}; trials: {', '.join(names)}")
    rows: list[Comparison] = []
    for trial in trials:
        reference = lineage.get(trial.variant, chosen)
        if reference == trial.variant:
            continue
        problem = _fold_scores(by_name[reference], metric)
        if isinstance(problem, str):
            row = _row(trial.variant, reference, metric, test, rope, alpha)
            note = f"parent {reference!r}: {problem}"
            rows.append(row(n=0, paired=False, verdict="no evidence", note=note))
            continue
        rows.append(
            compare(by_name[reference], trial, metric=metric, test=test, rope=rope, alpha=alpha)
        )
    return adjust_family(rows, adjust, alpha)
