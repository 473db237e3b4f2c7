"""Fixed cost of a run whose trials all finished (issue 14.2: target <= 3 s wall).

Trains the sweep once if its store does not hold it yet, then times ``python -m ferablate run
SWEEP`` as a whole process ``--repeat`` times, and prints the wall times with the CPU model,
the core count and the load average (the figure means little without them)::

    python benchmarks/bench_skip.py sweeps/quickstart.yaml --store /tmp/bench-skip
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, nargs="?", default=Path("sweeps/quickstart.yaml"))
    parser.add_argument(
        "--store", type=Path, default=Path("mlruns-bench-skip"), help="folder of the SQLite store"
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{args.store.resolve() / 'mlflow.db'}"}
    command = [sys.executable, "-m", "ferablate", "run", str(args.sweep), "--no-figures"]
    subprocess.run(command, env=env, check=True, capture_output=True)  # trains what is missing
    walls = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        walls.append(round(time.perf_counter() - started, 2))
    report: dict[str, object] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),
        "command": " ".join(["python", "-m", "ferablate", "run", str(args.sweep)]),
        "skip_wall_s": walls,
        "best_s": min(walls),
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
