"""Logging: one ``ferablate`` logger tree, configured by the CLI only."""

from __future__ import annotations

import logging

__all__ = ["get_logger"]

_ROOT = "ferablate"


def get_logger(name: str) -> logging.Logger:
    """Return the logger for module ``name`` (pass ``__name__``) under the ferablate tree."""
    if not name.startswith(_ROOT):
        name = f"{_ROOT}.{name}"
    return logging.getLogger(name)
