"""``ferablate claims``: each sentence of the report, tested on the pair of rows it is about.

A sweep file's ``claims:`` (``config.Claim``) name a variant, the variant it is compared with
(``versus``), an expectation and a metric. Each claim becomes one :class:`ClaimRow`: the
comparison of ``variant`` against ``versus`` (``stats.compare``: paired when the two trials
share folds, else ``unpaired: different split``), its MDE, and a verdict.

Verdicts (Δ = variant − versus; "significant": the family-adjusted p < α for corrected-t; for
bayes a posterior probability ≥ 0.95, per row):

- ``better``: supported when significantly above zero, contradicted when significantly below
  (bayes: P(better) ≥ 0.95, resp. P(worse) or P(equivalent) ≥ 0.95). ``worse`` mirrors it.
- ``equivalent``: decided by the ROPE (``--rope``, half-width in metric units): supported when
  the 95 % interval lies inside ±rope, contradicted when it lies entirely outside (bayes:
  P(equivalent) ≥ 0.95, resp. P(better) or P(worse) ≥ 0.95).
- ``not-better``: supported when the interval's upper end is below +rope, or when the row is
  significantly worse; contradicted when significantly better (bayes: P(better) < 0.05,
  resp. ≥ 0.95).
- Otherwise ``not shown``, with the reason: ``too few folds to see it (MDE …)`` when the MDE
  exceeds the effect in question (the larger of |Δ| and the ROPE for better/worse: an effect
  the study could not see with 80 % power; the ROPE for equivalent/not-better), with the
  row's ``repeats_needed`` or ``more data needed``; else ``interval includes zero`` (the study
  could see an effect of that size and saw none; for equivalent/not-better ``interval reaches
  past the ROPE``), or the adjustment that undid a nominal significance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ferablate._errors import ConfigError
from ferablate.config import Claim, Sweep, expand_sweep
from ferablate.stats import (
    ADJUST_WORDS,
    BAYES_DECISION,
    MORE_DATA,
    STAT_TESTS,
    Adjustment,
    Comparison,
    StatOptions,
    TestName,
    TrialScores,
    adjust_family,
    compare,
)
from ferablate.tables._build import _slug
from ferablate.tables._compare import (
    _NUMBER_COLUMNS,
    _unsigned,
    effect_cells,
    family_sentence,
    mde_sentence,
    posterior_rows,
    records_frame,
)
from ferablate.tables._provenance import sweep_footer
from ferablate.tables._render import TableDoc, render_tables

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CLAIM_COLUMNS",
    "ClaimRow",
    "ClaimVerdict",
    "SweepClaims",
    "check_claims",
    "check_sweep_claims",
    "claims_caption",
    "claims_frame",
    "render_claims",
]

ClaimVerdict = Literal["supported", "contradicted", "not shown"]
# The claim's comparison (stats.Comparison) gives these columns, as they are named there.
_COMPARISON_FIELDS = ("n", "delta", "ci_low", "ci_high", "p_value", "p_adjusted", "mde")
CLAIM_COLUMNS = (
    "claim",
    "variant",
    "versus",
    "expect",
    "metric",
    *_COMPARISON_FIELDS,
    "verdict",
    "reason",
)


@dataclass(frozen=True)
class ClaimRow:
    """One claim and what the runs say about it."""

    claim: Claim
    comparison: Comparison  # variant (the claim's) against versus (the comparison's baseline)
    verdict: ClaimVerdict
    reason: str  # why "not shown" (empty otherwise)

    def record(self) -> dict[str, object]:
        """The CSV row: :data:`CLAIM_COLUMNS` to values (``None`` for an empty cell)."""
        return {
            "claim": self.claim.says,
            "variant": self.claim.variant,
            "versus": self.claim.versus,
            "expect": self.claim.expect,
            "metric": self.claim.metric,
            **{field: getattr(self.comparison, field) for field in _COMPARISON_FIELDS},
            "verdict": self.verdict,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class SweepClaims:
    """What ``ferablate claims`` shows: the rows, what they are, where they come from."""

    name: str  # sweep name (the LaTeX label)
    rows: list[ClaimRow]
    caption: str
    footer: str  # provenance sentences


# -- verdicts ----------------------------------------------------------------------------------


def _significant(row: Comparison) -> int:
    """+1 / −1 when the row is significantly better / worse, else 0: its verdict (read from the
    family-adjusted p or the posterior probabilities by ``stats``) unless Δ is zero."""
    return {"better": 1, "worse": -1}.get(row.verdict, 0) if row.delta else 0


def _power_words(row: Comparison) -> str:
    more = row.repeats_needed
    if more == MORE_DATA:
        return f"; {MORE_DATA}"
    return f"; {more} repeats needed" if isinstance(more, int) else ""


def _not_shown(row: Comparison, effect: float, interval_words: str, alpha: float) -> str:
    if row.mde is not None and row.mde > effect:
        return f"too few folds to see it (MDE {row.mde:.3f}{_power_words(row)})"
    if (
        not STAT_TESTS[row.test].posterior
        and row.excludes_zero
        and interval_words == "interval includes zero"
    ):
        return (
            f"p adj. {row.p_adjusted:.3f} >= {alpha:g} after {ADJUST_WORDS[row.adjust]}"
            if row.p_adjusted is not None
            else interval_words
        )
    return interval_words


def _verdict(claim: Claim, row: Comparison, rope: float, alpha: float) -> tuple[ClaimVerdict, str]:
    """The verdict of ``claim`` on its comparison (see the module docstring) and its reason."""
    if row.n == 0 or row.delta is None or row.ci_low is None or row.ci_high is None:
        return "not shown", row.note or "no results"
    sign = _significant(row)
    bayes = STAT_TESTS[row.test].posterior  # read the posterior probabilities
    if claim.expect in ("better", "worse"):
        wanted = 1 if claim.expect == "better" else -1
        if sign == wanted:
            return "supported", ""
        if sign == -wanted:
            return "contradicted", ""
        if bayes and (row.p_equivalent or 0.0) >= BAYES_DECISION:
            return "contradicted", ""
        effect = max(abs(row.delta), rope)
        return "not shown", _not_shown(row, effect, "interval includes zero", alpha)
    past = f"interval reaches past the ROPE (±{rope:g})"
    if claim.expect == "equivalent":
        if bayes:
            if (row.p_equivalent or 0.0) >= BAYES_DECISION:
                return "supported", ""
            if sign != 0:
                return "contradicted", ""
        else:
            if -rope <= row.ci_low and row.ci_high <= rope:
                return "supported", ""
            if row.ci_low > rope or row.ci_high < -rope:
                return "contradicted", ""
        return "not shown", _not_shown(row, rope, past, alpha)
    # not-better
    if bayes:
        if (row.p_better or 0.0) < 1.0 - BAYES_DECISION:
            return "supported", ""
    elif row.ci_high < rope:
        return "supported", ""
    if sign == -1:
        return "supported", ""
    if sign == 1:
        return "contradicted", ""
    return "not shown", _not_shown(row, rope, past, alpha)


def _unusable(trial: TrialScores, metric: str) -> str:
    """Why ``trial`` cannot be compared against on ``metric``."""
    if trial.status != "finished":
        return f"no results ({trial.status})"
    count = len(trial.scores.get(metric, {}))
    return f"no {metric} scores" if count == 0 else f"only {count} fold: no variance"


def check_claims(
    claims: Sequence[Claim],
    trials: Mapping[str, TrialScores],
    *,
    test: TestName = "corrected-t",
    rope: float = 0.01,
    alpha: float = 0.05,
    adjust: Adjustment = "holm",
) -> list[ClaimRow]:
    """Every claim tested on ``trials`` (variant name -> scores), the claims' p-values adjusted
    as one family (corrected-t; bayes probabilities stay per row)."""
    comparisons = []
    for claim in claims:
        for name in (claim.variant, claim.versus):
            if name not in trials:
                raise ConfigError(f"claim {claim.says!r}: no trial of variant {name!r}")
        versus, variant = trials[claim.versus], trials[claim.variant]
        try:
            row = compare(versus, variant, metric=claim.metric, test=test, rope=rope, alpha=alpha)
        except ConfigError:  # versus has no usable scores: the row says so, not an error
            row = Comparison(
                variant=claim.variant, baseline=claim.versus, metric=claim.metric, n=0,
                paired=False, verdict="no evidence", test=test, level=1.0 - alpha,
                note=f"{claim.versus!r}: {_unusable(versus, claim.metric)}",
            )  # fmt: skip
        comparisons.append(dataclasses.replace(row, variant=claim.variant))
    adjusted = adjust_family(comparisons, adjust, alpha)
    rows = []
    for claim, row in zip(claims, adjusted, strict=True):
        verdict, reason = _verdict(claim, row, rope, alpha)
        rows.append(ClaimRow(claim=claim, comparison=row, verdict=verdict, reason=reason))
    return rows


# -- from a sweep's runs ---------------------------------------------------------------------


def check_sweep_claims(
    sweep: Sweep,
    overrides: Mapping[str, Any] | None = None,
    *,
    options: StatOptions | None = None,
    tracking_uri: str | None = None,
    announce: bool = True,
) -> SweepClaims:
    """The claims of ``sweep`` tested on its stored runs by ``options`` (default
    ``StatOptions()``) under ``overrides`` (give the ones the runs had; with ``announce`` one
    warning line names the ``--set`` pairs its variants ran with otherwise). A sweep without
    claims is a :class:`ConfigError`."""
    from ferablate.tables._sweepcompare import sweep_scores

    if not sweep.claims:
        raise ConfigError(
            f"{sweep.source}: the sweep file has no 'claims:'; add claims "
            "(says, variant, versus, expect) to test them"
        )
    trials = expand_sweep(sweep, overrides)
    needed = {name for claim in sweep.claims for name in (claim.variant, claim.versus)}
    for name in sorted(needed):
        count = sum(trial.variant == name for trial in trials)
        if count > 1:
            raise ConfigError(
                f"{sweep.source}: variant {name!r} has {count} trials (a grid); "
                "claims compare variants with one trial each"
            )
    scores, origins = sweep_scores(sweep, overrides, tracking_uri=tracking_uri, announce=announce)
    by_variant = {trial.variant: score for trial, score in zip(trials, scores, strict=True)}
    options = options or StatOptions()
    rows = check_claims(
        sweep.claims, by_variant, test=options.test, rope=options.rope, alpha=options.alpha,
        adjust=options.adjust,
    )  # fmt: skip
    return SweepClaims(
        name=sweep.name,
        rows=rows,
        caption=f"{sweep.name}: {claims_caption(rows, options.rope)}",
        footer=sweep_footer(sweep, origins),
    )


# -- rendering -------------------------------------------------------------------------------


def claims_caption(rows: Sequence[ClaimRow], rope: float = 0.01) -> str:
    """What the claims table shows: Δ, test, adjustment, MDE, ROPE, verdicts."""
    if not rows:
        return "No claims"
    comparisons = [row.comparison for row in rows]
    first = comparisons[0]
    return (
        f"the report's claims tested on its rows: Δ = variant − versus, {first.level:.0%} "
        f"interval of the {STAT_TESTS[first.test].title}, paired where the two rows share folds; "
        f"{family_sentence(comparisons)}; {mde_sentence(comparisons)}; equivalent and "
        f"not-better are read against the region of practical equivalence ±{rope:g}; "
        "not shown: this study cannot tell"
    )


def _display_frame(rows: Sequence[ClaimRow]) -> pd.DataFrame:
    import pandas as pd

    posterior = posterior_rows([row.comparison for row in rows])
    records = []
    for entry in rows:
        row = entry.comparison
        notes = [entry.reason] + ([] if row.paired or row.n == 0 else [row.note])
        records.append(
            {
                "claim": entry.claim.says,
                "variant": entry.claim.variant,
                "versus": entry.claim.versus,
                "expect": entry.claim.expect,
                **effect_cells(row, posterior),
                "MDE": _unsigned(row.mde),
                "verdict": entry.verdict,
                "reason": "; ".join(filter(None, notes)),
            }
        )
    return pd.DataFrame.from_records(records)


def claims_frame(result: SweepClaims | Sequence[ClaimRow]) -> pd.DataFrame:
    """One row per claim with exactly :data:`CLAIM_COLUMNS` (numbers as floats, ``None`` for
    a value the test does not give): the CSV's frame."""
    import pandas as pd

    rows = result.rows if isinstance(result, SweepClaims) else result
    return pd.DataFrame.from_records([row.record() for row in rows], columns=list(CLAIM_COLUMNS))


def render_claims(
    result: SweepClaims,
    fmt: str = "text",
    *,
    standalone: bool = False,
    label: str | None = None,
) -> str:
    """``result`` as ``fmt`` (``TableFormat``): text or Markdown (caption above, provenance
    below), LaTeX (booktabs; caption above, provenance in a footnote-size table note, as the
    ablation and compare tables; ``standalone`` wraps it in a document) or CSV (exactly
    :data:`CLAIM_COLUMNS`)."""
    frame = _display_frame(result.rows)
    footers = [result.footer] if result.footer else []
    doc = TableDoc(
        frame=frame, caption=result.caption, label=label or f"tab:claims-{_slug(result.name)}",
        records=records_frame([row.record() for row in result.rows], CLAIM_COLUMNS),
        right=[column for column in frame.columns if column in _NUMBER_COLUMNS],
        after=footers, notes=footers,
        # LaTeX: the sentence, the reason and the trial names break into lines (names at their
        # hyphens) in a table as wide as the text block; the rest stays on one line.
        wrap={"claim": 2.0, "variant": 1.0, "versus": 1.0, "reason": 1.6},
    )  # fmt: skip
    return render_tables([doc], fmt, standalone=standalone, kind="claims")
