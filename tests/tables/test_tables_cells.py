"""Table cells are a pure function of a config (and the sweep's base)."""

from __future__ import annotations

from typing import Any

import pytest

from ferablate.config import ConvLayerConfig, InceptionBlockConfig, TrialConfig, validate_trial
from ferablate.tables import (
    TableRow,
    architecture_cells,
    block_cell,
    build_tables,
    conv_cell,
    format_number,
    metric_cells,
)

SEQUENTIAL: dict[str, Any] = {
    "family": "sequential",
    "convs": [{"channels": 8}, {"channels": 16}, {"channels": 32}],
    "dense": [32],
}
INCEPTION: dict[str, Any] = {
    "family": "inception",
    "blocks": [
        {"branches": [4, 8, 8, 4], "out": 8},
        {"branches": [4, 8, 8, 4], "out": 16},
    ],
}


def _config(model: dict[str, Any], **sections: dict[str, Any]) -> TrialConfig:
    return validate_trial({"model": model, **sections}, "test")


@pytest.mark.parametrize(
    ("conv", "cell"),
    [
        ({"channels": 8}, "3x3x8"),
        ({"channels": 8, "pool": False}, "3x3x8 no mp"),
        ({"channels": 8, "kernel": 5, "pool": False}, "5x5x8 no mp"),
        ({"channels": 16, "dilation": 2}, "3x3x16, dil"),
        ({"channels": 16, "groups": 2}, "3x3x16, gc"),
        ({"channels": 64, "kernel": 1}, "1x1x64"),
    ],
)
def test_conv_cell(conv: dict[str, Any], cell: str) -> None:
    assert conv_cell(ConvLayerConfig(**conv)) == cell


@pytest.mark.parametrize(
    ("block", "stem", "cell"),
    [
        ({}, 3, "inc"),
        ({}, 7, "7x7 inc"),
        ({}, None, "inc"),
        ({"inner_kernels": (3, 3)}, None, "3x3 inc"),
        ({"inner_kernels": (1, 3)}, None, "1x1/3x3 inc"),
        ({"shortcut": True}, None, "inc + sc"),
        ({"inner_kernels": (3, 3)}, 7, "7x7, 3x3 inc"),
    ],
)
def test_block_cell(block: dict[str, Any], stem: int | None, cell: str) -> None:
    config = InceptionBlockConfig(branches=(4, 8, 8, 4), out=8, **block)
    assert block_cell(config, stem) == cell


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e-5, "1e-5"),
        (1e-3, "1e-3"),
        (0.01, "0.01"),
        (1e-4, "1e-4"),
        (3e-4, "3e-4"),
        (0.2, "0.2"),
        (32, "32"),
        (2.5e-4, "0.00025"),
    ],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


def test_sequential_cells_dense_dropout_and_batch_norm() -> None:
    model = {
        **SEQUENTIAL,
        "dense": [32, 16],
        "dropout": 0.2,
        "batch_norm": False,
        "activation": "elu",
    }
    cells = architecture_cells(_config(model))
    assert cells.layers == ("3x3x8", "3x3x16", "3x3x32")
    assert cells.dense == ("32", "16", "7")
    assert cells.dropout == "yes, no batch-n"
    assert cells.activation == "ELU"
    # a p other than the report's unstated 0.2 is shown
    assert architecture_cells(_config({**SEQUENTIAL, "dropout": 0.5})).dropout == "yes (0.5)"
    assert architecture_cells(_config(SEQUENTIAL)).dropout == ""


def test_inception_cells_and_notes_against_the_base() -> None:
    base = _config(INCEPTION)
    row = _config(
        {**INCEPTION, "dropout": 0.1, "activation": "elu", "dense": [64, 32], "stem_kernel": 7},
        train={"batch_size": 32, "lr": 1e-5, "seed": 3},
    )
    cells = architecture_cells(row, base)
    assert cells.layers == ("7x7 inc", "inc")
    assert cells.dense == ()
    assert cells.dropout == "yes (0.1)"
    # training notes after the activation, model notes after a comma; the seed makes none
    assert cells.activation == "ELU batch=32 lr=1e-5, more dense"
    assert architecture_cells(base, base).activation == "ReLU"
    assert (
        architecture_cells(_config({**INCEPTION, "dense": []}), base).activation
        == "ReLU, fewer dense"
    )


def test_keys_a_row_adds_make_no_note_but_changed_ones_do() -> None:
    base = _config(SEQUENTIAL)
    four = _config({**SEQUENTIAL, "convs": [*SEQUENTIAL["convs"], {"channels": 64}]})
    assert architecture_cells(four, base).activation == "ReLU"  # the new conv has its own column
    no_dropout_l1 = _config(
        {**SEQUENTIAL, "convs": [{"channels": 8, "dropout": False}, *SEQUENTIAL["convs"][1:]]}
    )
    assert architecture_cells(no_dropout_l1, base).activation == "ReLU, convs.0.dropout=no"
    limited = _config(SEQUENTIAL, data={"limit": 500}, train={"epochs": 2})
    assert architecture_cells(limited, base).activation == "ReLU limit=500 epochs=2"


def test_metric_cells_by_status() -> None:
    config = _config(SEQUENTIAL)
    metrics = {
        "val_accuracy_mean": 0.4712, "val_accuracy_std": 0.0123,
        "val_precision_mean": 0.36, "val_precision_std": 0.02,
        "val_recall_mean": 0.4249, "val_recall_std": 0.0,
    }  # fmt: skip
    assert metric_cells(TableRow("a", config, "finished", metrics)) == ("0.47", "0.36", "0.42")
    assert metric_cells(TableRow("a", config, "finished", metrics), std=True) == (
        "0.47 ± 0.01", "0.36 ± 0.02", "0.42 ± 0.00",
    )  # fmt: skip
    assert metric_cells(TableRow("a", config, "oom")) == ("no fit in memory", "", "")
    assert metric_cells(TableRow("a", config, "failed")) == ("failed", "", "")
    assert metric_cells(TableRow("a", config, "missing")) == ("—", "—", "—")


def test_table_columns_follow_the_widest_row_and_families_split() -> None:
    short = _config(SEQUENTIAL)
    long = _config(
        {**SEQUENTIAL, "convs": [*SEQUENTIAL["convs"], {"channels": 64}], "dense": [32, 16]}
    )
    inception = _config(INCEPTION)
    rows = [
        TableRow("short", short, "missing"),
        TableRow("inc", inception, "missing"),
        TableRow("long", long, "missing"),
    ]
    first, second = build_tables(rows, title="My sweep", base=short)
    assert list(first.frame.columns) == [
        "l1", "l2", "l3", "l4", "d4", "d5", "d6", "dropout", "act.", "acc.", "prec.", "recall",
    ]  # fmt: skip
    assert first.names == ("short", "long")
    assert first.frame.loc[0, "l4"] == "" and first.frame.loc[0, "d5"] == "7"
    assert first.frame.loc[1, "d6"] == "7"
    assert list(second.frame.columns) == ["l1", "l2", "dropout", "act.", "acc.", "prec.", "recall"]
    assert second.label == "tab:my-sweep-inception" and first.label == "tab:my-sweep-sequential"
    assert "model 1 family" in first.caption
