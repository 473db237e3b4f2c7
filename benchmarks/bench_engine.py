"""Benchmark: a 5-fold model-1 trial by a plain PyTorch loop vs ferablate's engine.

Both do the same work: model 1 final (``report-model1``, 700,439 parameters), 5 stratified
folds, batch 10, N FER2013 Training faces (synthetic faces when the CSV is absent), E
epochs, augmentation on, validation every epoch. Printed: training faces/s of each, their
ratio, the engine's tracking overhead (MLflow on vs off) and FER2013 load times (first
parse with an empty cache, then cached).

    python benchmarks/bench_engine.py --faces 4000 --epochs 2 --out bench.json

(a) is written as a researcher writes it: PIL images through torchvision transforms in a
``Dataset``, a ``DataLoader`` (batch 10, shuffle, ``num_workers=0``: PyTorch's default),
sklearn's ``StratifiedKFold``, folds one after another, Adam, fp32, ``loss.item()`` per
step, validation with a bigger batch (256) under ``torch.no_grad``. Nothing is handicapped:
it uses ferablate's own plain model (the same fast ELU) and all of the machine's threads.

(b) is ``ferablate.runner.Trainer`` on one claimed trial (MLflow on, a sqlite store in a temp folder; the
store is created before the clock starts, as a sweep creates it once) and
``ferablate.engine.run_trial`` (tracking off). Faces/s = training faces / wall time of
training + validation, for both. Class balancing is off (``data.balance: none``) so both
train the same faces. Works without MLflow installed (tracking is then skipped).

Every run also prints (and writes to ``--out``) the machine it ran on: the CPU model and its
avx2 / avx512f / avx512_bf16 / amx_bf16 flags, the GPU if any, torch version, threads, the
precision the engine chose, the load average, and a compute-only ceiling measured in the same
process: one in-memory step (forward, backward, Adam) of the plain network at batch 10, 50
and 256 and of the packed 5-fold network at batch 10, in faces/s, at that precision.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.model_selection import StratifiedKFold
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from ferablate.config import DataConfig, Trial, TrialConfig, validate_trial  # noqa: E402
from ferablate.data import FaceData, load_data  # noqa: E402
from ferablate.engine import TrialCallback, run_trial  # noqa: E402
from ferablate.models import create_model  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "fer2013.csv.gz"
FOLDS, BATCH, MODEL = 5, 10, "report-model1"


# -- (a) the plain loop ----------------------------------------------------------------------


class FaceDataset(Dataset[tuple[torch.Tensor, int]]):
    """48x48 uint8 faces as PIL images through a torchvision transform."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Callable[[Any], Any]):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = Image.fromarray(self.images[index], mode="L")
        return self.transform(image), int(self.labels[index])


def plain_loop(
    images: np.ndarray, labels: np.ndarray, epochs: int, device: torch.device, seed: int = 0
) -> dict[str, Any]:
    train_transform = transforms.Compose(
        [
            transforms.RandomHorizontalFlip(),
            transforms.RandomAffine(degrees=0, translate=(0.04, 0.04), scale=(0.9, 1.15)),
            transforms.ColorJitter(brightness=0.1, contrast=0.3),
            transforms.ToTensor(),
        ]
    )
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    accuracies, faces = [], 0
    started = time.perf_counter()
    for fold, (train_idx, val_idx) in enumerate(folds.split(images, labels)):
        torch.manual_seed(seed * 1000 + fold)
        model = create_model(MODEL).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        train_loader = DataLoader(
            FaceDataset(images[train_idx], labels[train_idx], train_transform),
            batch_size=BATCH,
            shuffle=True,
        )
        val_loader = DataLoader(
            FaceDataset(images[val_idx], labels[val_idx], transforms.ToTensor()), batch_size=256
        )
        for _epoch in range(epochs):
            model.train()
            running = 0.0
            for x, y in train_loader:
                x, y = x.to(device), y.to(device)
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
                running += loss.item()
                faces += len(y)
            model.eval()
            correct = 0
            with torch.no_grad():
                for x, y in val_loader:
                    correct += (model(x.to(device)).argmax(dim=1) == y.to(device)).sum().item()
            accuracies.append(correct / len(val_idx))
    seconds = time.perf_counter() - started
    final = accuracies[epochs - 1 :: epochs]
    return {
        "seconds": seconds,
        "faces": faces,
        "faces_per_second": faces / seconds,
        "val_accuracy_mean": float(np.mean(final)),
    }


# -- (b) the engine --------------------------------------------------------------------------


class _Timed(TrialCallback):
    """Wraps the tracker's callback and adds up the time its hooks take (the overhead)."""

    def __init__(self, inner: TrialCallback) -> None:
        # Bound methods captured now: the caller then points ``inner``'s hooks at this wrapper.
        self.hooks = {
            name: getattr(inner, name) for name in ("on_trial_start", "on_step", "on_epoch_end")
        }
        self.seconds = 0.0

    def _time(self, call: Callable[[], None]) -> None:
        started = time.perf_counter()
        call()
        self.seconds += time.perf_counter() - started

    def on_trial_start(self, info: Any) -> None:
        self._time(lambda: self.hooks["on_trial_start"](info))

    def on_step(self, epoch: int, step: int, steps: int, loss: float | None) -> None:
        self._time(lambda: self.hooks["on_step"](epoch, step, steps, loss))

    def on_epoch_end(self, epoch: int, metrics: Any) -> None:
        self._time(lambda: self.hooks["on_epoch_end"](epoch, metrics))


def engine_config(
    data: DataConfig, epochs: int, device: str, precision: str, pack: bool
) -> TrialConfig:
    raw = {
        "data": data.model_dump(mode="json"),
        "model": {"preset": MODEL},
        "train": {"folds": FOLDS, "epochs": epochs, "batch_size": BATCH, "device": device,
                  "precision": precision, "augment": True, "pack_folds": pack},
    }  # fmt: skip
    from ferablate.config import resolve_preset

    return validate_trial(resolve_preset(raw, "benchmark"), "benchmark")


def engine_untracked(config: TrialConfig, faces: FaceData) -> dict[str, Any]:
    started = time.perf_counter()
    result = run_trial(config, faces.split("Training"))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "faces": result.faces_trained,
        "faces_per_second": result.faces_trained / seconds,
        "val_accuracy_mean": result.summary()["val_accuracy_mean"],
        "precision": result.precision,
        "device": result.device,
    }


def engine_tracked(config: TrialConfig, faces: FaceData, store: Path) -> dict[str, Any]:
    from ferablate.runner import DataCache, QuietObserver, Trainer
    from ferablate.tracking import Claim, TrialTracker

    setup = time.perf_counter()
    tracker = TrialTracker("benchmark", f"sqlite:///{store / 'mlflow.db'}")
    setup = time.perf_counter() - setup
    trial = Trial(name="bench", variant="bench", config=config, patch={}, index=0)
    tracked: dict[str, Any] = {"start": 0.0}
    original_start = tracker.start

    def start(*args: Any, **kwargs: Any) -> Any:  # time the tracker's own hooks inside the trial
        began = time.perf_counter()
        run = original_start(*args, **kwargs)
        tracked["start"] = time.perf_counter() - began
        tracked["hooks"] = timed = _Timed(run)
        for name in ("on_trial_start", "on_step", "on_epoch_end"):
            setattr(run, name, getattr(timed, name))
        return run

    def on_result(run: Any, result: Any) -> None:
        tracked["trained_at"] = time.perf_counter()  # after this: run.finish (metrics, weights)

    tracker.start = start  # type: ignore[method-assign]
    started = time.perf_counter()
    train = Trainer(tracker, DataCache(lambda _cfg: faces), QuietObserver(), on_result)
    outcome = train(Claim(trial, 1, 1), [])
    ended = time.perf_counter()
    if outcome.status != "finished" or outcome.result is None:
        raise RuntimeError(f"tracked trial {outcome.status}: {outcome.message}")
    result = outcome.result
    seconds = ended - started
    tracking = tracked["start"] + tracked["hooks"].seconds + (ended - tracked["trained_at"])
    return {
        "seconds": seconds,
        "faces": result.faces_trained,
        "faces_per_second": result.faces_trained / seconds,
        "val_accuracy_mean": result.summary()["val_accuracy_mean"],
        "store_setup_seconds": setup,
        "tracking_seconds": tracking,
    }


def warm_up(device: torch.device, precision: str, tracking: bool) -> None:
    """One untimed 1-epoch trial on a few synthetic faces: the first trial in a process pays
    for oneDNN's kernel generation and for lazily imported modules, whichever path runs it.
    """
    data = DataConfig(source="synthetic", synthetic_size=400, balance="none")
    faces = load_data(data)
    config = engine_config(data, 1, str(device.type), precision, pack=True)
    engine_untracked(config, faces)
    if tracking:
        with tempfile.TemporaryDirectory(prefix="ferablate-bench-mlruns-") as store:
            engine_tracked(config, faces, Path(store))


def mean_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean of repeated runs (seconds and the tracker's own time), with each run kept."""
    seconds = [run["seconds"] for run in runs]
    mean = {**runs[-1], "seconds": float(np.mean(seconds)), "runs_seconds": seconds}
    mean["faces_per_second"] = mean["faces"] / mean["seconds"]
    if "tracking_seconds" in runs[-1]:
        mean["tracking_seconds"] = float(np.mean([run["tracking_seconds"] for run in runs]))
    return mean


# -- the machine and its compute-only ceiling -----------------------------------------------

CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")  # what decides fp32/bf16 speed
ISA_ENV = (
    "ONEDNN_MAX_CPU_ISA",
    "ATEN_CPU_CAPABILITY",
    "MKL_ENABLE_INSTRUCTIONS",
    "OMP_NUM_THREADS",
)


def cpu_info() -> dict[str, Any]:
    """CPU model name and whether it has each of ``CPU_FLAGS`` (from /proc/cpuinfo on Linux)."""
    name, flags = platform.processor() or platform.machine(), set[str]()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and name == (platform.processor() or platform.machine()):
            name = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return {
        "cpu": name,
        "cpu_count": os.cpu_count(),
        "cpu_flags": {flag: flag in flags for flag in CPU_FLAGS},
        # The vector ISA aten actually uses, and any caps set on it: an AVX-512 machine run
        # with ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 stands in for an AVX2-only one.
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "isa_env": {key: os.environ[key] for key in ISA_ENV if key in os.environ},
    }


def step_rate(device: torch.device, precision: str, folds: int, batch: int, steps: int) -> float:
    """Faces/s of one in-memory optimisation step of MODEL (forward, backward, Adam): the best
    of ``steps`` timed steps after two untimed ones. ``folds=1`` is the plain network (the
    ceiling a fold loop cannot beat); ``folds>1`` the packed one, ``folds*batch`` faces a step.
    """
    from ferablate.engine import autocast_context

    torch.manual_seed(0)
    model = create_model(MODEL, folds=folds).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(batch, folds, 48, 48, device=device).contiguous(
        memory_format=torch.channels_last
    )  # (B, k, 48, 48)
    y = torch.randint(0, 7, (batch * folds,), device=device)
    best = float("inf")
    for step in range(steps + 2):
        started = time.perf_counter()
        with autocast_context(device, precision):  # type: ignore[arg-type]
            logits = model(x).reshape(-1, 7).float()  # (B*k, 7)
        optimizer.zero_grad()
        F.cross_entropy(logits, y).backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step >= 2:
            best = min(best, time.perf_counter() - started)
    return batch * folds / best


def compute_ceiling(
    device: torch.device, precision: str, batches: list[int], steps: int
) -> dict[str, Any]:
    """The plain network's step rate at each batch size and the packed 5-fold step's at BATCH,
    in this process and at the engine's precision: every engine figure next to its machine's
    ceiling.
    """
    plain = {str(batch): step_rate(device, precision, 1, batch, steps) for batch in batches}
    packed = step_rate(device, precision, FOLDS, BATCH, steps)
    return {
        "precision": precision,
        "plain_step_faces_per_second": plain,
        "packed_step_faces_per_second": packed,
        "steps": steps,
    }


# -- data ------------------------------------------------------------------------------------


def load_faces(path: Path | None, limit: int) -> tuple[FaceData, dict[str, Any]]:
    """N Training faces (FER2013 when the CSV exists, else synthetic) and the load timings."""
    if path is None or not path.is_file():
        config = DataConfig(source="synthetic", synthetic_size=limit, balance="none")
        return load_data(config), {"source": "synthetic"}
    timings: dict[str, Any] = {"source": str(path)}
    previous = os.environ.get("FERABLATE_CACHE")
    with tempfile.TemporaryDirectory(prefix="ferablate-bench-cache-") as cache:
        os.environ["FERABLATE_CACHE"] = cache
        try:
            full = DataConfig(source="fer2013", path=str(path), balance="none")
            started = time.perf_counter()
            load_data(full)
            timings["first_load_seconds"] = time.perf_counter() - started
            started = time.perf_counter()
            load_data(full)
            timings["cached_load_seconds"] = time.perf_counter() - started
            config = full.model_copy(update={"limit": limit})
            faces = load_data(config)
        finally:
            if previous is None:
                os.environ.pop("FERABLATE_CACHE", None)
            else:
                os.environ["FERABLATE_CACHE"] = previous
    return faces, timings


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--faces", type=int, default=4000, help="Training faces (stratified subset)"
    )
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="FER2013 CSV; synthetic faces if absent"
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument(
        "--plain-faces",
        type=int,
        default=None,
        help="run the plain loop on fewer faces (slow devices)",
    )
    parser.add_argument(
        "--plain-epochs", type=int, default=None, help="run the plain loop for fewer epochs"
    )
    parser.add_argument(
        "--repeats", type=int, default=2, help="engine runs, untracked and tracked alternately"
    )
    parser.add_argument(
        "--ceiling-batches",
        default="10,50,256",
        help="batch sizes of the plain compute-only ceiling (comma-separated; empty: skip)",
    )
    parser.add_argument(
        "--ceiling-steps", type=int, default=5, help="timed steps per ceiling figure (best kept)"
    )
    parser.add_argument("--skip-plain", action="store_true")
    parser.add_argument("--no-tracking", action="store_true", help="skip the MLflow run")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)

    faces, load = load_faces(args.data, args.faces)
    images, labels = faces.split("Training")
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else args.device
        if args.device != "auto"
        else "cpu"
    )
    report: dict[str, Any] = {
        "command": " ".join([sys.executable, *sys.argv]),
        "faces": len(labels), "epochs": args.epochs, "folds": FOLDS, "batch": BATCH, "model": MODEL,
        "torch": torch.__version__, "threads": torch.get_num_threads(), **cpu_info(),
        "device": str(device), "data": load,
        "load_average_start": os.getloadavg()[0],
    }  # fmt: skip
    data_config = DataConfig(source="synthetic" if load["source"] == "synthetic" else "fer2013",
                             path=None if load["source"] == "synthetic" else str(args.data),
                             limit=args.faces, balance="none", synthetic_size=args.faces)  # fmt: skip
    config = engine_config(data_config, args.epochs, str(device.type), args.precision, pack=True)
    from ferablate.engine import select_precision

    report["precision"] = select_precision(args.precision, device)
    if device.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(device)
    _print_machine(report)

    tracking = importlib.util.find_spec("mlflow") is not None and not args.no_tracking
    warm_up(device, args.precision, tracking)
    untracked_runs, tracked_runs = [], []
    for _ in range(args.repeats):  # alternating, so drift of the machine hits both alike
        untracked_runs.append(engine_untracked(config, faces))
        _print_row("engine, tracking off", untracked_runs[-1])
        if tracking:
            with tempfile.TemporaryDirectory(prefix="ferablate-bench-mlruns-") as store:
                tracked_runs.append(engine_tracked(config, faces, Path(store)))
            _print_row("engine, MLflow on", tracked_runs[-1])
    report["engine_untracked"] = off = mean_run(untracked_runs)
    if tracked_runs:
        report["engine_tracked"] = on = mean_run(tracked_runs)
        report["tracking_overhead_wall"] = on["seconds"] / off["seconds"] - 1
        report["tracking_overhead_hooks"] = on["tracking_seconds"] / on["seconds"]
    if not args.skip_plain:
        plain_n = args.plain_faces or args.faces
        plain_images, plain_labels = images, labels
        if plain_n < len(labels):
            keep = np.sort(np.random.default_rng(0).choice(len(labels), plain_n, replace=False))
            plain_images, plain_labels = images[keep], labels[keep]
        report["plain"] = plain_loop(
            plain_images, plain_labels, args.plain_epochs or args.epochs, device
        )
        report["plain"]["faces_subset"] = len(plain_labels)
        _print_row("plain PyTorch loop", report["plain"])
        best = report.get("engine_tracked", report["engine_untracked"])
        report["ratio_tracked_vs_plain"] = (
            best["faces_per_second"] / report["plain"]["faces_per_second"]
        )
        report["ratio_untracked_vs_plain"] = (
            report["engine_untracked"]["faces_per_second"] / report["plain"]["faces_per_second"]
        )
    batches = [int(b) for b in args.ceiling_batches.split(",") if b.strip()]
    if batches:
        report["ceiling"] = compute_ceiling(
            device, report["precision"], batches, args.ceiling_steps
        )
        report["ceiling"]["load_average"] = os.getloadavg()[0]
    report["load_average_end"] = os.getloadavg()[0]
    _print_summary(report)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _print_row(name: str, row: dict[str, Any]) -> None:
    print(f"{name:24s} {row['faces']:>8d} faces {row['seconds']:8.1f} s {row['faces_per_second']:8.0f} faces/s  "
          f"val acc {row['val_accuracy_mean']:.3f}", flush=True)  # fmt: skip


def _print_machine(report: dict[str, Any]) -> None:
    flags = ", ".join(
        f"{flag} {'yes' if has else 'no'}" for flag, has in report["cpu_flags"].items()
    )
    caps = "".join(f", {key}={value}" for key, value in report["isa_env"].items())
    print(f"machine: {report['cpu']} ({report['cpu_count']} CPUs; {flags}; aten {report['cpu_capability']}{caps}); "
          f"{report.get('gpu', 'no GPU')}\n"
          f"torch {report['torch']}, {report['threads']} threads, device {report['device']}, "
          f"precision {report['precision']}, load average {report['load_average_start']:.2f}", flush=True)  # fmt: skip


def _print_summary(report: dict[str, Any]) -> None:
    print(f"\nmodel {report['model']}, {report['folds']} folds, batch {report['batch']}, {report['faces']} faces, "
          f"{report['epochs']} epochs, {report['device']}, {report['precision']}, torch {report['torch']}, "
          f"{report['threads']} threads, load average {report['load_average_start']:.2f} -> {report['load_average_end']:.2f}")  # fmt: skip
    _print_machine(report)
    if "ceiling" in report:
        ceiling = report["ceiling"]
        rates = " / ".join(
            f"{rate:.0f}" for rate in ceiling["plain_step_faces_per_second"].values()
        )
        sizes = "/".join(ceiling["plain_step_faces_per_second"])
        print(
            f"{'ceiling: plain step at batch ' + sizes:42s} {rates} faces/s ({ceiling['precision']}, in memory)"
        )
        print(f"{'ceiling: packed 5-fold step at batch 10':42s} {ceiling['packed_step_faces_per_second']:.0f} faces/s")  # fmt: skip
    for key, label in [
        (
            "ratio_tracked_vs_plain",
            "engine (MLflow on) / plain" if "engine_tracked" in report else "",
        ),
        ("ratio_untracked_vs_plain", "engine (tracking off) / plain"),
        ("tracking_overhead_wall", "tracking overhead, wall (mean on vs off)"),
        ("tracking_overhead_hooks", "tracking overhead, share in MLflow calls"),
    ]:
        if key in report and label:
            value = report[key]
            print(
                f"{label:42s} {value:8.2f}x"
                if key.startswith("ratio")
                else f"{label:42s} {100 * value:+7.2f} %"
            )
    for key in ("first_load_seconds", "cached_load_seconds"):
        if key in report["data"]:
            print(f"{'FER2013 ' + key.replace('_', ' '):42s} {report['data'][key]:8.2f} s")


if __name__ == "__main__":
    main()
