"""Captions and footers say what the numbers are: data, protocol, commit, shared overrides."""

from __future__ import annotations

from typing import Any

from ferablate.config import parse_sweep, resolve_trial
from ferablate.tables import TableRow, build_tables, render_latex, render_markdown

BASE = parse_sweep(
    {
        "name": "provenance",
        "base": {
            "data": {"source": "fer2013"},
            "model": {"preset": "report-model1"},
            "train": {"folds": 5, "epochs": 10, "batch_size": 32},
        },
    }
).base
FER_HASH = "0123456789abcdef"
COMMIT = "5a95330c0ffee0000000000000000000deadbeef"
METRICS = {"val_accuracy_mean": 0.4, "val_precision_mean": 0.3, "val_recall_mean": 0.35}


def _row(name: str, patch: dict[str, Any], **origin: Any) -> TableRow:
    config = resolve_trial(
        BASE, [("--set", {"data.limit": 4000, "data.balance": "report", **patch})]
    )
    status = origin.pop("status", "finished")
    fields = {"data_hash": FER_HASH, "git_commit": COMMIT, "precision": "bf16", **origin}
    return TableRow(name, config, status, METRICS, "run", **fields)


def test_caption_states_data_protocol_commit_overrides_and_footnotes_other_origins() -> None:
    rows = [
        _row("relu", {}),
        _row("elu", {"model.activation": "elu"}),
        _row("elu-old", {"model.activation": "elu", "train.seed": 1}, git_commit="1111111aaaa" * 4),
        _row("dense64", {"model.dense": [64]}, status="diverged"),
    ]
    (table,) = build_tables(rows, title="Model 1", base=resolve_trial(BASE, []))
    assert table.footer.startswith(
        "Data: fer2013 01234567, 4000 Training faces (data.limit), balance report; "
        "5 folds × 1 repeat, 10 epochs, batch 32, bf16; code 5a95330c."
    )
    assert "Set for every trial: data.balance=report, data.limit=4000." in table.footer
    assert "‡ Other code or data than the rest: elu-old (code 1111111a)." in table.footer
    assert table.frame.loc[2, "act."].endswith("‡")
    assert list(table.frame.loc[3, ["acc.", "prec.", "recall"]]) == ["diverged", "", ""]
    assert table.statuses[3] == "diverged"
    latex = render_latex([table])
    assert r"5 folds $\times$ 1 repeat" in latex and r"data.limit=4000" in latex
    assert r"$^{\ddagger}$" in latex and "code 5a95330c" in latex
    markdown = render_markdown([table])
    assert markdown.rstrip().endswith(
        "elu-old (code 1111111a). Diverged: the training loss became non-finite or exceeded "
        "train.diverge_loss (no scores)."
    )  # footer


def test_a_dirty_tree_and_unknown_commit_are_said() -> None:
    (dirty,) = build_tables([_row("a", {}, git_commit=f"{COMMIT}+dirty")], title="t")
    assert "code 5a95330c+dirty." in dirty.footer
    (unknown,) = build_tables([_row("a", {}, git_commit="")], title="t")
    assert "code commit unknown" in unknown.footer


def test_latex_caption_speaks_a_readers_words_and_notes_carry_hash_and_commit() -> None:
    rows = [_row("relu", {}), _row("no-bn", {"model.batch_norm": False})]
    (table,) = build_tables(rows, title="Model 1", base=resolve_trial(BASE, []))
    assert table.latex_caption.endswith(
        "FER2013 Training, 4,000-face stratified subset; classes balanced before the folds were "
        "split (the report's protocol); 5 folds × 1 repeat, 10 epochs, batch 32; bf16."
    )
    assert "01234567" not in table.latex_caption and "5a95330c" not in table.latex_caption
    assert table.notes[0] == "Data 01234567; code 5a95330c."
    assert any("no batch-n" in note for note in table.notes)  # the mixed dropout column
    assert table.frame.loc[1, "dropout"] == "yes, no batch-n"  # the report's cell text stays
    latex = render_latex([table])
    caption_at, tabular_at = latex.index(r"\caption{"), latex.index(r"\begin{tabular}")
    notes_at = latex.index(r"\begin{tablenotes}")
    assert caption_at < tabular_at < latex.index("code 5a95330c") and notes_at < latex.index(
        "Data 01234567"
    )
    assert r"\begin{threeparttable}" in latex  # caption no wider than the table


def test_synthetic_data_is_named_once_and_one_epoch_is_singular() -> None:
    config = resolve_trial(
        BASE,
        [("--set", {"data.source": "synthetic", "data.synthetic_size": 210, "train.epochs": 1})],
    )
    row = TableRow(
        "tiny", config, "finished", METRICS, "run", data_hash="synthetic-v1-0-210",
        git_commit=COMMIT, precision="bf16",
    )  # fmt: skip
    (table,) = build_tables([row], title="Tiny", base=resolve_trial(BASE, []))
    assert table.footer.startswith("Data: synthetic-v1-0-210, ")
    assert "5 folds × 1 repeat, 1 epoch, batch 32" in table.footer
