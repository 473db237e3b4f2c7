"""Only ``ferablate/tracking/`` talks to MLflow: every other module imports no ``mlflow``."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ferablate"


def _mlflow_imports(path: Path) -> list[int]:
    """Line numbers of ``import mlflow...`` / ``from mlflow... import`` anywhere in the module
    (top level, inside functions, under TYPE_CHECKING)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        if any(name == "mlflow" or name.startswith("mlflow.") for name in names):
            lines.append(node.lineno)
    return lines


def test_only_tracking_imports_mlflow() -> None:
    tracking = PACKAGE / "tracking"
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if tracking not in path.parents
        for line in _mlflow_imports(path)
    ]
    assert offenders == [], "mlflow imported outside ferablate/tracking/: " + ", ".join(offenders)


def test_the_scan_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from mlflow.entities import Run\n"
        "def f():\n    import mlflow.tracking as t\n    import mlflowish\n"
        "from . import mlflow\n"  # a relative module of that name is not MLflow
    )
    assert _mlflow_imports(module) == [3, 5]
    assert any(_mlflow_imports(p) for p in (PACKAGE / "tracking").glob("*.py"))  # the scan works
