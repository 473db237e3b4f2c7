"""How trials end, end to end: diverged trials, Ctrl-C in a final run, storage-backed sweeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ferablate import DivergedError, TrialOutcome
from ferablate.config import parse_sweep
from ferablate.engine import TrialCallback, TrialInfo
from ferablate.runner import RunOptions, run_final, run_sweep, run_sweep_on_storage
from ferablate.tracking import TAG, RunStore, TrialTracker

TINY: dict[str, Any] = {
    "data": {"source": "synthetic", "synthetic_size": 210},
    "model": {"family": "sequential", "convs": [{"channels": 4}], "dense": [8]},
    "train": {"folds": 2, "epochs": 1, "batch_size": 32},
}


def test_a_diverged_trial_ends_failed_tagged_diverged_and_the_sweep_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ferablate.engine as sweep_module  # the runner looks run_trial up when it trains

    real = sweep_module.run_trial

    def diverging(config, training, callbacks):  # type: ignore[no-untyped-def]
        if config.train.lr == 0.5:
            raise DivergedError("training loss is nan", fold="f1", epoch=2)
        return real(config, training, callbacks)

    monkeypatch.setattr(sweep_module, "run_trial", diverging)
    sweep = parse_sweep(
        {
            "name": "nan",
            "base": TINY,
            "variants": [{"name": "bad", "set": {"train.lr": 0.5}}, {"name": "fine"}],
        }
    )
    bad, fine = run_sweep(sweep, options=RunOptions(figures=False))
    assert (bad.status, fine.status) == (TrialOutcome.DIVERGED, TrialOutcome.FINISHED)
    assert bad.run_id is not None
    stored = RunStore().get_run(bad.run_id)
    assert (stored.status, stored.failure, stored.outcome) == (
        "FAILED",
        "diverged",
        TrialOutcome.DIVERGED,
    )
    assert "fold f1" in stored.failure_reason and "epoch 2" in stored.failure_reason
    again = run_sweep(
        sweep, options=RunOptions(figures=False)
    )  # a diverged trial is no result to skip
    assert [o.status for o in again] == ["diverged", "skipped"]


def test_a_loss_above_train_diverge_loss_is_stored_diverged_not_finished() -> None:
    # a real tiny trial: its first epoch's loss (~ ln 7) is above a threshold of 0.01
    low = {**TINY, "train": {**TINY["train"], "diverge_loss": 0.01}}
    (report,) = run_sweep(
        parse_sweep({"name": "explode", "base": low}), options=RunOptions(figures=False)
    )
    assert report.status == TrialOutcome.DIVERGED and report.run_id is not None
    stored = RunStore().get_run(report.run_id)
    assert (stored.status, stored.failure) == ("FAILED", "diverged")
    assert "above train.diverge_loss=0.01" in stored.failure_reason


def test_ctrl_c_in_a_final_run_ends_it_killed_with_a_reason() -> None:
    class Interrupt(TrialCallback):
        def on_trial_start(self, info: TrialInfo) -> None:
            raise KeyboardInterrupt

    sweep = parse_sweep({"name": "ctrl-c", "base": TINY})
    from ferablate.config import expand_sweep

    with pytest.raises(KeyboardInterrupt):
        run_final(expand_sweep(sweep)[0], "ctrl-c", callbacks=[Interrupt()], figures=False)
    (run,) = TrialTracker("ctrl-c").search(f"tags.`{TAG.ROLE}` = 'final'")
    assert run.info.status == "KILLED" and run.data.tags[TAG.FAILURE] == "killed"
    assert run.data.tags[TAG.FAILURE_REASON] == "interrupted by the user (SIGINT)"


def test_a_storage_backed_sweep_runs_from_the_library(tmp_path: Path) -> None:
    sweep = parse_sweep(
        {
            "name": "lib-grid",
            "base": TINY,
            "variants": [{"name": "a"}, {"name": "b", "set": {"train.lr": 0.01}}],
        }
    )
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    report = run_sweep_on_storage(sweep, None, options=RunOptions(storage=storage, figures=False))
    assert sorted(w.trial.name for w in report.worked) == ["a", "b"]
    assert [w.status for w in report.worked] == [TrialOutcome.FINISHED] * 2
    assert report.totals == {"COMPLETE": 2}
    assert report.best is not None and report.best.value == max(
        w.value or 0.0 for w in report.worked
    )
    again = run_sweep_on_storage(
        sweep, None, options=RunOptions(storage=storage, figures=False)
    )  # all finished: nothing to do
    assert again.worked == [] and again.totals == {"COMPLETE": 2}
