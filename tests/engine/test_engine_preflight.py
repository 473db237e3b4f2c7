"""Checks before training: network shape and faces per class vs folds, one line, no run written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ferablate import ConfigError, DataError
from ferablate.config import TrialConfig, resolve_preset, validate_trial
from ferablate.engine import check_trial


def _config(data: dict[str, object] | None = None, **train: object) -> TrialConfig:
    raw = {"model": {"preset": "baseline-model1"}, "data": data or {}, "train": train}
    return validate_trial(resolve_preset(raw, "t"), "t")


def _labels(*counts: int) -> np.ndarray:
    return np.repeat(np.arange(len(counts)), counts)


def test_enough_faces_per_class_passes() -> None:
    check_trial(_config(folds=3), _labels(3, 3, 5, 9, 3, 3, 4))
    check_trial(_config(folds=3), _labels(9, 0, 3))  # an absent class is no class to split


def test_a_class_smaller_than_the_folds_names_class_counts_and_fix() -> None:
    with pytest.raises(ConfigError) as info:
        check_trial(_config(folds=20), _labels(30, 3, 30, 50, 30, 30, 37), where="trial a")
    assert str(info.value) == (
        "trial a: train.folds=20 needs at least 20 Training faces of every class, but "
        "'disgust' has 3 of 210 faces; raise data.limit or lower train.folds"
    )


def test_report_balancing_fills_small_classes_before_the_split() -> None:
    check_trial(
        _config({"balance": "report"}, folds=5), _labels(1, 1, 5)
    )  # copies bring every class to 5 before splitting


def test_final_training_needs_no_folds_but_some_faces() -> None:
    check_trial(_config(folds=20), _labels(1, 1), cross_validated=False)
    with pytest.raises(DataError, match="no Training faces"):
        check_trial(_config(), np.zeros(0, dtype=np.int64), cross_validated=False)


def test_too_many_pools_are_found_without_building_the_network() -> None:
    model = {"family": "sequential", "convs": [{"channels": 4}] * 7}
    with pytest.raises(ConfigError) as info:
        validate_trial({"model": model}, "s.yaml: variant 'deep'")
    assert str(info.value) == (
        "s.yaml: variant 'deep': key 'model.convs.5.pool': the feature map is 1x1 before this "
        "2x2 max-pool, too small to pool; set pool: false here or on an earlier layer"
    )
    blocks = [{"branches": [2, 2, 2, 2], "out": 4, "pool": True}] * 4
    with pytest.raises(ConfigError, match=r"key 'model\.head_channels': the feature map is 1x1"):
        validate_trial({"model": {"family": "inception", "blocks": blocks}}, "t")
    validate_trial({"model": {"family": "inception", "blocks": blocks, "head_channels": 0}}, "t")


def test_run_with_too_few_faces_for_the_folds_is_one_line_exit_2_and_no_run(tmp_path: Path) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        "name: s\nbase:\n  data: {source: synthetic, synthetic_size: 300}\n"
        "  model: {preset: baseline-model1}\n  train: {folds: 5, epochs: 1}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "ferablate", "run", str(sweep), "--set", "data.limit=10"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: trial base: train.folds=5"), (
        result.stderr
    )
    assert "data.limit=10" in lines[0]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    experiments = client.search_experiments()
    assert not client.search_runs([e.experiment_id for e in experiments])  # no run written


def test_a_model_too_big_for_memory_is_refused_before_anything_is_allocated() -> None:
    from ferablate.engine import check_model_size

    huge = validate_trial(
        {
            "model": {"family": "sequential", "convs": [{"channels": 4}], "dense": [100_000_000]},
            "train": {"folds": 2},
        },
        "t",
    )
    with pytest.raises(ConfigError) as info:  # (24*24*4 + 7) * 1e8 weights: on the meta device
        check_model_size(huge, where="trial a")
    message = str(info.value)
    assert message.startswith("trial a: the model has 231,200,000,055 parameters")
    assert "training 2 fold model(s) needs at least 6.7 TB" in message
    assert message.endswith("make model.dense or the conv channels smaller")
    check_model_size(_config(), memory=2**30)  # the baseline: ~1e5 parameters fit in 1 GB
    with pytest.raises(ConfigError, match="needs at least"):
        check_model_size(_config(), memory=2**10)
