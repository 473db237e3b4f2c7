"""ferablate final: train a final model on all of Training, score the test splits (issue 3)."""

from __future__ import annotations

__all__: list[str] = []
