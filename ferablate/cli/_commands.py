"""Imports every command module so its commands register on the root app."""

from __future__ import annotations

from ferablate.cli import (  # noqa: F401
    _appendix,
    _claims,
    _compare,
    _data,
    _final,
    _optuna,
    _run,
    _status,
    _summary,
    _table,
    _ui,
    _viz,
    _worker,
)
