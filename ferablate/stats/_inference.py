"""The summary of a difference both tests of ``compare`` start from (the tests: ``_stattests``).

Both tests start from the same summary of "variant minus baseline": a mean, a variance of that
mean corrected for the overlap of cross-validation training sets (Nadeau & Bengio 2003), and
degrees of freedom. ``corrected-t`` reads a Student t distribution (scipy) from it; ``bayes`` is
baycomp's correlated t-test posterior (Benavoli et al. 2017). baycomp computes its own summary
from the paired scores with the correction 1/(k − 1) (k = n / runs), which is n_val/n_train of
a stratified k-fold split up to rounding; when n_val/n_train are known and differ, the two tests
differ by that much. Unpaired, baycomp's ``Posterior`` is built on the Welch-style summary below.

Paired (same folds): the differences d_i of the n = R·k folds give mean d̄, sample variance s²
(ddof 1), corrected variance (1/n + n_val/n_train)·s², df = n − 1 (for repeated k-fold this is
the variant of Bouckaert & Frank 2004).

Unpaired (different folds): each trial's mean score gets its own corrected variance
(1/n_j + n_val_j/n_train_j)·s²_j; the difference of the means has the sum of the two as its
variance and Welch–Satterthwaite degrees of freedom (each trial contributing n_j − 1). This is
Welch's test with the Nadeau–Bengio correction applied to each side; it ignores that fold
scores of two trials on overlapping data are correlated, and is conservative for that reason.

Zero variance (every difference the same): identical scores give Δ = 0, p = 1, interval
[0, 0]; a constant nonzero difference is taken at the limit of the formula, t = ±∞, p = 0,
interval [d̄, d̄] (as scipy's and baycomp's own t-tests do), and the row says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy loads when a summary is made: the CLI reads stats.STAT_TESTS at start
    from collections.abc import Sequence

    import numpy as np

__all__ = ["DifferenceSummary", "paired_summary", "unpaired_summary"]

_TIE = 1e-12  # differences closer than this are equal: scores are fractions of a few faces


@dataclass(frozen=True)
class DifferenceSummary:
    """Mean of variant − baseline, the corrected variance of that mean, degrees of freedom."""

    mean: float
    var: float  # corrected variance of ``mean`` (0: every difference the same)
    df: float
    n: int  # paired folds; unpaired: folds of the trial with fewer
    paired: bool
    baseline: np.ndarray  # (n_b,) baseline fold scores, fold order
    variant: np.ndarray  # (n_v,) variant fold scores, fold order
    repeats: int  # R of the R x k grid (paired only; 1 otherwise)


def _corrected_mean_variance(scores: np.ndarray, ratio: float) -> float:
    """Nadeau–Bengio: (1/n + n_val/n_train)·s², the variance of a cross-validated mean."""
    import numpy as np

    if np.ptp(scores) <= _TIE:
        return 0.0
    return (1.0 / len(scores) + ratio) * float(np.var(scores, ddof=1))


def paired_summary(
    baseline: Sequence[float], variant: Sequence[float], ratio: float, repeats: int = 1
) -> DifferenceSummary:
    """Summary of the per-fold differences (``baseline[i]`` and ``variant[i]`` share a fold)."""
    import numpy as np

    base, var_scores = np.asarray(baseline, dtype=float), np.asarray(variant, dtype=float)
    differences = var_scores - base
    mean = float(np.mean(differences))
    if np.all(np.abs(differences) <= _TIE):
        mean = 0.0
    return DifferenceSummary(
        mean=mean, var=_corrected_mean_variance(differences, ratio),
        df=float(len(differences) - 1), n=len(differences), paired=True, baseline=base,
        variant=var_scores, repeats=repeats,
    )  # fmt: skip


def unpaired_summary(
    baseline: Sequence[float],
    variant: Sequence[float],
    baseline_ratio: float,
    variant_ratio: float,
) -> DifferenceSummary:
    """Welch-style summary of two trials scored on different folds (see the module docstring)."""
    import numpy as np

    base, var_scores = np.asarray(baseline, dtype=float), np.asarray(variant, dtype=float)
    var_base = _corrected_mean_variance(base, baseline_ratio)
    var_variant = _corrected_mean_variance(var_scores, variant_ratio)
    total = var_base + var_variant
    if total > 0:
        df = total**2 / (var_base**2 / (len(base) - 1) + var_variant**2 / (len(var_scores) - 1))
    else:
        df = float(len(base) + len(var_scores) - 2)
    mean = float(np.mean(var_scores) - np.mean(base))
    return DifferenceSummary(
        mean=0.0 if abs(mean) <= _TIE else mean, var=total, df=float(df),
        n=min(len(base), len(var_scores)), paired=False, baseline=base, variant=var_scores,
        repeats=1,
    )  # fmt: skip
