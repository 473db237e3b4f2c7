"""Statistics layer: which ablation rows actually changed something (pure; no torch, no MLflow).

Input: one :class:`TrialScores` per trial (per-fold last-epoch metrics and the key of the fold
split they were scored on, :func:`split_key`). Output: one :class:`Comparison` per variant
against a baseline (:func:`compare`, :func:`compare_all`), Δ = variant − baseline.

The tests are the entries of :data:`STAT_TESTS` (``_stattests``; ``register_stat_test`` adds one):

- ``corrected-t`` (default): the corrected resampled t-test of Nadeau & Bengio (2003), variance
  of the per-fold differences inflated by n_val/n_train, df = n − 1; over all R·k differences
  for repeated k-fold (Bouckaert & Frank 2004). Verdict ``better``/``worse`` when p < alpha.
- ``bayes``: the Bayesian correlated t-test of Benavoli et al. (2017), baycomp's
  ``CorrelatedTTest``, with a region of practical equivalence ``rope``: P(worse),
  P(equivalent), P(better); a verdict when one of them reaches 0.95.

Every row carries its minimum detectable effect (``mde``: the smallest |Δ| the corrected-t
test sees with 80 % power at alpha) and ``repeats_needed`` (repeats of the k-fold split that
would bring the MDE to |Δ|, or ``more data needed`` when the Nadeau–Bengio floor alone exceeds
it), see ``_power``. :func:`compare_all` treats its rows as one family: ``p_adjusted`` by
Holm's step-down (default) or Benjamini–Hochberg (statsmodels), and the verdict reads it.

Folds are paired only when both trials have the same split key and fold names; otherwise the
row is unpaired (Welch-style, see ``_inference``) and its note says ``unpaired: different split``.
"""

from __future__ import annotations

from ferablate.stats._adjust import ADJUST_WORDS, Adjustment, adjust_p_values
from ferablate.stats._compare import (
    BAYES_DECISION,
    COMPARISON_COLUMNS,
    Comparison,
    TestName,
    Verdict,
    adjust_family,
    compare,
    compare_all,
)
from ferablate.stats._inference import DifferenceSummary, paired_summary, unpaired_summary
from ferablate.stats._power import (
    MORE_DATA,
    POWER,
    RepeatsNeeded,
    minimum_detectable_effect,
    repeats_needed,
)
from ferablate.stats._scores import FoldGrid, TrialScores, fold_grid, split_key
from ferablate.stats._stattests import STAT_TESTS, StatOptions, StatTest, register_stat_test

__all__ = [
    "ADJUST_WORDS",
    "BAYES_DECISION",
    "COMPARISON_COLUMNS",
    "MORE_DATA",
    "POWER",
    "STAT_TESTS",
    "Adjustment",
    "Comparison",
    "DifferenceSummary",
    "FoldGrid",
    "RepeatsNeeded",
    "StatOptions",
    "StatTest",
    "TestName",
    "TrialScores",
    "Verdict",
    "adjust_family",
    "adjust_p_values",
    "compare",
    "compare_all",
    "fold_grid",
    "minimum_detectable_effect",
    "paired_summary",
    "register_stat_test",
    "repeats_needed",
    "split_key",
    "unpaired_summary",
]
