"""The read-only store: stored trials with identity and last-epoch metrics of every fold."""

from __future__ import annotations

from typing import Any

import pytest

from ferablate import TrialOutcome
from ferablate.config import parse_sweep
from ferablate.runner import RunOptions, run_sweep
from ferablate.tracking import RunStore

TINY: dict[str, Any] = {
    "data": {"source": "synthetic", "synthetic_size": 210},
    "model": {"family": "sequential", "convs": [{"channels": 4}], "dense": [8]},
    "train": {"folds": 2, "epochs": 2, "batch_size": 32},
}
FOLD_METRICS = {"val_accuracy", "val_precision", "val_recall", "train_loss", "val_loss"}


def test_load_trial_gives_identity_and_each_folds_last_epoch_metrics() -> None:
    sweep = parse_sweep(
        {
            "name": "store",
            "base": TINY,
            "variants": [{"name": "a"}, {"name": "b", "set": {"train.lr": 0.01}}],
        }
    )
    first, second = run_sweep(sweep, options=RunOptions(figures=False))
    assert first.result is not None and first.run_id is not None and second.run_id is not None
    store = RunStore()

    stored = store.load_trial(first.run_id)
    assert (stored.name, stored.variant, stored.config_hash) == ("a", "a", first.trial.config_hash)
    assert stored.config == first.trial.config
    assert (stored.status, stored.outcome, stored.failure) == (
        "FINISHED",
        TrialOutcome.FINISHED,
        "",
    )
    assert stored.data_hash.startswith("synthetic") and stored.index == 0
    assert sorted(stored.fold_metrics) == ["0", "1"]
    for fold in first.result.folds:
        logged = stored.fold_metrics[str(fold.fold)]
        assert set(logged) == FOLD_METRICS
        assert logged["val_accuracy"] == pytest.approx(fold.final.val_accuracy)  # epoch 2, not 1
        assert logged["train_loss"] == pytest.approx(fold.final.train_loss)

    every = {trial.variant: trial for trial in store.load_trials("store")}
    assert sorted(every) == ["a", "b"] and every["a"].fold_metrics == stored.fold_metrics

    by_hash = store.newest_finished("store", config_hash=first.trial.config_hash)
    assert by_hash is not None and by_hash.run_id == first.run_id
    found = store.newest_finished("store", config_hash="no-such-hash", variant="b")
    assert found is not None and found.run_id == second.run_id
    assert store.newest_finished("store", config_hash="no-such-hash") is None
    assert store.trial_runs("absent") == [] and store.experiment_id("absent") is None
