"""ferablate optuna: Optuna search over a sweep's search space (issue 4)."""

from __future__ import annotations

__all__: list[str] = []
