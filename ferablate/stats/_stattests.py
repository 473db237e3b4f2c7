"""The statistical tests of ``compare`` and ``claims``: one registry entry each.

An entry (:class:`StatTest`) holds the test's function (a :class:`DifferenceSummary`, the rope
and the interval level to a :class:`StatResult`), its ``--test`` name and the words captions
and the CLI use for it. A test gives a p-value (adjusted over a table's rows as one family) or,
``posterior``, P(worse), P(equivalent) and P(better) against the rope (per row, no family).
Light to import (scipy and baycomp load when a test runs): the CLI reads the names at start.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ferablate.stats._adjust import Adjustment
from ferablate.stats._inference import _TIE

if TYPE_CHECKING:
    from ferablate.stats._inference import DifferenceSummary

__all__ = ["STAT_TESTS", "StatOptions", "StatResult", "StatTest", "register_stat_test"]


@dataclass(frozen=True, kw_only=True)
class StatResult:
    """A test's interval of the mean difference and its p-value or posterior probabilities."""

    ci_low: float
    ci_high: float
    p_value: float | None = None
    p_worse: float | None = None
    p_equivalent: float | None = None
    p_better: float | None = None


TestFunction = Callable[["DifferenceSummary", float, float], StatResult]  # (summary, rope, level)


@dataclass(frozen=True)
class StatTest:
    name: str  # the --test value and ``Comparison.test``
    run: TestFunction
    title: str  # the claims caption: "… interval of the <title>"
    interval: str  # the compare caption and the Δ sentence: "95% <interval>"
    help: str  # the --test help
    posterior: bool  # P(worse/equiv./better) per row instead of a p-value


@dataclass(frozen=True)
class StatOptions:
    """How a table's rows are tested: the test (a name in :data:`STAT_TESTS`), the rope
    (metric units), alpha and the family adjustment; the CLI builds it once."""

    test: str = "corrected-t"
    rope: float = 0.01
    alpha: float = 0.05
    adjust: Adjustment = "holm"


STAT_TESTS: dict[str, StatTest] = {}


def register_stat_test(
    name: str, *, title: str, interval: str, help: str, posterior: bool = False
) -> Callable[[TestFunction], TestFunction]:
    """Register the decorated function in :data:`STAT_TESTS` as ``--test name``."""

    def register(run: TestFunction) -> TestFunction:
        STAT_TESTS[name] = StatTest(name, run, title, interval, help, posterior)
        return run

    return register


@register_stat_test(
    "corrected-t",
    title="corrected resampled t-test (Nadeau & Bengio 2003)",
    interval="interval from the corrected resampled t-test (Nadeau & Bengio 2003)",
    help="Nadeau & Bengio's corrected resampled t-test",
)
def corrected_t_test(summary: DifferenceSummary, rope: float, level: float) -> StatResult:
    """Two-sided p and the ``level`` confidence interval of the mean difference (scipy's t)."""
    from scipy import stats  # deferred: scipy.stats takes ~1 s to import

    if summary.var == 0.0:
        low = high = summary.mean
        return StatResult(p_value=1.0 if summary.mean == 0.0 else 0.0, ci_low=low, ci_high=high)
    scale = math.sqrt(summary.var)
    t = summary.mean / scale
    p_value = float(2.0 * stats.t.sf(abs(t), summary.df))
    low, high = stats.t.interval(level, summary.df, loc=summary.mean, scale=scale)
    return StatResult(p_value=p_value, ci_low=float(low), ci_high=float(high))


def _posterior(summary: DifferenceSummary, rope: float) -> Any:
    """baycomp's posterior of the mean difference (variant − baseline)."""
    import baycomp  # deferred with scipy
    import numpy as np
    from baycomp.single import Posterior

    if summary.paired:
        # baycomp takes differences as y − x: x = baseline, y = variant makes "right" = better.
        return baycomp.CorrelatedTTest(
            summary.baseline, summary.variant, rope=rope, runs=summary.repeats
        )
    # No pairing: baycomp's posterior object built on the Welch-style summary.
    means = float(np.mean(summary.baseline)), float(np.mean(summary.variant))
    return Posterior(summary.mean, summary.var, summary.df, rope, *means)


@register_stat_test(
    "bayes",
    title="Bayesian correlated t-test (Benavoli et al. 2017)",
    interval="credible interval of the Bayesian correlated t-test (Benavoli et al. 2017)",
    help="Bayesian correlated t-test",
    posterior=True,
)
def bayes_test(summary: DifferenceSummary, rope: float, level: float) -> StatResult:
    """P(worse), P(equivalent), P(better) for ``rope`` and the ``level`` credible interval."""
    from scipy import stats

    posterior = _posterior(summary, rope)
    probabilities = posterior.probs()
    if rope > 0:
        p_worse, p_equivalent, p_better = (float(p) for p in probabilities)
    else:  # baycomp returns (left, right) without a rope
        p_worse, p_better = (float(p) for p in probabilities)
        p_equivalent = 0.0
    if posterior.var <= _TIE**2:
        low = high = float(posterior.mean)
    else:
        low, high = stats.t.interval(
            level, posterior.df, loc=posterior.mean, scale=math.sqrt(posterior.var)
        )
    return StatResult(
        p_worse=p_worse, p_equivalent=p_equivalent, p_better=p_better, ci_low=float(low),
        ci_high=float(high),
    )  # fmt: skip
