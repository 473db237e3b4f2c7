"""The package's shape, read from its source with ``ast`` (nothing is imported):

* a third-party library is imported only behind its layer (MLflow in ``tracking/``, Optuna in
  ``search/``, SQLAlchemy only in the search module that checks a storage's tables);
* the module import graph has no cycle;
* no library function takes more than 8 parameters (typer commands excepted) or runs over 80
  lines (``cli/`` and the synthetic face painter excepted).

Every import counts: top level, inside functions (lazy) and under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ferablate"

# library -> the modules (or packages, with everything in them) that may import it
BOUNDARIES: dict[str, tuple[str, ...]] = {
    "mlflow": ("ferablate.tracking",),
    "optuna": ("ferablate.search",),
    "sqlalchemy": ("ferablate.search._inspect",),
}
MAX_PARAMETERS = 8
MAX_LINES = 80
LENGTH_EXEMPT = ("ferablate.cli", "ferablate.data._synthetic")  # commands print; _render paints


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. ferablate.runner._status (a package: its __init__)
    path: Path
    tree: ast.Module

    @property
    def package(self) -> str:
        """The package a relative import starts from."""
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]


def _modules(package: Path) -> dict[str, Module]:
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = Module(name, path, ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return found


def _within(name: str, places: tuple[str, ...]) -> bool:
    return any(name == place or name.startswith(f"{place}.") for place in places)


def _imports(module: Module, modules: Mapping[str, Module]) -> Iterator[tuple[str, int]]:
    """(imported module, line) of every import in ``module``, relative ones made absolute.

    ``from P import name`` is module ``P.name`` when that is a module, else ``P`` itself (its
    ``__init__``). ``from P.m import name`` is ``P.m`` only, though Python runs ``P/__init__``
    first: a package's ``__init__`` re-exports its own private modules, so counting that
    implicit step would make every module of a package that imports a sibling a cycle with its
    package. A module depends on its package's ``__init__`` only when it says so
    (``from ferablate.p import name`` with ``name`` no module, ``import ferablate.p``).
    """
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield (sub if sub in modules else base), node.lineno


def _boundary_offenders(modules: Mapping[str, Module], library: str) -> list[str]:
    return [
        f"{module.name}:{line}"
        for module in modules.values()
        if not _within(module.name, BOUNDARIES[library])
        for name, line in _imports(module, modules)
        if name.split(".")[0] == library
    ]


def _cycles(modules: Mapping[str, Module]) -> list[tuple[list[str], list[str]]]:
    """Each group of modules that import each other (sorted), with one cycle through it (its
    modules in import order)."""
    graph = {
        name: sorted({target for target, _ in _imports(module, modules) if target in modules})
        for name, module in modules.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(name: str) -> None:  # Tarjan's strongly connected components
        index[name] = low[name] = len(index)
        stack.append(name)
        for target in graph[name]:
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            group = {stack.pop()}
            while name not in group:
                group.add(stack.pop())
            if len(group) > 1:
                groups.append(group)

    for name in graph:
        if name not in index:
            visit(name)
    return [(sorted(group), _cycle_through(min(group), group, graph)) for group in groups]


def _cycle_through(start: str, group: set[str], graph: Mapping[str, list[str]]) -> list[str]:
    """The shortest path from ``start`` back to itself inside ``group`` (breadth first)."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for name in frontier:
            for target in graph[name]:
                if target == start:
                    return paths[name]
                if target in group and target not in paths:
                    paths[target] = [*paths[name], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"{start}: no cycle in its group")  # Tarjan's groups always have one


Function = ast.FunctionDef | ast.AsyncFunctionDef


def _functions(modules: Mapping[str, Module]) -> Iterator[tuple[Module, Function]]:
    for module in modules.values():
        for node in ast.walk(module.tree):
            if isinstance(node, Function):
                yield module, node


def _parameter_count(function: Function) -> int:
    """Positional and keyword parameters, ``self``/``cls`` not counted (nor ``*args``/``**kw``)."""
    args = function.args
    named = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    return len(named) - (1 if named and named[0].arg in ("self", "cls") else 0)


def _typer_command(module: Module, function: Function) -> bool:
    """``@app.command(...)`` / ``@app.callback(...)`` in ``ferablate/cli/``: options are parameters."""
    return _within(module.name, ("ferablate.cli",)) and any(
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr in ("command", "callback")
        for decorator in function.decorator_list
    )


def _many_parameters(modules: Mapping[str, Module]) -> list[str]:
    return [
        f"{module.name}.{function.name} ({_parameter_count(function)} parameters)"
        for module, function in _functions(modules)
        if _parameter_count(function) > MAX_PARAMETERS and not _typer_command(module, function)
    ]


def _long_functions(modules: Mapping[str, Module]) -> list[str]:
    return [
        f"{module.name}.{function.name} ({lines} lines)"
        for module, function in _functions(modules)
        if not _within(module.name, LENGTH_EXEMPT)
        and (lines := (function.end_lineno or function.lineno) - function.lineno + 1) > MAX_LINES
    ]


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    return _modules(PACKAGE)


@pytest.mark.parametrize("library", sorted(BOUNDARIES))
def test_a_library_is_imported_only_behind_its_layer(
    modules: dict[str, Module], library: str
) -> None:
    offenders = _boundary_offenders(modules, library)
    places = ", ".join(BOUNDARIES[library])
    assert offenders == [], f"{library} imported outside {places}: " + ", ".join(offenders)


def test_no_import_cycle(modules: dict[str, Module]) -> None:
    cycles = [
        f"{', '.join(group)} (e.g. {' -> '.join([*cycle, cycle[0]])})"
        for group, cycle in _cycles(modules)
    ]
    assert cycles == [], "import cycles: " + "; ".join(cycles)


def test_no_function_takes_more_than_8_parameters(modules: dict[str, Module]) -> None:
    offenders = _many_parameters(modules)
    assert offenders == [], "more than 8 parameters: " + ", ".join(offenders)


def test_no_function_is_longer_than_80_lines(modules: dict[str, Module]) -> None:
    offenders = _long_functions(modules)
    assert offenders == [], "longer than 80 lines: " + ", ".join(offenders)


def test_the_scans_see_what_they_should(tmp_path: Path) -> None:
    package = tmp_path / "ferablate"
    files = {
        # a package re-exporting its private modules is no cycle with them
        "__init__.py": "from ferablate._a import f\nfrom ferablate.sub import h\n",
        "_a.py": "from ferablate._b import g\n\ndef f(a, b, c, d, e, f, g, h, i, *args, **kw):\n    pass\n",
        # a lazy import of a module by its name closes the cycle _a -> _b -> _a
        "_b.py": "def g():\n    from ferablate import _a\n",
        "sub/__init__.py": "from ferablate.sub._c import h\n",
        "sub/_c.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import optuna.trial\n"
            "from . import _d\nfrom ..sub._d import x\nfrom . import mlflow\n"
            "class C:\n    def m(self, a, b, c, d, e, f, g, h):\n        pass\n"
            "def h():\n" + "    pass\n" * 80
        ),
        "sub/_d.py": "from sqlalchemy import inspect\nx = 1\n",
        "sub/mlflow.py": "",
        "cli/_x.py": ("@app.command()\ndef run(a, b, c, d, e, f, g, h, i):\n" + "    pass\n" * 90),
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    found = _modules(package)

    assert _cycles(found) == [(["ferablate._a", "ferablate._b"], ["ferablate._a", "ferablate._b"])]
    assert _boundary_offenders(found, "optuna") == ["ferablate.sub._c:3"]
    assert _boundary_offenders(found, "sqlalchemy") == ["ferablate.sub._d:1"]
    assert _boundary_offenders(found, "mlflow") == []  # a relative module of that name
    assert _many_parameters(found) == ["ferablate._a.f (9 parameters)"]
    assert _long_functions(found) == ["ferablate.sub._c.h (81 lines)"]
    real = _modules(PACKAGE)
    for library, places in BOUNDARIES.items():  # the package imports each where it belongs
        assert any(
            name.split(".")[0] == library
            for module in real.values()
            if _within(module.name, places)
            for name, _ in _imports(module, real)
        ), f"no {library} import found in {places}"
