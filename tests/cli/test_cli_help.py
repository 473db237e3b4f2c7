"""Every command's --help as a user reads it: flags without a value type, no literal markup."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ferablate.cli import app

runner = CliRunner()

COMMANDS = [
    [],
    ["run"],
    ["summary"],
    ["table"],
    ["compare"],
    ["claims"],
    ["viz"],
    ["final"],
    ["appendix"],
    ["optuna"],
    ["worker"],
    ["ui"],
    ["data", "info"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_help_shows_flags_without_a_bool_type(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert "--help" in result.output
    assert "<bool>" not in result.output
    assert "``" not in result.output  # RST literals are printed as is by rich


def test_run_help_does_not_promise_five_folds() -> None:
    result = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "100"})
    assert "5-fold" not in result.output
    assert "train.folds" in result.output
