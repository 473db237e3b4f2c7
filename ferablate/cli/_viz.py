"""ferablate viz: regenerate a trial's figures from stored weights and metrics (issue 5)."""

from __future__ import annotations

__all__: list[str] = []
