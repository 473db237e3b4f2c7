"""The configuration reference page is generated from the config models and kept current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ferablate.config import TrialConfig, flatten_config, validate_trial
from ferablate.config._reference import REGENERATE, config_reference_markdown

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "configuration.md"


def test_committed_page_is_the_generated_one() -> None:
    assert PAGE.read_text(encoding="utf-8") == config_reference_markdown(), (
        f"docs/configuration.md is out of date with ferablate/config/_types.py; run: {REGENERATE}"
    )


def test_every_key_has_a_row_with_type_default_and_description() -> None:
    page = config_reference_markdown()
    rows = {
        line.split(" | ")[0].strip("| `"): line
        for line in page.splitlines()
        if line.startswith("| `")
    }
    for family in ("sequential", "inception"):
        model = (
            {"family": family, "convs": [{"channels": 4}]}
            if family == "sequential"
            else {"family": family, "blocks": [{"branches": [2, 2, 2, 2], "out": 4}]}
        )
        config: TrialConfig = validate_trial({"model": model}, "t")
        for key in flatten_config(config):
            generic = ".".join("N" if part.isdigit() else part for part in key.split("."))
            assert generic in rows, generic
            cells = rows[generic].strip("|").split(" | ")
            assert len(cells) == 4 and all(cell.strip() for cell in cells), rows[generic]
    assert "| `train.split_seed` | int | `0` | Seed of the stratified fold split" in page
    assert "| `train.repeats` | int ≥ 1, ≤ 10 | `1` | repeated k-fold" in page
    assert "| `train.score_publictest` | bool | `false` | also score the PublicTest split" in page
    assert "| `model.convs.N.kernel` | int > 0, odd | `3` |" in page


def test_module_entry_point_prints_the_page() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ferablate.config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout == config_reference_markdown()
