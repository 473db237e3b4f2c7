"""A real (tiny) sweep through engine + MLflow: run layout, skip-on-rerun, failures, learning."""

from __future__ import annotations

import json

import pytest
import torch

from ferablate.config import parse_sweep
from ferablate.runner import RunOptions, run_sweep
from ferablate.tracking import TAG, TrialTracker

TINY = {
    "data": {"source": "synthetic", "synthetic_size": 420},
    "model": {
        "family": "sequential",
        "convs": [{"channels": 4}, {"channels": 8}],
        "dense": [16],
        "activation": "elu",
    },
    "train": {"folds": 2, "epochs": 2, "batch_size": 32, "lr": 0.003},
}


def _sweep(variants: list[dict[str, object]], name: str = "tiny") -> object:
    return parse_sweep({"name": name, "base": TINY, "variants": variants})


def test_trial_logs_parent_and_fold_runs_then_skips_on_rerun() -> None:
    sweep = _sweep([{"name": "a"}, {"name": "b", "set": {"model.activation": "relu"}}])
    first = run_sweep(sweep, options=RunOptions(figures=False))
    assert [o.status for o in first] == ["finished", "finished"]

    tracker = TrialTracker("tiny")
    parents = tracker.search(f"tags.`{TAG.ROLE}` = 'trial'")
    assert len(parents) == 2
    parent = next(r for r in parents if r.data.tags[TAG.VARIANT] == "a")
    assert parent.info.status == "FINISHED"
    tags = parent.data.tags
    assert tags[TAG.CONFIG_HASH] == first[0].trial.config_hash
    assert tags[TAG.DATA_HASH].startswith("synthetic")
    assert tags[TAG.DEVICE] in ("cpu", "cuda") and tags[TAG.PRECISION] in ("fp32", "bf16")
    assert tags[TAG.VERSION]
    assert parent.data.params["model.convs.1.channels"] == "8"
    assert parent.data.params["train.folds"] == "2"
    for metric in ("val_accuracy", "val_precision", "val_recall"):
        assert 0.0 <= parent.data.metrics[f"{metric}_mean"] <= 1.0
        assert f"{metric}_std" in parent.data.metrics

    folds = tracker.search(f"tags.`{TAG.PARENT}` = '{parent.info.run_id}'")
    assert sorted(r.data.tags[TAG.FOLD] for r in folds) == ["0", "1"]
    history = tracker.client.get_metric_history(folds[0].info.run_id, "val_loss")
    assert [m.step for m in history] == [1, 2]  # one point per epoch, step = epoch
    assert all(r.info.status == "FINISHED" for r in folds)

    artifacts = {a.path for a in tracker.client.list_artifacts(parent.info.run_id)}
    assert {"weights", "predictions.json", "history.json", "config.json"} <= artifacts
    local = tracker.client.download_artifacts(parent.info.run_id, "weights/fold-0.pt")
    state = torch.load(local, weights_only=True)
    assert state["features.0.weight"].shape[0] == 4

    again = run_sweep(sweep, options=RunOptions(figures=False))
    assert [o.status for o in again] == ["skipped", "skipped"]
    assert again[0].run_id == first[0].run_id
    assert len(tracker.search(f"tags.`{TAG.ROLE}` = 'trial'")) == 2  # nothing new was logged

    forced = run_sweep(sweep, options=RunOptions(rerun=True, figures=False))
    assert [o.status for o in forced] == ["finished", "finished"]


def test_failing_trial_is_logged_failed_and_the_sweep_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ferablate.engine as sweep_module  # the runner looks run_trial up when it trains

    real = sweep_module.run_trial

    def flaky(config, training, callbacks):  # type: ignore[no-untyped-def]
        if config.model.activation == "relu":
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
        if config.train.seed == 7:
            raise ValueError("boom")
        return real(config, training, callbacks)

    monkeypatch.setattr(sweep_module, "run_trial", flaky)
    sweep = _sweep(
        [
            {"name": "oom", "set": {"model.activation": "relu"}},
            {"name": "broken", "set": {"train.seed": 7}},
            {"name": "fine"},
        ],
        name="failures",
    )
    outcomes = run_sweep(sweep, options=RunOptions(figures=False))
    assert [o.status for o in outcomes] == ["failed", "failed", "finished"]
    tracker = TrialTracker("failures")
    runs = {r.data.tags[TAG.VARIANT]: r for r in tracker.search(f"tags.`{TAG.ROLE}` = 'trial'")}
    assert runs["oom"].info.status == "FAILED"
    assert "boom" in runs["broken"].data.tags[TAG.FAILURE_REASON]
    assert runs["fine"].info.status == "FINISHED"


def test_oom_inside_the_engine_is_classified() -> None:
    from ferablate import OutOfMemoryError
    from ferablate.config import expand_sweep
    from ferablate.data import load_data
    from ferablate.engine import TrialCallback, run_trial

    class Exhausted(TrialCallback):
        def on_step(self, epoch: int, step: int, steps: int, loss: float | None) -> None:
            raise RuntimeError(
                "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"
            )

    config = expand_sweep(_sweep([{"name": "a"}]))[0].config
    with pytest.raises(OutOfMemoryError):
        run_trial(config, load_data(config.data).split("Training"), [Exhausted()])


def test_learns_well_above_chance_on_synthetic_faces() -> None:
    sweep = parse_sweep(
        {
            "name": "learn",
            "base": {
                **TINY,
                "data": {"source": "synthetic", "synthetic_size": 1400},
                "model": {"preset": "baseline-model1", "batch_norm": False, "activation": "elu"},
                "train": {"folds": 2, "epochs": 5, "batch_size": 32, "lr": 0.002},
            },
        }
    )
    (outcome,) = run_sweep(sweep, options=RunOptions(figures=False))
    assert outcome.status == "finished"
    # chance is 1/7 = 0.14 (0.25 for always predicting the majority class)
    assert outcome.summary["val_accuracy_mean"] > 0.45, json.dumps(outcome.summary)
