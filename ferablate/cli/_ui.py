"""ferablate ui: launch the MLflow UI on the project's store (issue 4)."""

from __future__ import annotations

__all__: list[str] = []
