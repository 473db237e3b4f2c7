"""Render comparisons of trials (``ferablate compare``) and the Δ column of ``table --vs``.

Pure rendering of :class:`ferablate.stats.Comparison` rows: plain text, Markdown, LaTeX
(through the same booktabs path as the appendix tables) and CSV with exactly
:data:`ferablate.stats.COMPARISON_COLUMNS` (empty cells where a test gives no value).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from ferablate.stats import COMPARISON_COLUMNS, Comparison
from ferablate.tables._build import AblationTable
from ferablate.tables._render import (
    LATEX_NEEDS,
    latex_document,
    render_frame_csv,
    render_frame_latex,
    render_frame_markdown,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "EXCLUDES_ZERO_MARK",
    "add_delta_column",
    "comparison_caption",
    "comparison_frame",
    "delta_caption",
    "render_comparisons",
    "render_comparisons_csv",
    "render_frame_text",
]

CompareFormat = Literal["text", "markdown", "latex", "csv"]
EXCLUDES_ZERO_MARK = "†"  # on a Δ whose interval lies entirely on one side of zero
_UNPAIRED_MARK = " (u)"
_METRIC_WORDS = {
    "val_accuracy": "validation accuracy",
    "val_precision": "validation precision (macro)",
    "val_recall": "validation recall (macro)",
}
_TEST_WORDS = {
    "corrected-t": "interval from the corrected resampled t-test (Nadeau & Bengio 2003)",
    "bayes": "credible interval of the Bayesian correlated t-test (Benavoli et al. 2017)",
}
_NUMBER_COLUMNS = ("n", "Δ", "interval", "p", "P(worse)", "P(equiv.)", "P(better)")


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


def comparison_frame(comparisons: Sequence[Comparison]) -> pd.DataFrame:
    """One row per comparison, str cells; p-value or the three probabilities per the test."""
    import pandas as pd  # deferred: the CLI imports this module on demand only

    bayes = any(row.test == "bayes" for row in comparisons)
    records = []
    for row in comparisons:
        record = {
            "variant": row.variant,
            "n": str(row.n),
            "Δ": _signed(row.delta),
            "interval": _interval(row),
        }
        if bayes:
            record["P(worse)"] = _probability(row.p_worse)
            record["P(equiv.)"] = _probability(row.p_equivalent)
            record["P(better)"] = _probability(row.p_better)
        else:
            record["p"] = _probability(row.p_value)
        record.update(
            {"paired": "yes" if row.paired else "no", "verdict": row.verdict, "note": row.note}
        )
        records.append(record)
    columns = ["variant", "n", "Δ", "interval"]
    columns += ["P(worse)", "P(equiv.)", "P(better)"] if bayes else ["p"]
    return pd.DataFrame.from_records(records, columns=[*columns, "paired", "verdict", "note"])


def _metric_words(metric: str) -> str:
    return _METRIC_WORDS.get(metric, metric)


def _how_tested(comparisons: Sequence[Comparison]) -> str:
    """Interval level, test and paired folds: "95% interval from the … over 5 paired folds"."""
    first = comparisons[0]
    how = f"{first.level:.0%} {_TEST_WORDS[first.test]}"
    counts = sorted({row.n for row in comparisons if row.paired})
    if not counts:
        return how
    span = str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    return f"{how} over {span} paired folds"


def comparison_caption(comparisons: Sequence[Comparison]) -> str:
    """What the comparison table shows: metric, baseline, test, interval level, rope."""
    if not comparisons:
        return "No variants to compare"
    first = comparisons[0]
    what = f"{_metric_words(first.metric)}: Δ = variant − {first.baseline}"
    caption = f"{what}, {_how_tested(comparisons)}"
    if first.test == "bayes":
        caption += f"; P(equiv.): Δ within ±{first.rope:g}, the region of practical equivalence"
    return caption


def render_frame_text(frame: pd.DataFrame, right: Sequence[str] = ()) -> str:
    """Plain aligned text (no markup): a header, a rule, one line per row."""
    columns = [str(column) for column in frame.columns]
    rows = [[str(value) for value in values] for values in frame.itertuples(index=False)]
    widths = [
        max([len(name), *(len(row[index]) for row in rows)]) for index, name in enumerate(columns)
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if name in right else cell.ljust(width)
            for name, cell, width in zip(columns, cells, widths, strict=True)
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(columns), rule, *(line(row) for row in rows)]) + "\n"


def render_comparisons_csv(comparisons: Sequence[Comparison]) -> str:
    """CSV with exactly :data:`COMPARISON_COLUMNS`; an empty cell where a value is ``None``."""
    import pandas as pd

    frame = pd.DataFrame.from_records(
        [row.record() for row in comparisons], columns=list(COMPARISON_COLUMNS)
    )
    return render_frame_csv(frame.astype(object).where(frame.notna(), ""))


def render_comparisons(
    comparisons: Sequence[Comparison],
    fmt: CompareFormat = "text",
    *,
    caption: str | None = None,
    label: str = "tab:compare",
    standalone: bool = False,
    notes: Sequence[str] = (),
) -> str:
    """``comparisons`` as ``text``, ``markdown``, ``latex`` (booktabs) or ``csv``.

    ``caption`` defaults to :func:`comparison_caption`; ``notes`` go under the LaTeX table
    (footnote size); ``standalone`` wraps the LaTeX table in a minimal document.
    """
    if fmt == "csv":
        return render_comparisons_csv(comparisons)
    frame = comparison_frame(comparisons)
    title = caption if caption is not None else comparison_caption(comparisons)
    right = [column for column in frame.columns if column in _NUMBER_COLUMNS]
    if fmt == "text":
        return f"{title}\n\n" + render_frame_text(frame, right)
    if fmt == "markdown":
        return f"**{title}**\n\n" + render_frame_markdown(frame, right)
    if fmt != "latex":
        raise ValueError(f"unknown comparison format {fmt!r}")
    column_format = "".join("r" if column in right else "l" for column in frame.columns)
    body = render_frame_latex(
        frame, caption=title, label=label, column_format=column_format, notes=notes
    )
    if standalone:
        return latex_document([r"\small", body])
    return LATEX_NEEDS + body


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
    sentence = (
        f"Δ: difference in mean {_metric_words(first.metric)} to {first.baseline}, "
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
    cells = [
        "baseline" if name == baseline else (_delta_cell(by_name[name]) if name in by_name else "")
        for name in table.names
    ]
    frame = table.frame.copy()
    frame[f"Δ vs {baseline}"] = cells
    sentence = delta_caption(comparisons)
    return dataclasses.replace(
        table,
        frame=frame,
        caption=f"{table.caption}. {sentence}",
        notes=(*table.notes, sentence),
    )
