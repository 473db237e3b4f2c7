"""benchmarks/gpu_check.py: the prepared GPU check runs end to end on a CPU (``--smoke``), and
its sizing, sampling and extrapolation arithmetic holds."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def test_nvidia_smi_samples_are_summarised(gpu_check: ModuleType) -> None:
    text = "utilization.gpu [%], memory.used [MiB]\n40 %, 1000 MiB\n[N/A], [N/A]\n80 %, 3000 MiB\n"
    assert gpu_check.parse_gpu_samples(text) == {
        "gpu_samples": 2,
        "gpu_utilisation_mean": 60.0,
        "gpu_utilisation_max": 80.0,
        "gpu_memory_used_max_mib": 3000.0,
    }
    assert gpu_check.parse_gpu_samples("utilization.gpu [%], memory.used [MiB]\n") == {
        "gpu_samples": 0
    }


def test_epochs_shrink_to_fit_the_budget_or_the_step_is_skipped(gpu_check: ModuleType) -> None:
    assert gpu_check.epochs_that_fit(1000, 10, 5, 5, "t") == (5, None)
    epochs, note = gpu_check.epochs_that_fit(60, 10, 5, 5, "t")  # 60 / 1.3 - 5 = 41 s: 4 epochs
    assert epochs == 4 and note is not None and "4 of 5 epochs" in note
    with pytest.raises(gpu_check.SkipStepError, match="exceeds its 10 s budget"):
        gpu_check.epochs_that_fit(10, 10, 5, 5, "t")


def test_the_grids_are_extrapolated_from_the_steps(gpu_check: ModuleType) -> None:
    proto = gpu_check.FULL
    trial = {"status": "ok", "faces_per_second": 1000.0, "wall_seconds": 12.0,
             "train_seconds": 10.0}  # fmt: skip
    jobs = {"status": "ok", "speedup_wall": 1.5, "speedup_training": 2.0, "best_jobs": 4,
            "runs": {"jobs_1": {"startup_seconds": 20.0}}}  # fmt: skip
    out = gpu_check.extrapolate({"model1": trial, "model2": trial, "jobs": jobs}, proto, 100)
    per_trial = 5 * 100 / 1000 + 2  # 5 epochs of 100 faces at 1000 faces/s + 2 s outside training
    assert out["seconds_per_trial"] == {"model1": per_trial, "model2": per_trial}
    assert out["grids"]["model1"]["sequential_seconds"] == pytest.approx(20 + 13 * per_trial)
    assert out["grids"]["model2"]["jobs_4_seconds"] == pytest.approx(20 + 12 * per_trial / 2)
    assert out["fits_15_minutes"] == {"sequential": True, "jobs_4": True}
    assert "computed" in out["label"]
    alone = gpu_check.extrapolate({"model1": trial}, proto, 100)  # no model 2, no jobs
    assert set(alone["grids"]) == {"model1"} and alone["jobs_speedup_used"] == 1.0


@pytest.mark.slow  # starts four Python processes that import torch and MLflow (step 3)
def test_smoke_run_writes_every_step_to_json_and_markdown(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--out", str(tmp_path), "--budget", "900"],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text(encoding="utf-8"))
    assert report["smoke"] is True and "synthetic" in report["data"]
    no_smi = shutil.which("nvidia-smi") is None
    assert (report["machine"]["nvidia_smi"] == "unavailable") == no_smi
    steps = report["steps"]
    assert list(steps) == ["model1", "model2", "jobs", "precision", "extrapolation"]
    assert {name: row["status"] for name, row in steps.items()} == dict.fromkeys(steps, "ok")
    for name in ("model1", "model2"):
        row = steps[name]
        assert row["faces_trained"] > 0 and row["faces_per_second"] > 0
        assert 0 <= row["val_accuracy_mean"] <= 1 and len(row["fold_val_accuracy"]) == 2
        assert row["ceiling"]["eager_faces_per_second"] > 0
        assert row["peak_gpu_memory_mib"] is None  # no GPU
    jobs = steps["jobs"]
    assert set(jobs["runs"]) == {"jobs_1", "jobs_2"}
    for run in jobs["runs"].values():
        assert run["exit_status"] == 0 and run["finished_once"] and run["finished"] == 2
        assert run["faces_per_second_training"] > 0
        assert (run["gpu_samples"] == "unavailable") == no_smi
    precision = steps["precision"]
    assert [fold["fold"] for fold in precision["folds"]] == [0, 1]
    assert precision["speed_ratio_bf16_over_fp32"] > 0
    assert set(steps["extrapolation"]["grids"]) == {"model1", "model2"}

    table = (tmp_path / "gpu_check.md").read_text(encoding="utf-8")
    for row in (
        "| 1. model1 | wall time |",
        "| 1. model1 | ceiling: packed step, eager |",
        "| 2. model2 | mean val accuracy |",
        "| 3. jobs | --jobs 2: every trial finished once | yes |",
        "| 4. precision | fold 1 val accuracy bf16 / fp32 |",
        "| 5. extrapolation | model2 grid (12 trials), sequential (computed) |",
    ):
        assert row in table


def test_steps_not_selected_are_recorded_as_skipped(gpu_check: ModuleType, tmp_path: Path) -> None:
    gpu_check.run_check(gpu_check.SMOKE, tmp_path, True, 60.0, ("extrapolation",))
    steps = json.loads((tmp_path / "gpu_check.json").read_text(encoding="utf-8"))["steps"]
    assert [row["status"] for row in steps.values()] == ["skipped"] * 4 + ["ok"]
    assert steps["model1"]["reason"] == "not selected (--steps)"
    assert steps["extrapolation"]["grids"] == {}  # nothing measured to extrapolate from
    table = (tmp_path / "gpu_check.md").read_text(encoding="utf-8")
    assert "| 1. model1 | skipped | not selected (--steps) |" in table
    with pytest.raises(SystemExit) as exited:
        gpu_check.main(["--smoke", "--out", str(tmp_path), "--steps", "model3"])
    assert exited.value.code == 2


def _fake_tool(folder: Path, name: str, script: str) -> None:
    tool = folder / name
    tool.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    tool.chmod(0o755)


def test_gpu_sampler_and_mps_drive_the_nvidia_tools(
    gpu_check: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    calls = tmp_path / "calls.txt"
    _fake_tool(tools, "nvidia-smi", "echo 'utilization.gpu [%], memory.used [MiB]'\n"
               "while true; do echo '50 %, 100 MiB'; sleep 0.05; done\n")  # fmt: skip
    _fake_tool(tools, "nvidia-cuda-mps-control",
               f'echo "$* $CUDA_MPS_PIPE_DIRECTORY $(cat -)" >> {calls}\n')  # fmt: skip
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    with gpu_check.gpu_sampler(tmp_path / "gpu.csv") as sampled:
        time.sleep(0.6)
    assert sampled["gpu_samples"] >= 2 and sampled["gpu_utilisation_mean"] == 50.0

    with gpu_check.cuda_mps(tmp_path, wanted=True) as mps:
        assert mps["mps"] == "used"
        assert mps["env"]["CUDA_MPS_PIPE_DIRECTORY"] == str(tmp_path / "mps-pipe")
    started, stopped = calls.read_text(encoding="utf-8").splitlines()
    assert started.startswith("-d ") and stopped.endswith("quit")  # daemon started, then quit
    with gpu_check.cuda_mps(tmp_path, wanted=False) as mps:
        assert mps == {"mps": "not used", "env": {}}
