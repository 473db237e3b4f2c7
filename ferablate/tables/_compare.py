"""Render comparisons of trials (``ferablate compare``) and the Δ column of ``table --vs``.

Pure rendering of :class:`ferablate.stats.Comparison` rows: plain text, Markdown, LaTeX
(through the same booktabs path as the appendix tables) and CSV with exactly
:data:`ferablate.stats.COMPARISON_COLUMNS` (empty cells where a test gives no value).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ferablate.stats import (
    ADJUST_WORDS,
    COMPARISON_COLUMNS,
    MORE_DATA,
    POWER,
    STAT_TESTS,
    Comparison,
)
from ferablate.tables._build import AblationTable
from ferablate.tables._render import TableDoc, render_tables

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "EXCLUDES_ZERO_MARK",
    "add_delta_column",
    "comparison_caption",
    "comparison_doc",
    "comparison_frame",
    "delta_caption",
    "effect_cells",
    "family_sentence",
    "mde_sentence",
    "posterior_rows",
    "records_frame",
    "render_comparisons",
]

EXCLUDES_ZERO_MARK = "†"  # on a Δ whose interval lies entirely on one side of zero
_UNPAIRED_MARK = " (u)"
_METRIC_WORDS = {
    "val_accuracy": "validation accuracy",
    "val_precision": "validation precision (macro)",
    "val_recall": "validation recall (macro)",
}
_NUMBER_COLUMNS = (
    "n", "Δ", "interval", "p", "p adj.", "P(worse)", "P(equiv.)", "P(better)", "MDE",
)  # fmt: skip
# LaTeX: the columns that break into lines (names at their hyphens), with their relative
# widths, so a comparison table with long trial names or notes fits the text block.
_WRAP = {"variant": 1.2, "vs": 1.2, "note": 1.0}


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.3f}"


def _probability(value: float | None) -> str:
    if value is None:
        return "—"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _interval(row: Comparison) -> str:
    if row.ci_low is None or row.ci_high is None:
        return "—"
    return f"[{row.ci_low:+.3f}, {row.ci_high:+.3f}]"


def _unsigned(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _power_note(row: Comparison) -> str:
    """What more would show |Δ|: ``repeats needed: 4`` or ``more data needed`` (or "")."""
    if row.repeats_needed is None or row.delta is None:
        return ""
    if row.repeats_needed == MORE_DATA:
        return MORE_DATA
    return f"repeats needed: {row.repeats_needed}"


def posterior_rows(comparisons: Sequence[Comparison]) -> bool:
    """Whether the rows' test gives posterior probabilities (columns P(…)) instead of p."""
    return any(STAT_TESTS[row.test].posterior for row in comparisons)


def effect_cells(row: Comparison, posterior: bool) -> dict[str, str]:
    """A comparison row's n, Δ, interval and p (adjusted too) or the three posterior
    probabilities, as display cells: the shared middle of the compare and claims tables."""
    cells = {"n": str(row.n), "Δ": _signed(row.delta), "interval": _interval(row)}
    if posterior:
        return cells | {
            "P(worse)": _probability(row.p_worse),
            "P(equiv.)": _probability(row.p_equivalent),
            "P(better)": _probability(row.p_better),
        }
    return cells | {"p": _probability(row.p_value), "p adj.": _probability(row.p_adjusted)}


def comparison_frame(comparisons: Sequence[Comparison]) -> pd.DataFrame:
    """One row per comparison, str cells; p-value (and adjusted p) or the three probabilities
    per the test; the MDE; the row's reference when the rows do not share one."""
    import pandas as pd  # deferred: the CLI imports this module on demand only

    posterior = posterior_rows(comparisons)
    lineage = len({row.baseline for row in comparisons}) > 1
    records = [
        {
            "variant": row.variant,
            **({"vs": row.baseline} if lineage else {}),
            **effect_cells(row, posterior),
            "MDE": _unsigned(row.mde),
            "paired": "yes" if row.paired else "no",
            "verdict": row.verdict,
            "note": "; ".join(filter(None, [row.note, _power_note(row)])),
        }
        for row in comparisons
    ]
    columns = ["variant", *(["vs"] if lineage else []), "n", "Δ", "interval"]
    columns += ["P(worse)", "P(equiv.)", "P(better)"] if posterior else ["p", "p adj."]
    return pd.DataFrame.from_records(
        records, columns=[*columns, "MDE", "paired", "verdict", "note"]
    )


def _how_tested(comparisons: Sequence[Comparison]) -> str:
    """Interval level, test and paired folds: "95% interval from the … over 5 paired folds"."""
    first = comparisons[0]
    how = f"{first.level:.0%} {STAT_TESTS[first.test].interval}"
    counts = sorted({row.n for row in comparisons if row.paired})
    if not counts:
        return how
    span = str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    return f"{how} over {span} paired folds"


def family_sentence(comparisons: Sequence[Comparison]) -> str:
    """How the rows' p-values were adjusted as a family, or that posterior rows are per row."""
    if not comparisons:
        return ""
    if STAT_TESTS[comparisons[0].test].posterior:
        return "probabilities are per row, not adjusted for the family"
    counted = [row for row in comparisons if row.p_value is not None]
    adjust = next((row.adjust for row in counted), "none")
    if adjust == "none" or len(counted) < 2:
        return "p not adjusted for the family" if len(counted) > 1 else "p of a single row"
    return f"p adj.: {ADJUST_WORDS[adjust]} over the {len(counted)} rows; verdicts read p adj."


def mde_sentence(comparisons: Sequence[Comparison]) -> str:
    """What the MDE column is."""
    level = comparisons[0].level if comparisons else 0.95
    return (
        f"MDE: the smallest |Δ| the corrected t-test sees with {POWER:.0%} power "
        f"at the {1 - level:.0%} level"
    )


def comparison_caption(comparisons: Sequence[Comparison]) -> str:
    """What the comparison table shows: metric, reference, test, interval level, rope,
    adjustment, MDE."""
    if not comparisons:
        return "No variants to compare"
    first = comparisons[0]
    lineage = len({row.baseline for row in comparisons}) > 1
    reference = "its parent (column vs)" if lineage else first.baseline
    what = f"{_METRIC_WORDS.get(first.metric, first.metric)}: Δ = variant − {reference}"
    caption = f"{what}, {_how_tested(comparisons)}"
    if STAT_TESTS[first.test].posterior:
        caption += f"; P(equiv.): Δ within ±{first.rope:g}, the region of practical equivalence"
    return f"{caption}; {family_sentence(comparisons)}; {mde_sentence(comparisons)}"


def records_frame(records: Sequence[dict[str, object]], columns: Sequence[str]) -> pd.DataFrame:
    """The CSV frame of ``records`` with exactly ``columns``; an empty cell where a value is
    ``None``."""
    import pandas as pd

    frame = pd.DataFrame.from_records(records, columns=list(columns))
    return frame.astype(object).where(frame.notna(), "")


def comparison_doc(
    comparisons: Sequence[Comparison],
    *,
    caption: str | None = None,
    label: str = "tab:compare",
    notes: Sequence[str] = (),
    after: Sequence[str] = (),
) -> TableDoc:
    """``comparisons`` as every format renders them: ``caption`` (default
    :func:`comparison_caption`) above, ``notes`` under the LaTeX table, ``after`` under the
    text and Markdown ones; csv: exactly :data:`COMPARISON_COLUMNS`."""
    frame = comparison_frame(comparisons)
    return TableDoc(
        frame=frame, caption=caption if caption is not None else comparison_caption(comparisons),
        label=label, right=[column for column in frame.columns if column in _NUMBER_COLUMNS],
        records=records_frame([row.record() for row in comparisons], COMPARISON_COLUMNS),
        notes=notes, after=after, wrap=_WRAP,
    )  # fmt: skip


def render_comparisons(
    comparisons: Sequence[Comparison],
    fmt: str = "text",
    *,
    caption: str | None = None,
    label: str = "tab:compare",
    standalone: bool = False,
    notes: Sequence[str] = (),
) -> str:
    """``comparisons`` as ``fmt`` (``TableFormat``: text, markdown, latex, csv).

    ``caption`` defaults to :func:`comparison_caption`; ``notes`` go under the LaTeX table
    (footnote size); ``standalone`` wraps the LaTeX table in a minimal document.
    """
    doc = comparison_doc(comparisons, caption=caption, label=label, notes=notes)
    return render_tables([doc], fmt, standalone=standalone, kind="comparison")


def _delta_cell(row: Comparison) -> str:
    if row.delta is None:
        return ""
    cell = _signed(row.delta) + (EXCLUDES_ZERO_MARK if row.excludes_zero else "")
    return cell if row.paired else cell + _UNPAIRED_MARK


def delta_caption(comparisons: Sequence[Comparison]) -> str:
    """The caption sentence of a Δ column: metric, baseline, test, folds, marks."""
    if not comparisons:
        return ""
    first = comparisons[0]
    lineage = len({row.baseline for row in comparisons}) > 1
    reference = "the row's parent (column parent)" if lineage else first.baseline
    sentence = (
        f"Δ: difference in mean {_METRIC_WORDS.get(first.metric, first.metric)} to {reference}, "
        f"{_how_tested(comparisons)}; {EXCLUDES_ZERO_MARK} marks intervals that exclude zero"
    )
    if any(not row.paired and row.delta is not None for row in comparisons):
        sentence += f"; {_UNPAIRED_MARK.strip()}: unpaired, the trials' folds differ"
    return sentence + "."


def add_delta_column(table: AblationTable, comparisons: Sequence[Comparison]) -> AblationTable:
    """``table`` with a ``Δ vs <baseline>`` column and the caption sentence that explains it.

    Rows are matched by trial name; the baseline's row reads ``baseline``, a row without a
    comparison (or without results) stays empty. A Δ whose interval excludes zero carries
    :data:`EXCLUDES_ZERO_MARK`.
    """
    if not comparisons:
        return table
    baseline = comparisons[0].baseline
    by_name = {row.variant: row for row in comparisons}
    deltas = [_delta_cell(by_name[name]) if name in by_name else "" for name in table.names]
    frame = table.frame.copy()
    lineage = len({row.baseline for row in comparisons}) > 1
    if lineage:  # each row against its parent
        frame["parent"] = [
            by_name[name].baseline if name in by_name else "" for name in table.names
        ]
        frame["Δ vs parent"] = deltas
    else:
        frame[f"Δ vs {baseline}"] = [
            "baseline" if name == baseline else delta
            for name, delta in zip(table.names, deltas, strict=True)
        ]
    sentence = delta_caption(comparisons)
    notes = table.notes if lineage else (*table.notes, sentence)
    return dataclasses.replace(
        table, frame=frame, caption=f"{table.caption}. {sentence}", notes=notes
    )
