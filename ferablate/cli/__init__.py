"""Command-line interface: a thin typer layer over the library (``ferablate --help``).

Command modules import only typer and rich at module level; the library (torch, MLflow) is
imported inside each command, so ``ferablate --help`` answers fast.
"""

from __future__ import annotations

from ferablate.cli import _commands  # noqa: F401  (registers every command on ``app``)
from ferablate.cli._app import app, main

__all__ = ["app", "main"]
