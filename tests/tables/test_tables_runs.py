"""Tables from tracked runs: newest FINISHED run per trial, OOM / failed / missing rows, CLI."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from ferablate._errors import TrackingError
from ferablate.cli import app
from ferablate.config import Sweep, Trial, expand_sweep, parse_sweep
from ferablate.data import data_fingerprint
from ferablate.runner import run_sweep
from ferablate.tables import (
    COLLAPSED_MARK,
    experiment_tables,
    render_latex,
    sweep_rows,
    sweep_tables,
)
from ferablate.tracking import TrialTracker

TINY: dict[str, Any] = {
    "data": {"source": "synthetic", "synthetic_size": 280},
    "model": {"family": "sequential", "convs": [{"channels": 4}, {"channels": 8}], "dense": [8]},
    "train": {"folds": 2, "epochs": 1, "batch_size": 32},
}


def _sweep(variants: list[dict[str, Any]], name: str = "tiny-table") -> Sweep:
    return parse_sweep(
        {"name": name, "description": "Tiny & small", "base": TINY, "variants": variants}
    )


def _fake_run(
    tracker: TrialTracker, trial: Trial, accuracy: float | None, failure: str | None = None
) -> str:
    """A trial run without training: FINISHED with metrics, or FAILED with a failure tag."""
    # the data hash is part of the identity: a fabricated run claims the sweep's real faces
    run = tracker.start(trial, data_hash=data_fingerprint(trial.config.data))
    if failure is not None:
        run.fail(failure, f"{failure} (fabricated)")
        return run.run_id
    assert accuracy is not None
    for stem in ("val_accuracy", "val_precision", "val_recall"):
        tracker.client.log_metric(run.run_id, f"{stem}_mean", accuracy)
        tracker.client.log_metric(run.run_id, f"{stem}_std", 0.01)
    tracker.client.set_terminated(run.run_id, "FINISHED")
    return run.run_id


def test_real_sweep_with_an_out_of_memory_trial_reads_no_fit_in_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The engine classifies a (simulated) CUDA OOM; the runner tags it; the table shows it."""
    import ferablate.engine._trainer as trainer

    real = trainer._train_plan

    def train_or_run_out(config: Any, plan: Any, callbacks: Any) -> Any:
        if config.train.batch_size == 64:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if config.train.lr == 0.5:
            raise RuntimeError("something else broke")
        return real(config, plan, callbacks)

    monkeypatch.setattr(trainer, "_train_plan", train_or_run_out)
    sweep = _sweep(
        [
            {"name": "base"},
            {"name": "big-batch", "set": {"train.batch_size": 64}},
            {"name": "broken", "set": {"train.lr": 0.5}},
        ]
    )
    outcomes = run_sweep(sweep)
    assert [o.status for o in outcomes] == ["finished", "oom", "failed"]
    grown = _sweep(
        [
            *({"name": v.name, "set": dict(v.patch)} for v in sweep.variants),
            {"name": "later", "set": {"train.seed": 7}},
        ]
    )

    (table,) = sweep_tables(grown)
    frame = table.frame
    assert table.statuses == ("finished", "oom", "failed", "missing")
    assert float(frame.loc[0, "acc."].rstrip(COLLAPSED_MARK)) == pytest.approx(
        outcomes[0].summary["val_accuracy_mean"], abs=0.006
    )
    assert list(frame.loc[1, ["acc.", "prec.", "recall"]]) == ["no fit in memory", "", ""]
    assert frame.loc[1, "act."] == "ReLU batch=64"
    assert list(frame.loc[2, ["acc.", "prec.", "recall"]]) == ["failed", "", ""]
    assert list(frame.loc[3, ["acc.", "prec.", "recall"]]) == ["—", "—", "—"]
    assert r"no fit in memory" in render_latex([table])


def test_newest_finished_run_wins_and_failures_do_not_hide_it() -> None:
    sweep = _sweep(
        [
            {"name": "a"},
            {"name": "b", "set": {"model.activation": "elu"}},
            {"name": "c", "set": {"train.lr": 0.01}},
        ]
    )
    first, second, third = expand_sweep(sweep)
    tracker = TrialTracker(sweep.name)
    _fake_run(tracker, third, None, failure="killed")  # Ctrl-C: not a failure of the config
    _fake_run(tracker, first, 0.30)
    newest = _fake_run(tracker, first, 0.40)
    _fake_run(tracker, first, None, failure="oom")  # newer, but failed: the finished one stays
    _fake_run(tracker, second, None, failure="error")
    _fake_run(tracker, second, None, failure="oom")  # the newest failure decides

    rows = sweep_rows(sweep)
    assert (rows[0].status, rows[0].run_id) == ("finished", newest)
    assert rows[0].metrics["val_accuracy_mean"] == pytest.approx(0.40)
    assert rows[1].status == "oom"
    assert rows[2].status == "interrupted"
    (table,) = sweep_tables(sweep, std=True)
    assert table.frame.loc[0, "acc."] == "0.40 ± 0.01"
    assert table.frame.loc[1, "act."] == "ELU"


def test_a_sweep_nobody_ran_is_an_error_and_creates_no_store_or_experiment() -> None:
    sweep = _sweep([{"name": "a"}])
    with pytest.raises(TrackingError, match="no MLflow store at"):  # read-only: never creates one
        sweep_tables(sweep)
    TrialTracker("another-sweep")  # the store exists now, the sweep's experiment does not
    with pytest.raises(TrackingError, match=r"no experiment 'tiny-table'.*another-sweep"):
        sweep_tables(sweep)
    with pytest.raises(TrackingError, match="no experiment 'tiny-table'"):
        experiment_tables(sweep.name)


def test_experiment_mode_orders_rows_by_trial_index() -> None:
    sweep = _sweep(
        [{"name": "first"}, {"name": "second", "set": {"train.lr": 0.001}}], name="by-index"
    )
    first, second = expand_sweep(sweep)
    tracker = TrialTracker(sweep.name)
    _fake_run(tracker, second, 0.2)  # logged first, but its index puts it second
    _fake_run(tracker, first, 0.3)
    (table,) = experiment_tables(sweep.name)
    assert table.names == ("first", "second")
    assert list(table.frame["act."]) == ["ReLU", "ReLU lr=1e-3"]  # notes against the first row


def test_cli_table_writes_latex_markdown_csv(tmp_path: Path) -> None:
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(
        "name: cli-table\nbase:\n  model: {preset: baseline-model1}\n"
        "variants:\n  - name: base\n  - name: elu_50%\n    set: {model.activation: elu}\n"
    )
    sweep = parse_sweep(
        {"name": "cli-table", "base": {"model": {"preset": "baseline-model1"}},
         "variants": [{"name": "base"}, {"name": "elu_50%", "set": {"model.activation": "elu"}}]}
    )  # fmt: skip
    _fake_run(TrialTracker("cli-table"), expand_sweep(sweep)[1], 0.5)
    runner = CliRunner()
    out = tmp_path / "table.tex"
    result = runner.invoke(
        app, ["table", str(sweep_file), "--format", "latex", "--standalone", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    latex = out.read_text()
    assert (
        latex.startswith(r"\documentclass")
        and r"\toprule" in latex
        and r"\label{tab:cli-table}" in latex
    )
    assert "3x3x8 & 3x3x16 & 3x3x32 & 32 & 7 &  & ELU & 0.50 & 0.50 & 0.50" in latex

    result = runner.invoke(app, ["table", "--experiment", "cli-table", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert (
        result.output.splitlines()[0]
        == "trial,l1,l2,l3,d3,d4,dropout,act.,acc.,prec.,recall,status"
    )
    assert "elu_50%" in result.output

    result = runner.invoke(app, ["table", str(sweep_file), "--format", "markdown"])
    assert "| 3x3x8 | 3x3x16 | 3x3x32 | 32 | 7 |  | ReLU | — | — | — |" in result.output

    result = runner.invoke(app, ["table"])
    assert result.exit_code != 0


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_standalone_latex_compiles_with_pdflatex(pdflatex: Callable[[str, str], Path]) -> None:
    sweep = _sweep(
        [
            {"name": "a_1 & #2"},
            {"name": "b", "set": {"model.activation": "elu", "model.convs.1.dilation": 2}},
        ],
        name="compile_me 100%",
    )
    first, second = expand_sweep(sweep)
    tracker = TrialTracker(sweep.name)
    _fake_run(tracker, first, 0.5)
    _fake_run(tracker, second, None, failure="oom")
    document = render_latex(sweep_tables(sweep, std=True), standalone=True)
    assert pdflatex("table", document).stat().st_size > 1000
