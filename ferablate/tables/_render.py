"""Render tables as LaTeX (booktabs, compiles with pdflatex), Markdown or CSV.

LaTeX goes through pandas' ``Styler.to_latex`` (``hrules=True`` gives booktabs rules) on
cells escaped here first, so every table and caption compiles untouched; ``standalone``
wraps the tables in a minimal ``article`` document.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ferablate.tables._build import AblationTable

if TYPE_CHECKING:
    import pandas as pd

    from ferablate.models import LayerTable

__all__ = [
    "LATEX_NEEDS",
    "LATEX_PREAMBLE",
    "escape_latex",
    "latex_document",
    "layer_table_frame",
    "render_csv",
    "render_frame_csv",
    "render_frame_latex",
    "render_frame_markdown",
    "render_latex",
    "render_layer_table",
    "render_markdown",
]

# One pass over the text, so an escape is never escaped again.
_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "—": "---",
    "–": "--",
    "×": r"$\times$",
    "Δ": r"$\Delta$",  # comparison tables (tables/_compare.py)
    "†": r"$^{\dagger}$",
    "‡": r"$^{\ddagger}$",  # rows of other code or data (tables/_provenance.py)
    "§": r"\S{}",  # rows with collapsed folds (tables/_build.py)
    "−": r"$-$",
    "“": "``",
    "”": "''",
}
_LATEX_PATTERN = re.compile("|".join(re.escape(char) for char in _LATEX_SPECIALS))
# What every table needs in a document's preamble. Latin Modern in T1 encoding: Type 1
# fonts only (pdffonts), not bitmap Type 3. The caption sits above each table (skip below
# it) at the width of the table (threeparttable), its notes under it in footnote size.
LATEX_PREAMBLE = (
    r"\usepackage[T1]{fontenc}",
    r"\usepackage{lmodern}",
    r"\usepackage{booktabs}",
    r"\usepackage{longtable}",
    r"\usepackage{threeparttable}",
    r"\usepackage{tabularx}",
    r"\usepackage[font=small,labelfont=bf,skip=4pt]{caption}",
    r"\captionsetup[table]{position=top}",
)
LATEX_NEEDS = "% needs \\usepackage{booktabs,longtable,threeparttable,caption,tabularx}\n"
# A layer table this short (a 4-conv variant of model 1 has 19 rows) is a float kept on one page,
# a longer one a longtable that breaks across pages.
LAYER_FLOAT_ROWS = 35


def escape_latex(text: str) -> str:
    """``text`` with LaTeX's special characters (``\\ & % $ # _ { } ~ ^``) escaped; ``±``,
    ``—``, ``–`` and ``×`` become their pdflatex-safe forms."""
    return _LATEX_PATTERN.sub(lambda match: _LATEX_SPECIALS[match.group(0)], text)


def _escaped(frame: pd.DataFrame) -> pd.DataFrame:
    escaped = frame.map(lambda value: escape_latex(str(value)))
    escaped.columns = [escape_latex(str(column)) for column in frame.columns]
    return escaped


def _notes_latex(notes: Sequence[str]) -> str:
    return "".join(f"\\item {escape_latex(note)}\n" for note in notes)


def _column_format(
    frame: pd.DataFrame, column_format: str | None, wrap: Mapping[str, float]
) -> str:
    """``column_format`` (one letter a column), the columns in ``wrap`` turned into ragged-right
    ``X`` columns of tabularx whose widths are in the ratio of their ``wrap`` weights."""
    letters = column_format or "l" * len(frame.columns)
    weights = {column: wrap[column] for column in frame.columns if column in wrap}
    if not weights:
        return letters
    if len(letters) != len(frame.columns):
        raise ValueError(f"column_format {letters!r} must name one letter per column")
    scale = len(weights) / sum(weights.values())  # tabularx: the X columns' \hsize sum
    return "".join(
        f">{{\\raggedright\\arraybackslash\\hsize={weights[column] * scale:.2f}\\hsize}}X"
        if column in weights
        else letter
        for column, letter in zip(frame.columns, letters, strict=True)
    )


def render_frame_latex(
    frame: pd.DataFrame,
    *,
    caption: str,
    label: str,
    column_format: str | None = None,
    longtable: bool = False,
    notes: Sequence[str] = (),
    wrap: Mapping[str, float] | None = None,
) -> str:
    """A booktabs table of str cells: a ``table`` float whose caption (above) and ``notes``
    (under it, footnote size) are as wide as the table (``threeparttable``), or a
    ``longtable`` for many rows (notes after it).

    The columns named in ``wrap`` (a float only) break their text into lines: the table is
    then a ``tabularx`` exactly ``\\linewidth`` wide, those columns sharing what the others
    leave in the ratio of their weights, so long sentences never run past the margin; its
    cells are in ``\\small`` type, as its caption."""
    styler = _escaped(frame).style.hide(axis="index")
    weights = {} if longtable or wrap is None else wrap
    wrapped = any(column in weights for column in frame.columns)
    options: dict[str, object] = {
        "hrules": True,
        "column_format": _column_format(frame, column_format, weights),
    }
    if longtable:
        options.update(environment="longtable", caption=escape_latex(caption), label=label)
        body = styler.to_latex(**options)
        if notes:
            items = " ".join(escape_latex(note) for note in notes)
            body += f"{{\\footnotesize\\noindent {items}\\par}}\n"
        return body
    tabular = styler.to_latex(**options)
    if wrapped:
        tabular = tabular.replace(r"\begin{tabular}{", r"\begin{tabularx}{\linewidth}{", 1)
        tabular = tabular.replace(r"\end{tabular}", r"\end{tabularx}")
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        *([r"\small"] if wrapped else []),  # a wide table of sentences: fewer lines
        r"\begin{threeparttable}",
        f"\\caption{{{escape_latex(caption)}}}",
        f"\\label{{{label}}}",
        tabular.rstrip("\n"),
    ]
    if notes:
        lines += [
            r"\begin{tablenotes}[flushleft]",
            r"\footnotesize\raggedright",  # a narrow table's long run ids: no stretched spaces
            _notes_latex(notes).rstrip("\n"),
            r"\end{tablenotes}",
        ]
    lines += [r"\end{threeparttable}", r"\end{table}", ""]
    return "\n".join(lines)


def latex_document(bodies: Sequence[str], *, preamble: Sequence[str] = ()) -> str:
    """A minimal ``article`` document holding ``bodies`` (compiles with plain pdflatex; its
    packages come with texlive-latex-base/-recommended/-extra and lmodern)."""
    lines = [
        r"\documentclass{article}",
        # Landscape A4 with narrow margins: the model-1 table has 12 columns.
        r"\usepackage[a4paper,landscape,margin=1.5cm]{geometry}",
        *LATEX_PREAMBLE,
        *preamble,
        r"\begin{document}",
        *bodies,
        r"\end{document}",
        "",
    ]
    return "\n".join(lines)


def _ablation_column_format(table: AblationTable) -> str:
    metrics = sum(1 for column in table.frame.columns if column in ("acc.", "prec.", "recall"))
    return "l" * (len(table.frame.columns) - metrics) + "r" * metrics


def render_latex(tables: Sequence[AblationTable], standalone: bool = False) -> str:
    """The tables as LaTeX ``table`` floats (booktabs); a full document with ``standalone``."""
    bodies = [
        render_frame_latex(
            table.frame,
            caption=table.latex_caption or table.caption,
            label=table.label,
            column_format=_ablation_column_format(table),
            notes=table.notes if table.latex_caption else (table.footer,) * bool(table.footer),
        )
        for table in tables
    ]
    if standalone:
        # The model-1 table is wide: a smaller font keeps it on an article page.
        return latex_document([r"\small", *bodies])
    return LATEX_NEEDS + "\n".join(bodies)


def _markdown_cell(value: object) -> str:
    return str(value).replace("|", r"\|").replace("\n", " ")


def render_frame_markdown(frame: pd.DataFrame, right: Sequence[str] = ()) -> str:
    """A GitHub-flavoured pipe table; columns in ``right`` are right-aligned."""
    header = [_markdown_cell(column) for column in frame.columns]
    rule = ["---:" if column in right else "---" for column in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    for values in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_markdown_cell(value) for value in values) + " |")
    return "\n".join(lines) + "\n"


def render_markdown(tables: Sequence[AblationTable]) -> str:
    """Each table as a caption line and a pipe table."""
    parts = []
    for table in tables:
        parts.append(
            f"**{table.caption}**\n\n"
            + render_frame_markdown(table.frame, ("acc.", "prec.", "recall"))
            + (f"\n{table.footer}\n" if table.footer else "")
        )
    return "\n".join(parts)


def render_frame_csv(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    return buffer.getvalue()


def render_csv(tables: Sequence[AblationTable]) -> str:
    """One CSV of all rows: ``trial``, the report's columns, ``status`` (machine-readable)."""
    import pandas as pd

    frames = []
    for table in tables:
        frame = table.frame.copy()
        frame.insert(0, "trial", list(table.names))
        frame["status"] = list(table.statuses)
        frames.append(frame)
    merged = pd.concat(frames, ignore_index=True).fillna("") if frames else pd.DataFrame()
    return render_frame_csv(merged)


def layer_table_frame(table: LayerTable) -> pd.DataFrame:
    """The Figure 7 layout: ``Layer (type)``, ``Output Shape``, ``Param #`` (str cells)."""
    import pandas as pd

    return pd.DataFrame(
        {
            "Layer (type)": [row.name for row in table.rows],
            "Output Shape": [
                "[" + ", ".join(str(d) for d in row.output_shape) + "]" for row in table.rows
            ],
            "Param #": [f"{row.params:,}" for row in table.rows],
        }
    )


def render_layer_table(
    table: LayerTable,
    fmt: str,
    *,
    caption: str,
    label: str,
    standalone: bool = False,
    footer: str = "",
) -> str:
    """A model's layer table (Figure 7) as ``latex``, ``markdown`` or ``csv``; ``footer``
    (provenance) goes under the table. LaTeX: a float kept on one page up to
    :data:`LAYER_FLOAT_ROWS` rows, a longtable across pages beyond."""
    frame = layer_table_frame(table)
    totals = (
        f"Total params: {table.total_params:,}; trainable params: {table.trainable_params:,}; "
        f"non-trainable params: {table.total_params - table.trainable_params:,}"
    )
    if fmt == "csv":
        return render_frame_csv(frame)
    if fmt == "markdown":
        text = f"**{caption}**\n\n" + render_frame_markdown(frame, ("Param #",)) + f"\n{totals}\n"
        return text + (f"\n{footer}\n" if footer else "")
    if fmt != "latex":
        raise ValueError(f"unknown layer-table format {fmt!r}")
    body = render_frame_latex(
        frame,
        caption=caption,
        label=label,
        column_format="llr",
        longtable=len(frame) > LAYER_FLOAT_ROWS,
        notes=[f"{totals}.", *([footer] if footer else [])],
    )
    if standalone:
        return latex_document([body])
    return LATEX_NEEDS + body
