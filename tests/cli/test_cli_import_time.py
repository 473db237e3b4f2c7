"""``ferablate --help`` answers in under a second: the CLI imports no library at module level."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = (
    "torch",
    "mlflow",
    "optuna",
    "pandas",
    "numpy",
    "pydantic",
    "sklearn",
    "matplotlib",
    "yaml",
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    )


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code = f"import json, sys, ferablate.cli; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    loaded = json.loads(_run("-c", code).stdout)
    assert loaded == [], f"importing ferablate.cli loads {loaded}; import them inside the commands"


def test_help_answers_within_one_second() -> None:
    walls = []
    for _ in range(3):  # the minimum of 3 runs: the machine is shared
        started = time.perf_counter()
        result = _run("-m", "ferablate", "--help")
        walls.append(time.perf_counter() - started)
        assert "Usage" in result.stdout
    assert min(walls) < 1.0, f"ferablate --help took {min(walls):.2f} s at best ({walls})"
