"""Ablation lineage and claims of a sweep file: which row each variant changes, and which
sentences of the report two rows test.

Both are sweep-file keys, never trial-config keys: ``parent`` and ``claims`` do not enter a
trial's config or its hash, so declaring them retrains nothing. They are checked at load: an
unknown parent, a self-reference or a cycle, and a claim that names no variant of the sweep,
are one line each naming the file and the variant (or claim).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ferablate.config._validate import Problem

__all__ = ["Claim", "Expectation", "claim_problems", "lineage_problems", "parent_trial_names"]

Expectation = Literal["better", "worse", "equivalent", "not-better"]


@dataclass(frozen=True)
class Claim:
    """One sentence of the report: ``variant`` is ``expect`` than ``versus`` on ``metric``."""

    says: str
    variant: str
    versus: str
    expect: Expectation
    metric: str = "val_accuracy"


def _unknown(name: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else f" (variants: {', '.join(names)})"
    return f"'{name}' is no variant of this sweep{hint}"


def lineage_problems(parents: Mapping[str, str | None], source: str) -> list[Problem]:
    """Every variant whose ``parent`` is unknown or itself, and one line per cycle.

    ``parents`` maps each variant (sweep order) to its declared parent or None.
    """
    names = list(parents)
    problems: list[Problem] = []
    for name, parent in parents.items():
        if parent is None:
            continue
        if parent == name:
            problems.append(Problem(f"{source}: variant '{name}': parent is the variant itself"))
        elif parent not in parents:
            problems.append(
                Problem(f"{source}: variant '{name}': parent {_unknown(parent, names)}")
            )
    if problems:
        return problems
    reported: set[str] = set()
    for start in names:
        path: list[str] = []
        node: str | None = start
        while node is not None and node not in path and node not in reported:
            path.append(node)
            node = parents[node]
        if node is not None and node in path:
            cycle = path[path.index(node) :]
            reported.update(cycle)
            chain = " -> ".join([*cycle, node])
            problems.append(
                Problem(f"{source}: variant '{cycle[0]}': parents form a cycle ({chain})")
            )
        reported.update(path)
    return problems


def claim_problems(claims: Sequence[Claim], variants: Sequence[str], source: str) -> list[Problem]:
    """Every claim that names a variant the sweep does not have, or the same variant twice."""
    problems: list[Problem] = []
    for index, claim in enumerate(claims):
        where = f"{source}: claims[{index}] ('{claim.says}')"
        for key in ("variant", "versus"):
            name = getattr(claim, key)
            if name not in variants:
                problems.append(Problem(f"{where}: {key} {_unknown(name, variants)}"))
        if claim.variant == claim.versus:
            problems.append(Problem(f"{where}: variant and versus are the same variant"))
    return problems


def parent_trial_names(
    trials: Sequence[tuple[str, str]], parents: Mapping[str, str | None]
) -> dict[str, str]:
    """Trial name -> its parent's trial name, for trials whose variant declares a parent.

    ``trials`` are ``(trial name, variant name)`` pairs in sweep order. With a grid, a trial's
    parent is the parent variant's trial at the same grid point (the same name suffix).
    """
    names = {name for name, _ in trials}
    found: dict[str, str] = {}
    for name, variant in trials:
        parent = parents.get(variant)
        if parent is None:
            continue
        candidate = parent + name[len(variant) :]
        if candidate in names:
            found[name] = candidate
    return found
