"""``ferablate run`` says when folds stayed at chance; ``compare`` and ``table --vs`` read the runs."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import yaml
from typer.testing import CliRunner

from ferablate.cli import app

runner = CliRunner()
SWEEP = {
    "name": "cli-compare",
    "base": {
        "data": {"source": "synthetic", "synthetic_size": 140},
        "model": {"family": "sequential", "convs": [{"channels": 4}], "dense": [8]},
        "train": {"folds": 2, "epochs": 1, "batch_size": 32, "lr": 1e-9},  # stays at chance
    },
    "variants": [{"name": "a"}, {"name": "b", "set": {"train.seed": 1}}],
}
CSV_HEADER = "variant,baseline,metric,n,delta,ci_low,ci_high,p_value,p_better,p_equivalent,p_worse,paired,verdict,mde,repeats_needed,p_adjusted"


def test_run_then_compare_and_table_vs_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(SWEEP))
    ran = runner.invoke(app, ["run", str(path), "--no-figures", "--set", "data.limit=112"])
    assert ran.exit_code == 0, ran.output
    assert (
        " ".join(ran.output.split()).count("folds at chance") == 2
    )  # "finished (2 folds at chance)"

    compared = runner.invoke(app, ["compare", str(path), "-f", "csv", "--set", "data.limit=112"])
    assert compared.exit_code == 0, compared.output
    assert compared.output.splitlines()[0] == CSV_HEADER
    frame = pd.read_csv(io.StringIO(compared.output), keep_default_na=False)
    assert list(frame[["variant", "baseline", "n", "paired"]].itertuples(index=False)) == [
        ("b", "a", 2, True)
    ]
    # without the --set the runs were made with, no run has these configs: the error names it
    bare = runner.invoke(app, ["compare", str(path), "--baseline", "b"])
    assert bare.exit_code != 0
    assert "baseline 'b' has no run under these settings" in str(bare.exception)
    assert str(bare.exception).endswith("add --set data.limit=112 to see them")

    table = runner.invoke(
        app, ["table", str(path), "--vs", "a", "-f", "markdown", "--set", "data.limit=112"]
    )
    assert table.exit_code == 0, table.output
    assert "| Δ vs a |" in table.output and "| baseline |" in table.output
    assert "Set for every trial: data.limit=112." in table.output
    assert "112 Training faces (data.limit)" in table.output
    assert "§ Folds that stayed at chance" in table.output
