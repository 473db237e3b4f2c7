"""LaTeX escaping and the Figure 7 layer tables in LaTeX / Markdown / CSV."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from ferablate.models import layer_table
from ferablate.tables import (
    escape_latex,
    latex_document,
    render_frame_latex,
    render_frame_markdown,
    render_layer_table,
)


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("a_b", r"a\_b"),
        ("50% & more", r"50\% \& more"),
        ("#1 $x$", r"\#1 \$x\$"),
        ("{y}", r"\{y\}"),
        ("~^", r"\textasciitilde{}\textasciicircum{}"),
        ("back\\slash", r"back\textbackslash{}slash"),
        ("0.47 ± 0.01", r"0.47 $\pm$ 0.01"),
        ("—", "---"),
        ("3x3x8 no mp", "3x3x8 no mp"),
    ],
)
def test_escape_latex(text: str, escaped: str) -> None:
    assert escape_latex(text) == escaped


def test_escaping_never_escapes_an_escape_twice() -> None:
    assert escape_latex("\\_") == r"\textbackslash{}\_"


def test_markdown_escapes_pipes() -> None:
    frame = pd.DataFrame({"a": ["x|y"], "acc.": ["0.5"]})
    assert render_frame_markdown(frame, ("acc.",)).splitlines() == [
        "| a | acc. |", "| --- | ---: |", r"| x\|y | 0.5 |",
    ]  # fmt: skip


def test_layer_table_formats_match_figure_7() -> None:
    table = layer_table("report-model1")
    latex = render_layer_table(table, "latex", caption="Model 1", label="tab:m1")
    assert r"\begin{longtable}" in latex and r"\toprule" in latex
    assert r"Conv2d-1 & [-1, 8, 48, 48] & 80 \\" in latex
    assert "Total params: 700,439" in latex
    assert r"Param \#" in latex
    markdown = render_layer_table(table, "markdown", caption="Model 1", label="tab:m1")
    assert "| Linear-37 | [-1, 7] | 119 |" in markdown
    csv = render_layer_table(table, "csv", caption="Model 1", label="tab:m1")
    assert csv.splitlines()[1] == 'Conv2d-1,"[-1, 8, 48, 48]",80'
    with pytest.raises(ValueError, match="unknown"):
        render_layer_table(table, "html", caption="x", label="y")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_standalone_layer_table_compiles(pdflatex: Callable[[str, str], Path]) -> None:
    document = render_layer_table(
        layer_table("report-model2"),
        "latex",
        caption="Model 2 & co_",
        label="tab:m2",
        standalone=True,
    )
    pdflatex("layers", document)


@pytest.mark.skipif(
    shutil.which("pdflatex") is None or shutil.which("pdffonts") is None,
    reason="pdflatex or pdffonts (poppler-utils) not installed",
)
def test_standalone_tables_embed_type1_fonts_only(pdflatex: Callable[[str, str], Path]) -> None:
    frame = pd.DataFrame(
        {"variant": ["a_1", "b"], "Δ": ["+0.010†", "−0.020"], "acc.": ["0.5§", "—"]}
    )
    table = render_frame_latex(
        frame, caption="Model 1 × 2", label="t", notes=["Data 01ab; code 5f."]
    )
    document = latex_document([table])
    assert r"\usepackage{lmodern}" in document and r"\usepackage[T1]{fontenc}" in document
    pdf = pdflatex("fonts", document)
    fonts = subprocess.run(
        ["pdffonts", pdf.name], cwd=pdf.parent, capture_output=True, text=True, check=True
    ).stdout
    types = [line[37:55].strip() for line in fonts.splitlines()[2:]]
    assert types and all(kind == "Type 1" for kind in types), fonts
