"""Claims: verdicts on fixed fold scores, the exact CSV, and the rendered table."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import pytest

from ferablate import ConfigError
from ferablate.config import Claim
from ferablate.stats import TrialScores
from ferablate.tables import CLAIM_COLUMNS, SweepClaims, check_claims, claims_frame, render_claims

SPLIT = ("data", "5 folds", "split seed 0")
BASE = [0.40, 0.42, 0.41, 0.43, 0.39]
CLEARLY_BETTER = [0.45, 0.48, 0.47, 0.50, 0.45]
SLIGHTLY_BETTER = [0.43, 0.44, 0.42, 0.47, 0.40]  # p = 0.066, MDE 0.033 > Δ 0.022
SAME = [0.401, 0.419, 0.411, 0.429, 0.391]  # within ±0.002 of BASE on every fold
CSV_HEADER = "claim,variant,versus,expect,metric,n,delta,ci_low,ci_high,p_value,p_adjusted,mde,verdict,reason"


def _trial(name: str, scores: Sequence[float], split: object = SPLIT) -> TrialScores:
    folds = {f"f{i}": score for i, score in enumerate(scores)}
    return TrialScores(variant=name, scores={"val_accuracy": folds}, split_key=split)


TRIALS = {
    "base": _trial("base", BASE),
    "clear": _trial("clear", CLEARLY_BETTER),
    "slight": _trial("slight", SLIGHTLY_BETTER),
    "same": _trial("same", SAME),
    "elsewhere": _trial("elsewhere", CLEARLY_BETTER, split="another split"),
    "failed": TrialScores("failed", {}, None, status="failed"),
}


def _verdict(variant: str, versus: str, expect: str, **options: object) -> tuple[str, str]:
    claim = Claim(says="s", variant=variant, versus=versus, expect=expect)  # type: ignore[arg-type]
    (row,) = check_claims([claim], TRIALS, **options)  # type: ignore[arg-type]
    return row.verdict, row.reason


@pytest.mark.parametrize(
    ("variant", "versus", "expect", "verdict"),
    [
        ("clear", "base", "better", "supported"),
        ("base", "clear", "better", "contradicted"),
        ("base", "clear", "worse", "supported"),
        ("clear", "base", "worse", "contradicted"),
        ("same", "base", "equivalent", "supported"),
        ("clear", "base", "equivalent", "contradicted"),
        ("same", "base", "not-better", "supported"),  # interval's upper end below the ROPE
        ("base", "clear", "not-better", "supported"),  # worse
        ("clear", "base", "not-better", "contradicted"),
    ],
)
def test_designed_verdicts(variant: str, versus: str, expect: str, verdict: str) -> None:
    assert _verdict(variant, versus, expect) == (verdict, "")


def test_not_shown_says_too_few_folds_with_the_mde_and_the_repeats() -> None:
    verdict, reason = _verdict("slight", "base", "better")
    assert verdict == "not shown"
    assert reason == "too few folds to see it (MDE 0.033; 4 repeats needed)"
    verdict, reason = _verdict("slight", "base", "equivalent")
    assert verdict == "not shown" and reason.startswith("too few folds to see it (MDE 0.033")


def test_not_shown_says_interval_includes_zero_when_the_study_could_see_it() -> None:
    # A wide ROPE: the MDE (0.033) is below it, so the study could see an effect of that size.
    verdict, reason = _verdict("slight", "base", "better", rope=0.05)
    assert (verdict, reason) == ("not shown", "interval includes zero")


def test_the_family_adjustment_can_undo_a_nominal_verdict() -> None:
    claims = [
        Claim(says="clear", variant="clear", versus="base", expect="better"),
        Claim(says="nominal", variant="slight", versus="base", expect="better"),
        Claim(says="same", variant="same", versus="base", expect="better"),  # large p
    ]
    alone = check_claims(claims, TRIALS, rope=0.0, adjust="none", alpha=0.07)
    assert [row.verdict for row in alone] == ["supported", "supported", "not shown"]
    p = alone[1].comparison.p_value
    assert p is not None and p == pytest.approx(0.0657, abs=1e-4)  # < 0.07 alone
    holm = check_claims(claims, TRIALS, rope=0.0, adjust="holm", alpha=0.07)
    assert holm[1].comparison.p_adjusted == pytest.approx(2 * p)  # rank 2 of 3: p·2
    assert holm[1].verdict == "not shown" and holm[0].verdict == "supported"
    assert holm[1].reason.startswith("too few folds")
    bh = check_claims(claims, TRIALS, rope=0.0, adjust="bh", alpha=0.07)
    assert bh[1].comparison.p_adjusted == pytest.approx(p * 3 / 2)
    assert bh[1].verdict == "not shown" and all(row.comparison.adjust == "bh" for row in bh)


def test_unpaired_pair_follows_the_different_split_rule() -> None:
    claim = Claim(says="s", variant="elsewhere", versus="base", expect="better")
    (row,) = check_claims([claim], TRIALS)
    assert not row.comparison.paired
    assert "unpaired: different split" in row.comparison.note
    assert row.comparison.repeats_needed is None and row.comparison.mde is not None


def test_a_trial_without_results_is_a_row_not_an_error() -> None:
    for variant, versus in (("failed", "base"), ("base", "failed")):
        claim = Claim(says="s", variant=variant, versus=versus, expect="better")
        (row,) = check_claims([claim], TRIALS)
        assert (row.verdict, row.comparison.n) == ("not shown", 0)
        assert "failed" in row.reason
    with pytest.raises(ConfigError, match="no trial of variant 'nope'"):
        check_claims([Claim(says="s", variant="nope", versus="base", expect="better")], TRIALS)


def test_bayes_verdicts_read_the_probabilities() -> None:
    assert _verdict("clear", "base", "better", test="bayes")[0] == "supported"
    assert _verdict("same", "base", "equivalent", test="bayes")[0] == "supported"
    assert _verdict("clear", "base", "not-better", test="bayes")[0] == "contradicted"


def _result(test: str = "corrected-t") -> SweepClaims:
    claims = [
        Claim(says="clear is better", variant="clear", versus="base", expect="better"),
        Claim(says="slight is better", variant="slight", versus="base", expect="better"),
        Claim(says="no difference", variant="same", versus="base", expect="equivalent"),
    ]
    rows = check_claims(claims, TRIALS, test=test)  # type: ignore[arg-type]
    return SweepClaims(name="tiny", rows=rows, caption="tiny: claims", footer="Data: x.")


def test_csv_has_exactly_the_documented_columns() -> None:
    text = render_claims(_result(), "csv")
    assert text.splitlines()[0] == CSV_HEADER == ",".join(CLAIM_COLUMNS)
    frame = pd.read_csv(io.StringIO(text), keep_default_na=False)
    assert list(frame["verdict"]) == ["supported", "not shown", "supported"]
    assert frame["mde"].iloc[1] == pytest.approx(0.0325, abs=1e-4)
    assert frame["reason"].iloc[1].startswith("too few folds")
    assert list(claims_frame(_result()).columns) == list(CLAIM_COLUMNS)


def test_text_markdown_and_latex_carry_the_sentence_the_numbers_and_the_verdict() -> None:
    result = _result()
    text = render_claims(result, "text")
    (line,) = [line for line in text.splitlines() if line.startswith("slight is better")]
    assert "0.033" in line and "not shown" in line and "4 repeats needed" in line
    assert text.rstrip().endswith("Data: x.")
    assert "| p adj. | MDE |" in render_claims(result, "markdown")
    latex = render_claims(result, "latex")
    assert r"\label{tab:claims-tiny}" in latex and r"\toprule" in latex
    bayes = render_claims(_result("bayes"), "text")
    assert "P(better)" in bayes.splitlines()[2]


def test_latex_puts_provenance_in_a_table_note_not_the_caption() -> None:
    latex = render_claims(_result(), "latex")  # as the ablation and compare tables
    caption = latex[latex.index(r"\caption{") :].split("\n", 1)[0]
    assert "tiny: claims" in caption and "Data: x." not in caption
    notes_at = latex.index(r"\begin{tablenotes}")
    assert latex.index(r"\end{tabularx}") < notes_at < latex.index("Data: x.")
    assert latex.startswith("% needs \\usepackage{booktabs,longtable,threeparttable,caption,")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex")
def test_standalone_claims_table_compiles(pdflatex: Callable[[str, str], Path]) -> None:
    assert pdflatex("claims", render_claims(_result(), "latex", standalone=True)).exists()
