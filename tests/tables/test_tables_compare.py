"""Comparison tables: exact CSV columns, LaTeX through booktabs, plain text, the Δ column."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ferablate.config import validate_trial
from ferablate.stats import Comparison, TrialScores, compare_all
from ferablate.tables import (
    TableRow,
    add_delta_column,
    build_tables,
    render_comparisons,
    render_latex,
    render_markdown,
)

CSV_HEADER = "variant,baseline,metric,n,delta,ci_low,ci_high,p_value,p_better,p_equivalent,p_worse,paired,verdict,mde,repeats_needed,p_adjusted"
SCORES = {
    "relu": [0.40, 0.42, 0.41, 0.43, 0.39],
    "elu": [0.45, 0.48, 0.47, 0.50, 0.45],  # clearly better
    "relu_seed1": [0.41, 0.41, 0.42, 0.42, 0.40],  # fold noise
}


def _trials(**extra: TrialScores) -> list[TrialScores]:
    trials = [
        TrialScores(name, {"val_accuracy": {f"f{i}": s for i, s in enumerate(scores)}}, "split")
        for name, scores in SCORES.items()
    ]
    return [*trials, *extra.values()]


def _rows(test: str = "corrected-t") -> list[Comparison]:
    failed = TrialScores("dense64", {}, "split", status="failed")
    return compare_all(_trials(failed=failed), "relu", test=test)  # type: ignore[arg-type]


def test_csv_has_exactly_the_documented_columns_and_empty_cells_for_none() -> None:
    text = render_comparisons(_rows(), "csv")
    assert text.splitlines()[0] == CSV_HEADER
    frame = pd.read_csv(io.StringIO(text), keep_default_na=False)
    assert list(frame["variant"]) == ["elu", "relu_seed1", "dense64"]
    assert list(frame["verdict"]) == ["better", "no evidence", "no evidence"]
    assert list(frame["n"]) == [5, 5, 0]
    # corrected-t gives no probabilities; the failed row gives no numbers at all
    assert set(frame["p_better"]) == {""}
    failed = frame.iloc[2]
    assert [failed[c] for c in ("delta", "ci_low", "p_value")] == ["", "", ""]
    assert float(frame.iloc[0]["delta"]) == pytest.approx(0.06)


def test_bayes_csv_fills_the_probabilities_and_leaves_p_value_empty() -> None:
    frame = pd.read_csv(
        io.StringIO(render_comparisons(_rows("bayes"), "csv")), keep_default_na=False
    )
    elu = frame.iloc[0]
    assert elu["p_value"] == ""
    total = float(elu["p_better"]) + float(elu["p_equivalent"]) + float(elu["p_worse"])
    assert total == pytest.approx(1.0)
    assert float(elu["p_better"]) >= 0.95 and elu["verdict"] == "better"


def test_text_is_aligned_plain_text_with_a_caption() -> None:
    lines = render_comparisons(_rows(), "text").splitlines()
    assert lines[0].startswith(
        "validation accuracy: Δ = variant − relu, 95% interval from the corrected"
    )
    assert "over 5 paired folds" in lines[0]
    header, rule, *body = lines[2:]
    assert header.split() == [
        "variant", "n", "Δ", "interval", "p", "p", "adj.", "MDE", "paired", "verdict", "note",
    ]  # fmt: skip
    assert len(body) == 3 and body[0].split()[:3] == ["elu", "5", "+0.060"]
    assert "no results (failed)" in body[2]
    # columns line up: every row's verdict starts where the header's does
    column = header.index("verdict")
    assert [line[column:].split()[0] for line in body] == ["better", "no", "no"]
    assert "[" not in rule and "\x1b" not in "".join(lines)  # no markup, no colour codes


def test_bayes_text_shows_the_three_probabilities() -> None:
    header = render_comparisons(_rows("bayes"), "text").splitlines()[2]
    assert header.split()[4:7] == ["P(worse)", "P(equiv.)", "P(better)"]
    assert " p " not in f" {header} "
    caption = render_comparisons(_rows("bayes"), "text").splitlines()[0]
    assert "; P(equiv.): Δ within ±0.01, the region of practical equivalence;" in caption
    assert "probabilities are per row, not adjusted for the family" in caption


def test_markdown_is_a_pipe_table_under_its_caption() -> None:
    text = render_comparisons(_rows(), "markdown")
    lines = text.splitlines()
    assert lines[0].startswith("**validation accuracy:") and lines[0].endswith("**")
    assert lines[2] == "| variant | n | Δ | interval | p | p adj. | MDE | paired | verdict | note |"
    assert lines[3] == "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |"
    assert len(lines) == 4 + 3


def test_latex_is_a_booktabs_table_with_escaped_symbols() -> None:
    text = render_comparisons(_rows(), "latex", label="tab:cmp")
    # variant and note break into lines in a table as wide as the text block (tabularx)
    wrap = r">\{\\raggedright\\arraybackslash\\hsize=[0-9.]+\\hsize\}X"
    assert re.search(rf"\\begin\{{tabularx\}}\{{\\linewidth\}}\{{{wrap}rrrrrrll{wrap}\}}", text)
    assert r"\toprule" in text
    assert r"\label{tab:cmp}" in text
    assert r"$\Delta$" in text and "Δ" not in text and "−" not in text
    assert r"Nadeau \& Bengio 2003" in text
    assert r"relu\_seed1" in text


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_standalone_comparison_compiles(pdflatex: Callable[[str, str], Path]) -> None:
    pdflatex("cmp", render_comparisons(_rows("bayes"), "latex", standalone=True))


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown comparison format 'xml'"):
        render_comparisons(_rows(), "xml")  # type: ignore[arg-type]


MODEL: dict[str, Any] = {"family": "sequential", "convs": [{"channels": 8}, {"channels": 16}]}


def _table_rows() -> list[TableRow]:
    rows = []
    for name, activation in (("relu", "relu"), ("elu", "elu"), ("relu_seed1", "relu")):
        train = {"seed": 1} if name == "relu_seed1" else {}
        config = validate_trial({"model": {**MODEL, "activation": activation}, "train": train}, "t")
        mean = sum(SCORES[name]) / 5
        rows.append(TableRow(name, config, "finished", {"val_accuracy_mean": mean}))
    missing = validate_trial({"model": {**MODEL, "dense": [64]}}, "t")
    return [*rows, TableRow("dense64", missing, "missing")]


def test_delta_column_marks_intervals_that_exclude_zero() -> None:
    (table,) = build_tables(_table_rows(), title="Activations")
    with_delta = add_delta_column(table, _rows())
    column = with_delta.frame["Δ vs relu"]
    assert list(column) == ["baseline", "+0.060†", "+0.002", ""]
    assert list(with_delta.frame.columns)[:-1] == list(table.frame.columns)
    assert with_delta.caption == (
        f"{table.caption}. Δ: difference in mean validation accuracy to relu, 95% interval "
        "from the corrected resampled t-test (Nadeau & Bengio 2003) over 5 paired folds; "
        "† marks intervals that exclude zero."
    )
    assert table.frame.shape[1] + 1 == with_delta.frame.shape[1]  # the input is left as it was


def test_delta_column_names_the_bayesian_test_and_marks_unpaired_rows() -> None:
    other_split = TrialScores(
        "relu_seed1", {"val_accuracy": {f"f{i}": s for i, s in enumerate(SCORES["elu"])}}, "other"
    )
    trials = [*_trials()[:2], other_split]
    (table,) = build_tables(_table_rows()[:3], title="Activations")
    with_delta = add_delta_column(table, compare_all(trials, "relu", test="bayes"))
    assert list(with_delta.frame["Δ vs relu"]) == ["baseline", "+0.060†", "+0.060† (u)"]
    assert "credible interval of the Bayesian correlated t-test (Benavoli et al. 2017)" in (
        with_delta.caption
    )
    assert with_delta.caption.endswith("; (u): unpaired, the trials' folds differ.")


def test_delta_table_renders_in_latex_and_markdown() -> None:
    (table,) = build_tables(_table_rows(), title="Activations")
    with_delta = add_delta_column(table, _rows())
    latex = render_latex([with_delta])
    assert r"$\Delta$ vs relu" in latex and r"+0.060$^{\dagger}$" in latex
    assert "Δ vs relu" in render_markdown([with_delta])
