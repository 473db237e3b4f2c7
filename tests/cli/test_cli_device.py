"""``train.device: cuda`` on a machine without CUDA: one line, exit 2, before any store."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from ferablate.cli._app import run_cli

TINY = {
    "data": {"source": "synthetic", "synthetic_size": 140},
    "model": {"family": "sequential", "convs": [{"channels": 4}], "dense": [8]},
    "train": {"folds": 2, "epochs": 1, "batch_size": 32, "device": "cuda"},
}


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize(
    "extra", [[], ["--storage", "sqlite:///{tmp}/optuna.db"], ["--jobs", "2"]], ids=str
)
def test_cuda_without_cuda_is_refused_before_any_store_is_opened(
    extra: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = tmp_path / "sweeps" / "gpu.yaml"
    sweep.parent.mkdir()
    sweep.write_text(yaml.safe_dump({"name": "gpu", "base": TINY, "variants": [{"name": "a"}]}))
    store = tmp_path / "store"
    args = [arg.replace("{tmp}", str(store)) for arg in extra]
    uri = f"sqlite:///{store / 'mlflow.db'}"
    assert run_cli(["run", str(sweep), "--tracking-uri", uri, *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "error: train.device=cuda but no CUDA device is available; use train.device=auto or cpu"
    ]
    assert not store.exists()  # no store, no Optuna study, no folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweeps"]
