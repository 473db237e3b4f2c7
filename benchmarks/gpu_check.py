"""GPU check: what a full-protocol trial costs on one GPU, and how several trials share it.

One command writes ``DIR/gpu_check.json`` and a Markdown table ``DIR/gpu_check.md``:

    python benchmarks/gpu_check.py --out DIR            # on a GPU machine, <= 8 minutes
    python benchmarks/gpu_check.py --out DIR --smoke    # the same code paths, tiny, on a CPU

Five steps, in this order, each independent; both files are rewritten as each step ends, so a
command stopped at its time limit keeps the steps before:

1. ``model1``: one full-protocol trial of the report's final model 1 (``report-model1``):
   28,709 faces, 5 folds, 5 epochs, batch 10, Adam lr 1e-4, ``balance: fold``, bf16. Wall
   time, faces/s, peak GPU memory (``torch.cuda.max_memory_allocated``), the compute-only
   ceiling of the packed 5-fold step measured in this process (as in ``bench_engine.py``: one
   in-memory step, forward + backward + Adam; on CUDA also replayed as a CUDA graph, the way
   the engine trains), mean validation accuracy.
2. ``model2``: the same for the report's final model 2 (``report-model2``); fewer epochs when
   5 would not fit the step's time (the JSON says so).
3. ``jobs``: 4 model-1 trials (seeds 0-3) as ``ferablate run --jobs 1`` and ``--jobs 4`` on the
   one GPU, each on a fresh SQLite store: aggregate faces/s, GPU utilisation and memory sampled
   by ``nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv -lms 500`` in the
   background, whether every trial FINISHED exactly once. Where ``nvidia-cuda-mps-control``
   exists, ``--jobs 4`` runs a third time under CUDA MPS (after the plain runs; recorded).
4. ``precision``: bf16 against fp32 on one model-1 trial: fold accuracies side by side and the
   speed ratio (the bf16 side is step 1's trial when the epochs match).
5. ``extrapolation``: the wall time of both appendix grids (13 + 12 trials) at full protocol,
   sequential and at the best ``--jobs``, computed from steps 1-3 (labelled computed).

The faces are synthetic (``data.source: synthetic``) of the real size: 28,709 Training faces of
48x48 in FER2013's class mix, so every step does the work of the real data set; accuracies are
on synthetic faces. ``--budget S`` (default 420) bounds the whole check: each step gets a share
of the time left, predicts its own time from the speeds measured before it (a packed-step
ceiling, then step 1's trial) and trains fewer epochs, or is skipped with its reason, when the
prediction does not fit; a step that still overruns is stopped by an alarm and recorded as
``timeout``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from ferablate.config import DataConfig, TrialConfig, resolve_preset, validate_trial  # noqa: E402
from ferablate.data import FaceData, load_data  # noqa: E402

STEPS = ("model1", "model2", "jobs", "precision", "extrapolation")
# Shares of the time left: model 2 is the dearest trial; steps 3 and 4 shrink to 1 epoch well.
SHARES = {"model1": 2.0, "model2": 3.5, "jobs": 3.5, "precision": 1.5, "extrapolation": 0.0}
GRID_TRIALS = {"model1": 13, "model2": 12}  # sweeps/model1_grid.yaml, sweeps/model2_grid.yaml
PRESETS = {"model1": "report-model1", "model2": "report-model2"}
SAFETY = 1.3  # predicted seconds are multiplied by this before they are compared to a budget


@dataclass(frozen=True)
class Protocol:
    """What one trial trains: the report's protocol, or a tiny one for ``--smoke``."""

    faces: int = 28709
    folds: int = 5
    epochs: int = 5
    batch: int = 10
    lr: float = 1e-4
    balance: str = "fold"
    precision: str = "bf16"
    device: str = "cuda"
    jobs_trials: int = 4  # step 3: trials (seeds) and the --jobs it compares with --jobs 1
    ceiling_steps: int = 10
    startup_s: float = 25.0  # guess of one `ferablate run` process's start (imports, data)
    # keys set over each preset (smoke: the same families and layer kinds, fewer channels)
    model_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)


FULL = Protocol()
_TINY_BLOCKS = [
    {"branches": [4, 4, 4, 4], "out": 8, "dropout": True},
    {"branches": [4, 8, 8, 4], "out": 8, "pool": True, "dropout": True},
    {"branches": [4, 8, 8, 4], "out": 16, "pool": True},
]
SMOKE = Protocol(
    model_overrides={
        "report-model1": {"convs": [{"channels": 4, "pool": False, "dropout": False},
                                    {"channels": 8}, {"channels": 8}], "dense": [16]},
        "report-model2": {"stem_channels": 4, "blocks": _TINY_BLOCKS, "head_channels": 8},
    },
    faces=210, folds=2, epochs=1, precision="bf16", device="cpu", jobs_trials=2,
    ceiling_steps=1, startup_s=10.0,
)  # fmt: skip


class StepTimeoutError(Exception):
    """Raised by the alarm when a step outlives its time."""


class SkipStepError(Exception):
    """A step that would not fit its time, or cannot run here; the message says why."""


# -- the machine -----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpu_count": os.cpu_count(),
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            multiprocessors=props.multi_processor_count,
            bf16_supported=torch.cuda.is_bf16_supported(),
        )
    smi = shutil.which("nvidia-smi")
    if smi:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            info["nvidia_smi"] = subprocess.run(
                [smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=20, check=False,
            ).stdout.strip()  # fmt: skip
    else:
        info["nvidia_smi"] = "unavailable"
    info["mps_control"] = shutil.which("nvidia-cuda-mps-control") or "unavailable"
    return info


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- config and data -------------------------------------------------------------------------


def model_dict(proto: Protocol, preset: str) -> dict[str, Any]:
    return {"preset": preset, **proto.model_overrides.get(preset, {})}


def trial_config(
    proto: Protocol, preset: str, *, epochs: int, precision: str, seed: int = 0
) -> TrialConfig:
    raw = {
        "data": {"source": "synthetic", "synthetic_size": proto.faces, "balance": proto.balance},
        "model": model_dict(proto, preset),
        "train": {"folds": proto.folds, "epochs": epochs, "batch_size": proto.batch,
                  "lr": proto.lr, "precision": precision, "device": proto.device, "seed": seed},
    }  # fmt: skip
    return validate_trial(resolve_preset(raw, "gpu-check"), "gpu-check")


class Faces:
    """The synthetic Training faces, generated once per process (and timed)."""

    def __init__(self, proto: Protocol) -> None:
        self.proto = proto
        self._faces: FaceData | None = None
        self.seconds = 0.0

    def training(self) -> tuple[Any, Any]:
        if self._faces is None:
            started = time.perf_counter()
            config = DataConfig(
                source="synthetic", synthetic_size=self.proto.faces, balance=self.proto.balance
            )
            self._faces = load_data(config)
            self.seconds = time.perf_counter() - started
        return self._faces.split("Training")


def faces_per_epoch(proto: Protocol, faces: Faces) -> int:
    """Training faces of one epoch over all folds (after ``balance``), from the fold plan."""
    from ferablate.engine import plan_folds

    images, labels = faces.training()
    plan = plan_folds(images, labels, proto.folds, proto.balance, 0)
    return sum(len(indices) for indices in plan.train_indices)


# -- the compute-only ceiling ----------------------------------------------------------------


def ceiling(preset: str, proto: Protocol, device: torch.device, precision: str) -> dict[str, Any]:
    """Faces/s of one in-memory packed optimisation step (``proto.folds`` folds x
    ``proto.batch`` faces: forward, backward, Adam) of ``preset``, as ``bench_engine.py``
    measures it: the best of ``ceiling_steps`` timed eager steps after two untimed ones. On
    CUDA the same step is also captured as a CUDA graph and replayed (the engine's path):
    the mean of ``4 x ceiling_steps`` replays.
    """
    from ferablate.engine import autocast_context
    from ferablate.models import create_model

    torch.manual_seed(0)
    folds, batch = proto.folds, proto.batch
    config = trial_config(proto, preset, epochs=1, precision=precision).model
    model = create_model(config, folds=folds).to(device).to(memory_format=torch.channels_last)
    capturable = device.type == "cuda"
    optimizer = torch.optim.Adam(
        model.parameters(), lr=proto.lr, fused=capturable, capturable=capturable
    )
    x = torch.rand(batch, folds, 48, 48, device=device).contiguous(
        memory_format=torch.channels_last
    )  # (B, k, 48, 48)
    y = torch.randint(0, 7, (batch * folds,), device=device)

    capturing = False  # autocast's weight cache must be off inside a CUDA graph's capture

    def step() -> None:
        with autocast_context(device, precision, cache=not capturing):  # type: ignore[arg-type]
            logits = model(x).reshape(-1, 7).float()  # (B*k, 7)
        optimizer.zero_grad(set_to_none=False)
        F.cross_entropy(logits, y).backward()
        optimizer.step()

    best = math.inf
    for index in range(proto.ceiling_steps + 2):
        started = time.perf_counter()
        step()
        _sync(device)
        if index >= 2:
            best = min(best, time.perf_counter() - started)
    out: dict[str, Any] = {
        "preset": preset,
        "precision": precision,
        "faces_per_step": batch * folds,
        "eager_step_ms": 1000 * best,
        "eager_faces_per_second": batch * folds / best,
        "graphed_step_ms": None,
        "graphed_faces_per_second": None,
    }
    if device.type != "cuda":
        out["graphed_note"] = "no CUDA graphs on a CPU"
        return out
    try:
        stream = torch.cuda.Stream(device)
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(stream):
            for _ in range(3):
                step()
        torch.cuda.current_stream(device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        capturing = True
        with torch.cuda.graph(graph, stream=stream):
            step()
        capturing = False
        replays = 4 * proto.ceiling_steps
        graph.replay()
        _sync(device)
        started = time.perf_counter()
        for _ in range(replays):
            graph.replay()
        _sync(device)
        seconds = (time.perf_counter() - started) / replays
        out.update(graphed_step_ms=1000 * seconds, graphed_faces_per_second=batch * folds / seconds)
    except RuntimeError as exc:
        out["graphed_note"] = f"capture failed: {str(exc).splitlines()[0]}"
    return out


def best_ceiling(ceil: dict[str, Any]) -> float:
    return float(ceil["graphed_faces_per_second"] or ceil["eager_faces_per_second"])


# -- one trial in this process ---------------------------------------------------------------


def one_trial(
    proto: Protocol, faces: Faces, preset: str, epochs: int, precision: str, device: torch.device
) -> dict[str, Any]:
    from ferablate.engine import run_trial

    config = trial_config(proto, preset, epochs=epochs, precision=precision)
    training = faces.training()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    result = run_trial(config, training)
    _sync(device)
    wall = time.perf_counter() - started
    accuracies = [fold.final.val_accuracy for fold in result.folds]
    return {
        "preset": preset,
        "epochs": epochs,
        "precision": result.precision,
        "device": result.device,
        "wall_seconds": wall,  # run_trial as a whole: fold plan, model build, graph capture
        "train_seconds": result.seconds,  # training + validation (the engine's clock)
        "faces_trained": result.faces_trained,
        "faces_per_second": result.faces_trained / result.seconds,
        "faces_per_second_wall": result.faces_trained / wall,
        "seconds_per_epoch": result.seconds / epochs,
        "peak_gpu_memory_mib": (
            torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        ),
        "val_accuracy_mean": sum(accuracies) / len(accuracies),
        "fold_val_accuracy": accuracies,
        "collapsed_folds": len(result.collapsed_folds),
    }


def epochs_that_fit(
    budget: float, per_epoch: float, fixed: float, wanted: int, what: str
) -> tuple[int, str | None]:
    """The most epochs (<= wanted) whose predicted time (x SAFETY) fits ``budget``; SkipStepError if none."""
    fits = int((budget / SAFETY - fixed) // per_epoch) if per_epoch > 0 else wanted
    epochs = min(wanted, fits)
    if epochs < 1:
        raise SkipStepError(
            f"{what}: predicted {SAFETY * (fixed + per_epoch):.0f} s for 1 epoch "
            f"({per_epoch:.1f} s/epoch + {fixed:.0f} s fixed) exceeds its {budget:.0f} s budget"
        )
    if epochs < wanted:
        return epochs, (
            f"{epochs} of {wanted} epochs: {wanted} were predicted at "
            f"{SAFETY * (fixed + wanted * per_epoch):.0f} s, over this step's {budget:.0f} s"
        )
    return epochs, None


# -- steps 1 and 2 ---------------------------------------------------------------------------


class Check:
    """The five steps, with what they measured shared between them."""

    def __init__(self, proto: Protocol, out: Path, smoke: bool, budget: float) -> None:
        self.proto, self.out, self.smoke, self.budget = proto, out, smoke, budget
        self.device = torch.device(proto.device)
        self.faces = Faces(proto)
        self.results: dict[str, dict[str, Any]] = {}
        self.started = time.perf_counter()
        self.report: dict[str, Any] = {}
        self._epoch_faces: int | None = None
        self.step_started = self.started

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.started)

    def epoch_faces(self) -> int:
        if self._epoch_faces is None:
            self._epoch_faces = faces_per_epoch(self.proto, self.faces)
        return self._epoch_faces

    def efficiency(self) -> float:
        """Engine faces/s over the packed-step ceiling, from step 1 (0.5 before it ran)."""
        step1 = self.results.get("model1", {})
        if step1.get("status") == "ok":
            return float(step1["faces_per_second"]) / best_ceiling(step1["ceiling"])
        return 0.5

    def trial_step(self, name: str, budget: float) -> dict[str, Any]:
        preset = PRESETS[name]
        ceil = ceiling(preset, self.proto, self.device, self.proto.precision)
        per_epoch = self.epoch_faces() / (best_ceiling(ceil) * self.efficiency())
        fixed = 10.0 if self.device.type == "cuda" else 2.0  # build, capture, first validation
        spent = time.perf_counter() - self.step_started
        epochs, note = epochs_that_fit(
            budget - spent, per_epoch, fixed, self.proto.epochs, f"{preset} trial"
        )
        row = one_trial(self.proto, self.faces, preset, epochs, self.proto.precision, self.device)
        row.update(
            ceiling=ceil,
            predicted_seconds_per_epoch=per_epoch,
            engine_vs_ceiling=row["faces_per_second"] / best_ceiling(ceil),
            full_protocol=epochs == self.proto.epochs,
        )
        if note:
            row["epochs_note"] = note
        return row

    # -- step 3 ------------------------------------------------------------------------------

    def jobs_step(self, budget: float) -> dict[str, Any]:
        import importlib.util

        if importlib.util.find_spec("mlflow") is None:
            raise SkipStepError(
                "MLflow is not installed: `ferablate run` needs it (see gpu_wheels.sh)"
            )
        n, jobs = self.proto.jobs_trials, self.proto.jobs_trials
        step1 = self.results.get("model1", {})
        if step1.get("status") == "ok":
            per_epoch = float(step1["seconds_per_epoch"])
        else:  # step 1 did not run (--steps): size from the packed-step ceiling
            ceil = ceiling(PRESETS["model1"], self.proto, self.device, self.proto.precision)
            per_epoch = self.epoch_faces() / (best_ceiling(ceil) * self.efficiency())
        # --jobs 1, --jobs N, and --jobs N under CUDA MPS where it exists (after the plain
        # runs: an MPS failure cannot cost the main comparison); each run is assumed no faster
        # than one trial after another (a safe bound).
        mps = self.device.type == "cuda" and shutil.which("nvidia-cuda-mps-control") is not None
        plan = [(1, False), (jobs, False), *([(jobs, True)] if mps else [])]
        epochs, note = epochs_that_fit(
            budget / len(plan), n * per_epoch, self.proto.startup_s, self.proto.epochs,
            f"{len(plan)} runs of {n} trials",
        )  # fmt: skip
        if self.device.type == "cuda":
            torch.cuda.empty_cache()  # this process keeps its context, not its cached blocks
        runs: dict[str, Any] = {}
        with tempfile.TemporaryDirectory(prefix="ferablate-gpu-check-") as tmp:
            sweep = write_jobs_sweep(Path(tmp), self.proto, epochs, n)
            deadline = self.step_started + budget
            for count, under_mps in plan:
                key = f"jobs_{count}" + ("_mps" if under_mps else "")
                if time.perf_counter() >= deadline - 5:
                    runs[key] = {"skipped": "no time left in this step"}
                    continue
                runs[key] = run_sweep_process(
                    sweep, Path(tmp) / key, count, self.proto, deadline, mps=under_mps
                )
        row: dict[str, Any] = {
            "trials": n,
            "epochs": epochs,
            "jobs_compared": [1, jobs],
            "mps": (
                f"nvidia-cuda-mps-control found: --jobs {jobs} also run under MPS"
                if mps
                else "no nvidia-cuda-mps-control (or no GPU): plain processes only"
            ),
            "runs": runs,
            "figures": "off (--no-figures): training only",
        }
        if note:
            row["epochs_note"] = note
        one = runs["jobs_1"]
        several = [key for key, run in runs.items() if key != "jobs_1" and run_ok(run)]
        if run_ok(one) and one.get("faces_per_second_training") and several:
            best = max(several, key=lambda key: runs[key].get("faces_per_second_training", 0))
            many = runs[best]
            row["best_run"] = best
            row["speedup_training"] = (
                many.get("faces_per_second_training", 0) / one["faces_per_second_training"]
            )
            row["speedup_wall"] = many["faces_per_second_wall"] / one["faces_per_second_wall"]
            row["best_jobs"] = jobs if row["speedup_training"] > 1.05 else 1
        return row

    # -- step 4 ------------------------------------------------------------------------------

    def precision_step(self, budget: float) -> dict[str, Any]:
        step1 = self.results.get("model1", {})
        per_epoch = (
            float(step1["seconds_per_epoch"])
            if step1.get("status") == "ok"
            else self.epoch_faces() / 1000.0
        )
        fp32_factor = 2.5  # a guess of fp32's cost against bf16, for sizing only
        fixed = 10.0 if self.device.type == "cuda" else 2.0
        reuse = step1.get("status") == "ok" and step1.get("precision") == "bf16"
        wanted = int(step1["epochs"]) if reuse else self.proto.epochs
        per_epoch_both = per_epoch * fp32_factor + (0.0 if reuse else per_epoch)
        epochs, note = epochs_that_fit(budget, per_epoch_both, fixed, wanted, "fp32 trial")
        if reuse and epochs == wanted:
            bf16 = {k: step1[k] for k in ("epochs", "faces_per_second", "fold_val_accuracy",
                                          "val_accuracy_mean", "train_seconds")}  # fmt: skip
            bf16["source"] = "step 1's trial"
        else:
            bf16 = one_trial(self.proto, self.faces, PRESETS["model1"], epochs, "bf16", self.device)
            bf16["source"] = "trained in this step"
        fp32 = one_trial(self.proto, self.faces, PRESETS["model1"], epochs, "fp32", self.device)
        row: dict[str, Any] = {
            "epochs": epochs,
            "folds": [
                {"fold": i, "bf16": a, "fp32": b}
                for i, (a, b) in enumerate(
                    zip(bf16["fold_val_accuracy"], fp32["fold_val_accuracy"], strict=True)
                )
            ],
            "bf16": bf16,
            "fp32": fp32,
            "val_accuracy_mean_bf16": bf16["val_accuracy_mean"],
            "val_accuracy_mean_fp32": fp32["val_accuracy_mean"],
            "speed_ratio_bf16_over_fp32": bf16["faces_per_second"] / fp32["faces_per_second"],
        }
        if note:
            row["epochs_note"] = note
        return row

    # -- step 5 ------------------------------------------------------------------------------

    def extrapolation_step(self) -> dict[str, Any]:
        return extrapolate(self.results, self.proto, self.epoch_faces())


def extrapolate(results: dict[str, Any], proto: Protocol, epoch_faces: int) -> dict[str, Any]:
    """Both appendix grids at full protocol from steps 1-3: computed, not measured."""
    out: dict[str, Any] = {"label": "computed from steps 1-3, not measured", "assumptions": []}
    per_trial: dict[str, float] = {}
    for name in ("model1", "model2"):
        step = results.get(name, {})
        if step.get("status") != "ok":
            out["assumptions"].append(f"{name}: step {name} did not run, no figure")
            continue
        # seconds per trial at full protocol: the engine's faces/s on every face of 5 epochs,
        # plus what run_trial spent outside training (model build, capture) in the step
        fixed = float(step["wall_seconds"]) - float(step["train_seconds"])
        per_trial[name] = proto.epochs * epoch_faces / float(step["faces_per_second"]) + fixed
    out["assumptions"].append(
        "every model-1 grid trial costs what the final model 1 (report-model1) costs: an upper "
        "bound, the grid's networks are smaller"
    )
    out["assumptions"].append(
        "every model-2 grid trial costs what report-model2 costs at batch 10 (the batch-32/64 "
        "rows take fewer steps)"
    )
    out["seconds_per_trial"] = per_trial
    jobs = results.get("jobs", {})
    startup = proto.startup_s
    speedup, best = 1.0, 1
    if jobs.get("status") == "ok" and "speedup_wall" in jobs:
        best = int(jobs["best_jobs"])
        speedup = float(jobs["speedup_training"]) if best > 1 else 1.0
        startup = float(jobs["runs"]["jobs_1"].get("startup_seconds", startup))
    else:
        out["assumptions"].append("step 3 did not run: --jobs speedup taken as 1")
    out["best_jobs"] = best
    out["jobs_speedup_used"] = speedup
    grids: dict[str, Any] = {}
    for name, trials in GRID_TRIALS.items():
        if name not in per_trial:
            continue
        sequential = startup + trials * per_trial[name]
        grids[name] = {
            "trials": trials,
            "sequential_seconds": sequential,
            f"jobs_{best}_seconds": startup + trials * per_trial[name] / speedup,
        }
    out["grids"] = grids
    if len(grids) == 2:
        total_seq = sum(g["sequential_seconds"] for g in grids.values())
        total_best = sum(g[f"jobs_{best}_seconds"] for g in grids.values())
        out["both_grids_sequential_seconds"] = total_seq
        out[f"both_grids_jobs_{best}_seconds"] = total_best
        out["fits_15_minutes"] = {"sequential": total_seq <= 900, f"jobs_{best}": total_best <= 900}
    return out


# -- step 3's processes ----------------------------------------------------------------------


def write_jobs_sweep(folder: Path, proto: Protocol, epochs: int, trials: int) -> Path:
    """A sweep of ``trials`` model-1 trials that differ only in ``train.seed``."""
    sweep = {
        "name": "gpu-check-jobs",
        "base": {
            "data": {
                "source": "synthetic",
                "synthetic_size": proto.faces,
                "balance": proto.balance,
            },
            "model": model_dict(proto, PRESETS["model1"]),
            "train": {
                "folds": proto.folds,
                "epochs": epochs,
                "batch_size": proto.batch,
                "lr": proto.lr,
                "precision": proto.precision,
                "device": proto.device,
            },
        },
        "variants": [{"name": f"seed{s}", "set": {"train.seed": s}} for s in range(trials)],
    }
    path = folder / "jobs.yaml"
    path.write_text(json.dumps(sweep, indent=2), encoding="utf-8")  # JSON is YAML
    return path


@contextlib.contextmanager
def gpu_sampler(path: Path) -> Iterator[dict[str, Any]]:
    """``nvidia-smi`` sampling utilisation and memory every 500 ms while the block runs."""
    summary: dict[str, Any] = {}
    smi = shutil.which("nvidia-smi")
    if smi is None:
        summary["gpu_samples"] = "unavailable"
        yield summary
        return
    command = [smi, "--query-gpu=utilization.gpu,memory.used", "--format=csv", "-lms", "500"]
    with path.open("w", encoding="utf-8") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.DEVNULL)
        try:
            yield summary
        finally:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
            if process.poll() is None:
                process.kill()
    summary.update(parse_gpu_samples(path.read_text(encoding="utf-8")))


def parse_gpu_samples(text: str) -> dict[str, Any]:
    """Mean and max utilisation (%) and max memory (MiB) of nvidia-smi's CSV samples."""
    util, memory = [], []
    for line in text.splitlines():
        parts = [part.strip().split()[0] for part in line.split(",") if part.strip()]
        if len(parts) == 2 and parts[0].replace(".", "").isdigit():
            util.append(float(parts[0]))
            memory.append(float(parts[1]))
    if not util:
        return {"gpu_samples": 0}
    return {
        "gpu_samples": len(util),
        "gpu_utilisation_mean": sum(util) / len(util),
        "gpu_utilisation_max": max(util),
        "gpu_memory_used_max_mib": max(memory),
    }


@contextlib.contextmanager
def cuda_mps(folder: Path, wanted: bool) -> Iterator[dict[str, Any]]:
    """CUDA MPS for the block when asked and ``nvidia-cuda-mps-control`` exists; the env to use."""
    control = shutil.which("nvidia-cuda-mps-control")
    state: dict[str, Any] = {"mps": "not used", "env": {}}
    if not wanted:
        yield state
        return
    if control is None:
        state["mps"] = "unavailable (no nvidia-cuda-mps-control): plain processes"
        yield state
        return
    env = {
        "CUDA_MPS_PIPE_DIRECTORY": str(folder / "mps-pipe"),
        "CUDA_MPS_LOG_DIRECTORY": str(folder / "mps-log"),
    }
    for value in env.values():
        Path(value).mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **env}
    started = subprocess.run(
        [control, "-d"], env=full_env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=30, check=False,
    )  # fmt: skip
    if started.returncode != 0:
        state["mps"] = f"daemon did not start (exit {started.returncode}): plain processes"
        yield state
        return
    state.update(mps="used", env=env)
    try:
        yield state
    finally:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                [control], input="quit\n", env=full_env, text=True, timeout=30, check=False
            )


def run_ok(run: dict[str, Any]) -> bool:
    return run.get("exit_status") == 0 and bool(run.get("finished_once"))


def run_sweep_process(
    sweep: Path, folder: Path, jobs: int, proto: Protocol, deadline: float, *, mps: bool = False
) -> dict[str, Any]:
    """``ferablate run SWEEP --jobs N --no-figures`` on a fresh store, timed and sampled."""
    folder.mkdir(parents=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    command = [sys.executable, "-m", "ferablate", "run", str(sweep), "--tracking-uri", uri,
               "--no-figures", "--jobs", str(jobs)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}  # fmt: skip
    row: dict[str, Any] = {"command": " ".join(["ferablate", *command[3:]])}
    with cuda_mps(folder, wanted=mps and jobs > 1 and proto.device == "cuda") as server:
        row["mps"] = server["mps"]
        with gpu_sampler(folder / "gpu.csv") as sampled:
            started = time.perf_counter()
            process = subprocess.Popen(
                command, env={**env, **server["env"]}, cwd=folder, start_new_session=True,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            try:
                output, _ = process.communicate(timeout=max(5.0, deadline - started))
            except subprocess.TimeoutExpired:
                _kill_group(process)
                output, _ = process.communicate()
                row["timed_out"] = True
            finally:  # also on the step's alarm: its own session would outlive this command
                _kill_group(process)
            wall = time.perf_counter() - started
    row.update(sampled)
    row.update(exit_status=process.returncode, wall_seconds=wall, output_tail=output[-1500:])
    row.update(store_check(uri, wall=wall))
    return row


def _kill_group(process: subprocess.Popen[str]) -> None:
    """Kill a process started with its own session, and all of its children (the jobs)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def store_check(uri: str, *, wall: float) -> dict[str, Any]:
    """Every trial FINISHED exactly once? Faces trained, and the training span from the runs."""
    from ferablate.tracking import RunStore

    try:
        store = RunStore(uri)
        runs = [run for name in store.experiment_names() for run in store.trial_runs(name)]
    except Exception as exc:  # a store that was never written: the process failed early
        return {"finished_once": False, "store_error": str(exc).splitlines()[0]}
    finished: dict[str, int] = {}
    for run in runs:
        if run.status == "FINISHED":
            finished[run.config_hash] = finished.get(run.config_hash, 0) + 1
    done = [run for run in runs if run.status == "FINISHED" and run.end_time]
    faces = round(
        sum(r.metrics.get("faces_per_second", 0) * r.metrics.get("train_seconds", 0) for r in done)
    )  # training faces of the finished trials (the tracker logs their rate and seconds)
    row: dict[str, Any] = {
        "runs": len(runs),
        "finished": sum(finished.values()),
        "statuses": sorted(run.status for run in runs),
        "finished_once": bool(finished) and all(count == 1 for count in finished.values()),
        "faces_trained": faces,
    }
    if done:
        span = (max(r.end_time for r in done) - min(r.start_time for r in done)) / 1000
        row["training_span_seconds"] = span
        row["startup_seconds"] = max(0.0, wall - span)
        if faces:
            row["faces_per_second_training"] = faces / span
            row["faces_per_second_wall"] = faces / wall
    return row


# -- running the steps -----------------------------------------------------------------------


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """Raise StepTimeoutError in this (main) thread after ``seconds``."""

    def ring(_signum: int, _frame: Any) -> None:
        raise StepTimeoutError(f"stopped after {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, max(1.0, seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_check(
    proto: Protocol, out: Path, smoke: bool, budget: float, steps: tuple[str, ...] = STEPS
) -> dict[str, Any]:
    check = Check(proto, out, smoke, budget)
    report = check.report
    report.update(
        command=" ".join([Path(sys.executable).name, *sys.argv]),
        smoke=smoke,
        date=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        data=(
            f"synthetic faces (data.source: synthetic): {proto.faces} Training faces of 48x48 "
            "in FER2013's class mix"
            + (", a tiny set (smoke run)" if smoke else ", the real data set's size and shapes")
            + "; accuracies are on synthetic faces"
        ),
        protocol=asdict(proto),
        budget_seconds=budget,
        steps_selected=list(steps),
        machine=machine(),
        steps={},
    )
    write(out, report)
    data_started = time.perf_counter()
    check.faces.training()
    report["data_seconds"] = time.perf_counter() - data_started
    runners: dict[str, Callable[[float], dict[str, Any]]] = {
        "model1": lambda b: check.trial_step("model1", b),
        "model2": lambda b: check.trial_step("model2", b),
        "jobs": check.jobs_step,
        "precision": check.precision_step,
        "extrapolation": lambda _b: check.extrapolation_step(),
    }
    for index, name in enumerate(STEPS, start=1):
        shares = sum(SHARES[s] for s in STEPS[index - 1 :] if s in steps)
        step_budget = check.left() * SHARES[name] / shares if shares else check.left()
        check.step_started = time.perf_counter()
        row: dict[str, Any] = {"step": index, "budget_seconds": step_budget}
        try:
            if name not in steps:
                raise SkipStepError("not selected (--steps)")
            if SHARES[name] and step_budget < 1:
                raise SkipStepError(f"no time left ({check.left():.0f} s of the budget)")
            with alarm(step_budget + 5) if SHARES[name] else contextlib.nullcontext():
                row.update(runners[name](step_budget))
            row["status"] = "ok"
        except SkipStepError as exc:
            row.update(status="skipped", reason=str(exc))
        except StepTimeoutError as exc:
            row.update(status="timeout", reason=str(exc))
        except Exception as exc:
            row.update(status="error", reason=f"{type(exc).__name__}: {exc}",
                       traceback=traceback.format_exc()[-3000:])  # fmt: skip
        row["seconds"] = time.perf_counter() - check.step_started
        check.results[name] = row
        report["steps"][name] = row
        report["elapsed_seconds"] = time.perf_counter() - check.started
        write(out, report)
        print(f"step {index} {name}: {row['status']} in {row['seconds']:.1f} s", flush=True)
    return report


# -- output ----------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 0, suffix: str = "") -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{suffix}"
    return f"{value}{suffix}"


def markdown(report: dict[str, Any]) -> str:
    """The check as a Markdown table: one row per measured figure."""
    m = report["machine"]
    gpu = m.get("gpu", "no GPU")
    lines = [
        f"GPU check, {report['date']}: {gpu}, torch {m['torch']}, Python {m['python']}"
        f"{' (smoke run)' if report['smoke'] else ''}. {report['data']}.",
        "",
        "| step | figure | value |",
        "|---|---|---|",
    ]

    def add(step: str, figure: str, value: str) -> None:
        lines.append(f"| {step} | {figure} | {value} |")

    for name, row in report["steps"].items():
        label = f"{row['step']}. {name}"
        if row["status"] != "ok":
            add(label, row["status"], str(row.get("reason", "")).replace("|", "/"))
            continue
        if name in ("model1", "model2"):
            ceil = row["ceiling"]
            add(label, "trial", f"{row['preset']}, {row['epochs']} epochs, {row['precision']}"
                + ("" if row["full_protocol"] else f" ({row.get('epochs_note', '')})"))  # fmt: skip
            add(label, "wall time", _fmt(row["wall_seconds"], 1, " s"))
            add(label, "faces/s (training + validation)", _fmt(row["faces_per_second"]))
            add(label, "peak GPU memory", _fmt(row["peak_gpu_memory_mib"], 0, " MiB"))
            add(label, "ceiling: packed step, eager", _fmt(ceil["eager_faces_per_second"]))
            add(label, "ceiling: packed step, CUDA graph", _fmt(ceil["graphed_faces_per_second"]))
            add(label, "mean val accuracy", _fmt(row["val_accuracy_mean"], 4))
        elif name == "jobs":
            add(label, "trials × epochs", f"{row['trials']} × {row['epochs']}")
            for key, run in row["runs"].items():
                jobs = key.removeprefix("jobs_").replace("_mps", " (MPS)")
                if "skipped" in run:
                    add(label, f"--jobs {jobs}", f"skipped: {run['skipped']}")
                    continue
                add(label, f"--jobs {jobs}: wall", _fmt(run.get("wall_seconds"), 1, " s"))
                add(label, f"--jobs {jobs}: faces/s (training span)",
                    _fmt(run.get("faces_per_second_training")))  # fmt: skip
                add(label, f"--jobs {jobs}: faces/s (wall)", _fmt(run.get("faces_per_second_wall")))
                util = run.get("gpu_utilisation_mean", run.get("gpu_samples"))
                add(label, f"--jobs {jobs}: GPU utilisation mean", _fmt(util, 0, ""))
                add(label, f"--jobs {jobs}: every trial finished once",
                    "yes" if run.get("finished_once") else "no")  # fmt: skip
                add(label, f"--jobs {jobs}: MPS", str(run.get("mps")))
            add(label, "speedup (training span)", _fmt(row.get("speedup_training"), 2, "×"))
        elif name == "precision":
            for fold in row["folds"]:
                add(label, f"fold {fold['fold']} val accuracy bf16 / fp32",
                    f"{fold['bf16']:.4f} / {fold['fp32']:.4f}")  # fmt: skip
            add(label, "speed bf16 / fp32", _fmt(row["speed_ratio_bf16_over_fp32"], 2, "×"))
        elif name == "extrapolation":
            for grid, figures in row["grids"].items():
                for key, value in figures.items():
                    if key.endswith("_seconds"):
                        add(label, f"{grid} grid ({figures['trials']} trials), {key[:-8]} "
                            "(computed)", _fmt(value / 60, 1, " min"))  # fmt: skip
    return "\n".join(lines) + "\n"


def write(out: Path, report: dict[str, Any]) -> None:
    """Both files, replaced atomically (a kill mid-write leaves the previous ones)."""
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("gpu_check.json", json.dumps(report, indent=2, default=str) + "\n"),
        ("gpu_check.md", markdown(report)),
    ):
        temporary = out / f".{name}.tmp"
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(out / name)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the two files")
    parser.add_argument("--smoke", action="store_true", help="tiny synthetic data on the CPU")
    parser.add_argument(
        "--budget", type=float, default=None, help="seconds for all steps (default 420; smoke 300)"
    )
    parser.add_argument(
        "--steps",
        default=",".join(STEPS),
        help=f"comma-separated steps to run (default all: {','.join(STEPS)})",
    )
    args = parser.parse_args(argv)
    steps = tuple(step.strip() for step in args.steps.split(",") if step.strip())
    if unknown := set(steps) - set(STEPS):
        parser.error(f"unknown steps: {', '.join(sorted(unknown))} (known: {', '.join(STEPS)})")
    proto = SMOKE if args.smoke else FULL
    if not args.smoke and not torch.cuda.is_available():
        parser.error("no CUDA device: run on a GPU machine, or with --smoke on a CPU")
    budget = args.budget if args.budget is not None else (300.0 if args.smoke else 420.0)
    if args.smoke:  # one thread: two spin-waiting threads on a shared CPU are many times slower
        torch.set_num_threads(1)
        os.environ["OMP_NUM_THREADS"] = "1"  # and so the `ferablate run` processes of step 3
    return run_check(proto, args.out, args.smoke, budget, steps)


if __name__ == "__main__":
    main()
