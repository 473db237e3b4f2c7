"""The LaTeX tables fit the page: no row runs past the margin, a short layer table never breaks."""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from ferablate.config import Claim
from ferablate.models import LayerRow, LayerTable
from ferablate.stats import TrialScores, compare_all
from ferablate.tables import (
    SweepClaims,
    check_claims,
    latex_document,
    render_claims,
    render_comparisons,
    render_layer_table,
)

# The report's own sentences and trial names (long names break only at their hyphens).
SENTENCES = (
    "larger kernel sizes in the first convolutional layer (5x5) did not improve the "
    "performance nor prove that determinant",
    "we should rather increase the complexity; consequently, we added more dense layers",
)
NAMES = ("conv4-no-mp-l1-5x5-dropout", "conv4-1x1-no-mp-l1-dropout-elu")
BASE = "conv4-no-mp-l1-dropout-elu"
SCORES = ([0.40, 0.42, 0.41, 0.43, 0.39], [0.43, 0.44, 0.42, 0.47, 0.40])
# What pdflatex tolerates: a fraction of a point.
SLACK_PT = 2.0


def _trials() -> dict[str, TrialScores]:
    scores = {BASE: SCORES[0], NAMES[0]: SCORES[1], NAMES[1]: SCORES[1]}
    return {
        name: TrialScores(name, {"val_accuracy": {f"f{i}": s for i, s in enumerate(folds)}}, "x")
        for name, folds in scores.items()
    }


def _claims_table() -> str:
    claims = [
        Claim(says=says, variant=name, versus=BASE, expect="better")
        for says, name in zip(SENTENCES, NAMES, strict=True)
    ]
    rows = check_claims(claims, _trials())
    caption = "claims: " + " ".join(["a caption longer than the page is wide;"] * 12)
    return render_claims(SweepClaims("wide", rows, caption, "Data: x."), "latex")


def _comparison_table() -> str:
    rows = compare_all(list(_trials().values()), BASE)
    note = "collapsed folds: variant 2, 4; repeats needed: 1; another long note to wrap"
    # Each row against its own parent (the vs column) with a long note.
    rows = [
        dataclasses.replace(row, baseline=f"{row.baseline}-{index}", note=note)
        for index, row in enumerate(rows)
    ]
    return render_comparisons(rows, "latex", caption="compare: " + "wide caption " * 40)


def _overfull_pt(log: str) -> list[float]:
    return [float(pt) for pt in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\)", log)]


def test_the_overfull_box_pattern_reads_a_pdflatex_log() -> None:
    log = "Overfull \\hbox (104.03258pt too wide) in paragraph at lines 5--29\n"
    assert _overfull_pt(log) == [104.03258]


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_long_sentences_names_and_notes_stay_inside_the_text_block(
    pdflatex: Callable[[str, str], Path],
) -> None:
    # The appendix's landscape A4 page (before: 104 pt and 80 pt too wide on the report's sweep).
    document = latex_document([_claims_table(), _comparison_table()])
    log = pdflatex("wide", document).with_suffix(".log").read_text(errors="replace")
    assert max(_overfull_pt(log), default=0.0) <= SLACK_PT, _overfull_pt(log)
    assert "Float too large" not in log


def _layers(count: int) -> LayerTable:
    rows = tuple(LayerRow(f"Conv2d-{i}", (-1, 8, 48, 48), 80) for i in range(1, count + 1))
    return LayerTable(rows=rows, total_params=80 * count, trainable_params=80 * count)


def test_a_short_layer_table_is_a_float_kept_on_one_page_a_long_one_a_longtable() -> None:
    short = render_layer_table(_layers(19), "latex", caption="Model", label="tab:l", footer="f.")
    assert r"\begin{longtable}" not in short and r"\begin{table}[htbp]" in short
    assert r"\begin{tablenotes}" in short and "Total params: 1,520" in short
    long = render_layer_table(_layers(36), "latex", caption="Model", label="tab:l")
    assert r"\begin{longtable}" in long
