"""Package attributes imported on first use (PEP 562), so torch-free parts stay torch-free.

``ferablate status`` reads the tracking store and the study without training anything: the
runner, tracking and search packages export their torch-heavy modules lazily.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, modules: Mapping[str, Iterable[str]]) -> Callable[[str], object]:
    """A package ``__getattr__`` importing ``<package>.<module>`` when one of its names is first
    read (``modules``: module -> names); the value is then cached on the package."""
    where = {name: module for module, names in modules.items() for name in names}

    def module_getattr(name: str) -> object:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return module_getattr
