"""ferablate worker: join a shared study and work through its waiting trials (issue 4)."""

from __future__ import annotations

__all__: list[str] = []
