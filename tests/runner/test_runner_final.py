"""Final training on tiny synthetic data: test metrics per split, artifacts, loadable weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ferablate._errors import ConfigError
from ferablate.cli import app
from ferablate.config import CLASS_NAMES, expand_sweep, parse_sweep
from ferablate.models import create_model
from ferablate.runner import FINAL_EXPERIMENT, final_trial, run_final, score_splits
from ferablate.tracking import TAG, TrialTracker

TINY: dict[str, Any] = {
    "data": {"source": "synthetic", "synthetic_size": 280},
    "model": {"family": "sequential", "convs": [{"channels": 4}, {"channels": 8}], "dense": [8]},
    "train": {"folds": 2, "epochs": 2, "batch_size": 32, "lr": 0.003},
}


def test_score_splits_scores_each_split_and_all_together() -> None:
    labels = np.array([0, 1, 2, 0, 1, 2])
    predictions = np.array([0, 1, 2, 1, 1, 0])
    usage = np.array(["PublicTest"] * 3 + ["PrivateTest"] * 3)
    metrics, confusions = score_splits(labels, predictions, usage, ("PublicTest", "PrivateTest"))
    assert metrics["publictest_accuracy"] == 1.0
    assert metrics["privatetest_accuracy"] == pytest.approx(1 / 3)
    assert metrics["test_accuracy"] == pytest.approx(4 / 6)
    assert metrics["test_recall_angry"] == 0.5 and metrics["privatetest_recall_fear"] == 0.0
    assert "test_recall_happy" not in metrics  # no happy face: no recall to report
    assert confusions["test"].shape == (7, 7) and confusions["test"].sum() == 6
    single, _ = score_splits(labels, predictions, np.array(["Test"] * 6), ("Test",))
    assert "test_accuracy" in single and all(key.startswith("test_") for key in single)


def test_final_logs_test_metrics_confusion_and_loadable_weights(tmp_path: Path) -> None:
    sweep = parse_sweep({"name": "tiny-final", "base": TINY, "variants": [{"name": "only"}]})
    trial = expand_sweep(sweep)[0]
    seen: list[str] = []
    outcome = run_final(trial, sweep.name, on_result=lambda run, result: seen.append(run.run_id))
    assert seen == [outcome.run_id]
    assert outcome.splits == ("PublicTest", "PrivateTest")
    for key in ("test", "publictest", "privatetest"):
        for metric in ("accuracy", "precision", "recall"):
            assert 0.0 <= outcome.metrics[f"{key}_{metric}"] <= 1.0
    assert any(
        key.startswith("test_recall_") and key.removeprefix("test_recall_") in CLASS_NAMES
        for key in outcome.metrics
    )

    tracker = TrialTracker(sweep.name)
    (run,) = tracker.search(f"tags.`{TAG.ROLE}` = 'final'")
    assert run.info.run_id == outcome.run_id and run.info.status == "FINISHED"
    assert tracker.search(f"tags.`{TAG.ROLE}` = 'trial'") == []  # a final run is no table row
    assert run.data.metrics["publictest_accuracy"] == pytest.approx(
        outcome.metrics["publictest_accuracy"]
    )
    history = tracker.client.get_metric_history(run.info.run_id, "test_accuracy")
    assert [m.step for m in history] == [1, 2]
    artifacts = {a.path for a in tracker.client.list_artifacts(run.info.run_id, "confusion")}
    assert {
        "confusion/confusion_test.csv",
        "confusion/confusion_test.png",
        "confusion/confusion_privatetest.csv",
    } <= artifacts

    local = tracker.client.download_artifacts(run.info.run_id, "weights/final.pt", str(tmp_path))
    state = torch.load(local, weights_only=True)
    model = create_model(trial.config.model)
    model.load_state_dict(state)
    model.eval()
    with torch.inference_mode():
        assert model(torch.rand(3, 1, 48, 48)).shape == (3, 7)


def test_final_trial_from_sweep_or_preset() -> None:
    trial, experiment = final_trial("report-model2", None, {"train.epochs": 50})
    assert experiment == FINAL_EXPERIMENT
    assert trial.config.train.epochs == 50 and trial.config.model.stem_kernel == 7
    with pytest.raises(ConfigError, match="no variant 'nope'"):
        final_trial(
            str(Path(__file__).resolve().parents[2] / "sweeps" / "model1_grid.yaml"), "nope", {}
        )
    trial, experiment = final_trial(
        str(Path(__file__).resolve().parents[2] / "sweeps" / "model1_grid.yaml"), "more-dense", {}
    )
    assert experiment == "report-model1-grid" and trial.config.model.dense == (32, 16)


def test_cli_final_on_a_sweep_file(tmp_path: Path) -> None:
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(
        "name: cli-final\nbase:\n  data: {source: synthetic, synthetic_size: 280}\n"
        "  model: {family: sequential, convs: [{channels: 4}], dense: [8]}\n"
        "  train: {folds: 2, epochs: 3, batch_size: 32}\n"
        "variants:\n  - name: a\n  - name: b\n    set: {model.activation: elu}\n"
    )
    result = CliRunner().invoke(app, ["final", str(sweep_file), "--variant", "b", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert "PublicTest" in result.output and "recall happy" in result.output
    (run,) = TrialTracker("cli-final").search(f"tags.`{TAG.ROLE}` = 'final'")
    assert run.data.tags[TAG.VARIANT] == "b"
    assert run.data.params["train.epochs"] == "1"

    def artifact_dirs(run_id: str) -> set[str]:
        from mlflow.tracking import MlflowClient

        return {entry.path for entry in MlflowClient().list_artifacts(run_id)}

    assert "figures" in artifact_dirs(run.info.run_id)
    result = CliRunner().invoke(
        app, ["final", str(sweep_file), "--variant", "a", "--epochs", "1", "--no-figures"]
    )
    assert result.exit_code == 0, result.output
    (bare,) = TrialTracker("cli-final").search(
        f"tags.`{TAG.ROLE}` = 'final' and tags.`{TAG.VARIANT}` = 'a'"
    )
    assert "figures" not in artifact_dirs(bare.info.run_id)
    assert "weights" in artifact_dirs(bare.info.run_id)
