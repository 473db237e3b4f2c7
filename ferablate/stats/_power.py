"""Statistical power: the smallest effect a comparison could have seen, and what would help.

The minimum detectable effect (MDE) of a two-sided test at level α with power 1 − β, on the
corrected variance of the mean difference (Nadeau & Bengio 2003, see ``_inference``):

    se  = √((1/n + n_val/n_train) · s²)          (the summary's ``var`` is se²)
    MDE = (t_{1−α/2, df} + t_{1−β, df}) · se      (α = 0.05, 1 − β = 0.8: t₀.₉₇₅ + t₀.₈)

with scipy's Student-t quantiles and the summary's df (n − 1 paired; Welch–Satterthwaite
unpaired). The correction term n_val/n_train does not shrink with more repeats: with R'
repeats of the same k folds, se² = (1/(R'·k) + n_val/n_train) · s², which tends to the floor
(n_val/n_train) · s² as R' grows. :func:`repeats_needed` says how many repeats bring the MDE
to or below an effect, or :data:`MORE_DATA` when even the floor (normal quantiles, R' → ∞)
cannot: then only more data (a larger n_train relative to n_val, or less noisy folds) helps.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:  # numpy: on first use (the CLI reads stats.STAT_TESTS at start)
    import numpy as np

    from ferablate.stats._inference import DifferenceSummary

__all__ = ["MORE_DATA", "POWER", "RepeatsNeeded", "minimum_detectable_effect", "repeats_needed"]

POWER = 0.8  # 1 − β of the MDE
MORE_DATA: Final = "more data needed"
_MAX_REPEATS = 100_000  # beyond this many repeats the floor is reached for any practical use

RepeatsNeeded = int | Literal["more data needed"] | None


def _quantiles(alpha: float, power: float, df: float | np.ndarray) -> float | np.ndarray:
    from scipy import stats  # deferred: scipy.stats takes ~1 s to import

    return stats.t.ppf(1.0 - alpha / 2.0, df) + stats.t.ppf(power, df)


def minimum_detectable_effect(
    summary: DifferenceSummary, alpha: float = 0.05, power: float = POWER
) -> float:
    """(t_{1−α/2,df} + t_{power,df}) · √var: the smallest |Δ| seen with ``power`` at ``alpha``."""
    if summary.var == 0.0:
        return 0.0
    return float(_quantiles(alpha, power, summary.df)) * math.sqrt(summary.var)


def repeats_needed(
    summary: DifferenceSummary,
    ratio: float,
    effect: float,
    alpha: float = 0.05,
    power: float = POWER,
) -> RepeatsNeeded:
    """The fewest repeats R' of the k-fold split with MDE ≤ |``effect``|, or
    :data:`MORE_DATA` when the correction floor alone exceeds it.

    Paired rows only (``None`` for an unpaired one, or a zero variance: nothing to estimate).
    ``ratio`` is n_val/n_train, the Nadeau–Bengio correction the summary was built with.
    """
    if not summary.paired or summary.var == 0.0 or summary.n < 2:
        return None
    import numpy as np
    from scipy import stats

    effect = abs(effect)
    s2 = summary.var / (1.0 / summary.n + ratio)  # the sample variance of the differences
    folds = max(1, summary.n // max(1, summary.repeats))  # k
    floor = (stats.norm.ppf(1.0 - alpha / 2.0) + stats.norm.ppf(power)) * math.sqrt(ratio * s2)
    if effect == 0.0 or floor >= effect:
        return MORE_DATA
    repeats = np.arange(1, _MAX_REPEATS + 1)
    n = repeats * folds
    mde = _quantiles(alpha, power, n - 1) * np.sqrt((1.0 / n + ratio) * s2)
    reached = np.flatnonzero(mde <= effect)
    return int(repeats[reached[0]]) if reached.size else MORE_DATA
