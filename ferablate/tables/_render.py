"""Render tables as text, LaTeX (booktabs, compiles with pdflatex), Markdown or CSV.

Every table (ablation, comparison, claims, layers) is handed over as :class:`TableDoc` s and
rendered by the one renderer :data:`RENDERERS` holds for its :class:`TableFormat`: a new format
is a member of the enum and a function registered with :func:`register_renderer`. LaTeX goes
through pandas' ``Styler.to_latex`` (``hrules=True`` gives booktabs rules) on cells escaped here
first, so every table and caption compiles untouched; ``standalone`` wraps the tables in a
minimal ``article`` document.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # light to import: the CLI reads TableFormat at start
    import pandas as pd

    from ferablate.models import LayerTable

__all__ = [
    "LATEX_NEEDS",
    "LATEX_PREAMBLE",
    "RENDERERS",
    "TableDoc",
    "TableFormat",
    "escape_latex",
    "latex_document",
    "register_renderer",
    "render_frame_latex",
    "render_frame_markdown",
    "render_frame_text",
    "render_layer_table",
    "render_tables",
]


class TableFormat(StrEnum):
    """The output formats of every table (``--format`` of table, compare, claims, summary)."""

    text = "text"
    latex = "latex"
    markdown = "markdown"
    csv = "csv"


@dataclass(frozen=True, kw_only=True)
class TableDoc:
    """One table as every format renders it: its cells, its words, its layout hints."""

    frame: pd.DataFrame  # display cells (str)
    caption: str  # above the table
    label: str  # LaTeX label
    records: pd.DataFrame | None = None  # csv: machine-readable cells (default: ``frame``)
    right: Sequence[str] = ()  # right-aligned columns (numbers)
    after: Sequence[str] = ()  # text, markdown: paragraphs under the table (provenance)
    latex_caption: str = ""  # LaTeX: the caption, when not ``caption``
    notes: Sequence[str] = ()  # LaTeX: footnote-size notes under the table
    column_format: str | None = None  # LaTeX: one letter a column (default: from ``right``)
    wrap: Mapping[str, float] | None = None  # LaTeX: columns that break into lines
    longtable: bool = False  # LaTeX: across pages
    small: bool = True  # a standalone LaTeX document in \small type (wide tables)


Renderer = Callable[[Sequence["TableDoc"], bool], str]  # (tables, standalone) -> text
RENDERERS: dict[TableFormat, Renderer] = {}


def register_renderer(fmt: TableFormat) -> Callable[[Renderer], Renderer]:
    """Make the decorated function the renderer of ``fmt`` in :data:`RENDERERS`."""

    def register(render: Renderer) -> Renderer:
        RENDERERS[fmt] = render
        return render

    return register


def render_tables(
    docs: Sequence[TableDoc], fmt: str, *, standalone: bool = False, kind: str = "table"
) -> str:
    """``docs`` (tables of one ``kind``) as ``fmt`` by its renderer in :data:`RENDERERS`;
    ``standalone``: LaTeX as a complete document."""
    if fmt not in RENDERERS:
        raise ValueError(f"unknown {kind} format {fmt!r}; choose one of: {', '.join(RENDERERS)}")
    return RENDERERS[TableFormat(fmt)](docs, standalone)


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
    letters = _column_format(frame, column_format, weights)
    if longtable:
        body = styler.to_latex(
            hrules=True, column_format=letters, environment="longtable",
            caption=escape_latex(caption), label=label,
        )  # fmt: skip
        if notes:
            items = " ".join(escape_latex(note) for note in notes)
            body += f"{{\\footnotesize\\noindent {items}\\par}}\n"
        return body
    tabular = styler.to_latex(hrules=True, column_format=letters)
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
            *(f"\\item {escape_latex(note)}" for note in notes),
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


def render_layer_table(
    table: LayerTable,
    fmt: str,
    *,
    caption: str,
    label: str,
    standalone: bool = False,
    footer: str = "",
) -> str:
    """A model's layer table (Figure 7) as ``fmt`` (text, ``latex``, ``markdown`` or ``csv``);
    the totals and ``footer`` (provenance) go under the table. LaTeX: a float kept on one page
    up to :data:`LAYER_FLOAT_ROWS` rows, a longtable across pages beyond. The columns are the
    Figure 7 layout: ``Layer (type)``, ``Output Shape``, ``Param #``."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            "Layer (type)": [row.name for row in table.rows],
            "Output Shape": [f"[{', '.join(map(str, row.output_shape))}]" for row in table.rows],
            "Param #": [f"{row.params:,}" for row in table.rows],
        }
    )
    totals = (
        f"Total params: {table.total_params:,}; trainable params: {table.trainable_params:,}; "
        f"non-trainable params: {table.total_params - table.trainable_params:,}"
    )
    footers = [footer] if footer else []
    doc = TableDoc(
        frame=frame, caption=caption, label=label, right=("Param #",), after=[totals, *footers],
        notes=[f"{totals}.", *footers], column_format="llr",
        longtable=len(frame) > LAYER_FLOAT_ROWS, small=False,
    )  # fmt: skip
    return render_tables([doc], fmt, standalone=standalone, kind="layer-table")


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


def _after(doc: TableDoc) -> str:
    return "".join(f"\n{paragraph}\n" for paragraph in doc.after)


@register_renderer(TableFormat.text)
def _render_text(docs: Sequence[TableDoc], standalone: bool) -> str:
    """Each table as its caption, plain aligned text and the paragraphs under it."""
    return "\n".join(
        f"{doc.caption}\n\n{render_frame_text(doc.frame, doc.right)}{_after(doc)}" for doc in docs
    )


@register_renderer(TableFormat.markdown)
def _render_markdown(docs: Sequence[TableDoc], standalone: bool) -> str:
    """Each table as a bold caption line, a pipe table and the paragraphs under it."""
    return "\n".join(
        f"**{doc.caption}**\n\n{render_frame_markdown(doc.frame, doc.right)}{_after(doc)}"
        for doc in docs
    )


def _latex_body(doc: TableDoc) -> str:
    letters = "".join("r" if column in doc.right else "l" for column in doc.frame.columns)
    return render_frame_latex(
        doc.frame, caption=doc.latex_caption or doc.caption, label=doc.label,
        column_format=doc.column_format or letters, longtable=doc.longtable, notes=doc.notes,
        wrap=doc.wrap,
    )  # fmt: skip


@register_renderer(TableFormat.latex)
def _render_latex(docs: Sequence[TableDoc], standalone: bool) -> str:
    """Each table a booktabs float or longtable (:func:`render_frame_latex`); ``standalone``:
    a complete document, in ``\\small`` type unless a table says otherwise."""
    bodies = [_latex_body(doc) for doc in docs]
    if standalone:
        return latex_document([r"\small"] * all(doc.small for doc in docs) + bodies)
    return LATEX_NEEDS + "\n".join(bodies)


@register_renderer(TableFormat.csv)
def _render_csv(docs: Sequence[TableDoc], standalone: bool) -> str:
    """One CSV of every table's ``records`` (machine-readable), empty cells for missing values."""
    import pandas as pd

    frames = [doc.frame if doc.records is None else doc.records for doc in docs]
    frame = pd.concat(frames, ignore_index=True).fillna("") if frames else pd.DataFrame()
    return frame.to_csv(index=False, lineterminator="\n")
