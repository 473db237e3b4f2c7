"""A table's caption reads as one sentence, whatever its title ends with."""

from __future__ import annotations

from pathlib import Path

from ferablate.config import expand_sweep, load_sweep, resolve_trial
from ferablate.tables import TableRow, build_tables

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"


def test_a_title_ending_in_a_full_stop_gives_no_stop_before_the_colon() -> None:
    sweep = load_sweep(SWEEPS / "quickstart.yaml")
    assert sweep.description is not None and sweep.description.endswith(".")
    rows = [TableRow(t.name, t.config, "missing") for t in expand_sweep(sweep, None)]
    (table,) = build_tables(rows, title=sweep.description, base=resolve_trial(sweep.base, []))
    assert ".:" not in table.caption
    assert table.caption == (
        "Model 1 baseline (3x3 convs 8/16/32 with max-pool, dense 32), no batch norm, ELU, "
        "synthetic faces: validation scores, mean over 5 folds after 8 epochs"
    )
