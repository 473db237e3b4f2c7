"""Whole-process benchmark: a plain PyTorch fold loop vs ``ferablate run``, each a new process.

Issue 14's end-to-end figure. Same work for both: model 1 final (``report-model1``), N
FER2013 Training faces (a seeded stratified subset, synthetic faces when the CSV is absent),
5 folds, E epochs, batch 10, class balancing off, augmentation on, validation every epoch.
Each is timed as a whole process, started one after the other (interpreter start, imports,
data, training, tracking: everything a researcher waits for)::

    python benchmarks/bench_process.py --faces 2000 --epochs 3 --rounds 2

(a) ``python benchmarks/bench_process.py --plain ...``: the plain loop of
``bench_engine.py`` (PIL + torchvision transforms, ``DataLoader``, ``StratifiedKFold``, folds
one after another, fp32, all threads). It gets its faces from ferablate's parse cache (the
same faces, without parsing the CSV), so neither side pays for the CSV.

(b) ``ferablate run SWEEP --rerun`` on a sweep file written to a temporary folder, with a
fresh SQLite store there (MLflow on), once with the six figures per trial (the default) and
once with ``--no-figures`` (the plain loop draws none).

The rounds alternate (plain, ferablate, ferablate --no-figures), so drift of a shared machine
hits all alike. Printed: every wall time, the ratios per round, the CPU model and flags and
the load average, as JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]  # run from a checkout without installing

from bench_engine import DEFAULT_DATA, cpu_info  # noqa: E402

from ferablate.config import DataConfig  # noqa: E402

SWEEP = """\
name: bench-process
description: issue 14's whole-process benchmark (model 1 final, {faces} faces, {epochs} epochs)
base:
  data: {data}
  model:
    preset: report-model1
  train:
    folds: 5
    epochs: {epochs}
    batch_size: 10
    augment: true
variants:
  - name: report-model1
"""


def data_config(path: Path, faces: int) -> DataConfig:
    """The faces both sides train on: N FER2013 faces, or N synthetic ones without the CSV."""
    if path.is_file():
        return DataConfig(source="fer2013", path=str(path), limit=faces, balance="none")
    return DataConfig(source="synthetic", synthetic_size=faces, balance="none")


def plain_process(path: Path, faces: int, epochs: int) -> None:
    """The body of (a): run in its own process by ``--plain``; prints its result as JSON."""
    from bench_engine import plain_loop

    from ferablate.data import load_data

    images, labels = load_data(data_config(path, faces)).split("Training")
    result = plain_loop(images, labels, epochs, torch.device("cpu"))
    print(json.dumps(result))


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of ``command`` as a new process, and its stdout; exits if it fails."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n" + "\n".join(tail))
    return seconds, done.stdout


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--skip-figures-run", action="store_true", help="time only ferablate --no-figures"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.plain:
        plain_process(args.data, args.faces, args.epochs)
        return {}

    machine = cpu_info()
    report: dict[str, Any] = {
        "command": " ".join([sys.executable, *sys.argv]),
        "cpu": machine["cpu"],
        "cores": machine["cpu_count"],
        "cpu_flags": machine["cpu_flags"],
        "faces": args.faces,
        "epochs": args.epochs,
        "load_average_start": os.getloadavg()[0],
        "rounds": [],
    }
    print(f"machine: {report['cpu']}, {report['cores']} CPUs, flags {report['cpu_flags']}, "
          f"load average {report['load_average_start']:.2f}", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="ferablate-bench-process-") as tmp:
        folder = Path(tmp)
        sweep = folder / "bench.yaml"
        sweep.write_text(
            SWEEP.format(  # JSON is YAML: the data block is the DataConfig itself
                faces=args.faces,
                epochs=args.epochs,
                data=json.dumps(
                    data_config(args.data, args.faces).model_dump(
                        mode="json", exclude_defaults=True
                    )
                ),
            ),
            encoding="utf-8",
        )
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}",
        }
        run = [sys.executable, "-m", "ferablate", "run", str(sweep), "--rerun"]
        plain = [sys.executable, __file__, "--plain", "--faces", str(args.faces),
                 "--epochs", str(args.epochs), "--data", str(args.data)]  # fmt: skip
        # Untimed: parse the CSV into ferablate's cache (both sides then read it from there)
        # and create the store, as the first run of a sweep would.
        timed([*run, "--no-figures"], env)
        for index in range(args.rounds):
            row: dict[str, float] = {"load_average": os.getloadavg()[0]}
            row["plain_s"], printed = timed(plain, env)
            row["plain_val_accuracy"] = json.loads(printed.strip().splitlines()[-1])[
                "val_accuracy_mean"
            ]
            if not args.skip_figures_run:
                row["ferablate_s"] = timed(run, env)[0]
            row["ferablate_no_figures_s"] = timed([*run, "--no-figures"], env)[0]
            row["ratio_no_figures"] = row["plain_s"] / row["ferablate_no_figures_s"]
            if "ferablate_s" in row:
                row["ratio"] = row["plain_s"] / row["ferablate_s"]
            report["rounds"].append(row)
            print(f"round {index + 1}: " + ", ".join(
                f"{k} {v:.2f}" for k, v in row.items()), flush=True)  # fmt: skip
    report["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
