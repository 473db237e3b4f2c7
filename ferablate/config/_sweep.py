"""Sweep files: a base trial config, ordered variants and an optional grid, expanded to trials.

A sweep file (YAML) reads::

    name: model1-grid            # MLflow experiment
    base: {data: ..., model: ..., train: ...}
    variants:                    # ordered; a variant with no `set` is the base itself
      - name: baseline
      - name: no-bn
        parent: baseline         # optional: the row this one changes (lineage, not identity)
        set: {model.batch_norm: false, model.convs.0.pool: false}
    grid:                        # optional: cartesian product applied to every variant
      train.lr: [1.0e-4, 1.0e-3]
    search:                      # optional: Optuna space over `base` (ferablate optuna)
      train.lr: {low: 1.0e-5, high: 1.0e-2, log: true}
    claims:                      # optional: the report's sentences (ferablate claims)
      - {says: "batch norm helps", variant: baseline, versus: no-bn, expect: better}

Everything is validated at load: every trial of the sweep is resolved once, so a typo in the
last variant fails before the first trial trains.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ferablate._errors import ConfigError
from ferablate.config._lineage import Claim, claim_problems, lineage_problems, parent_trial_names
from ferablate.config._presets import preset_model_dict
from ferablate.config._sweepfile import SearchEntry, dotted_key, shell_problems
from ferablate.config._types import TrialConfig
from ferablate.config._validate import (
    Problem,
    config_error,
    problems_of,
    trial_problems,
    validate_trial,
)
from ferablate.config._yaml import load_yaml

__all__ = [
    "Claim",
    "SearchDim",
    "Sweep",
    "Trial",
    "Variant",
    "apply_patch",
    "diff_configs",
    "expand_sweep",
    "experiment_name",
    "flatten_config",
    "load_sweep",
    "parent_trials",
    "parse_overrides",
    "parse_sweep",
    "preset_trial",
    "resolve_trial",
    "search_space_problems",
    "select_trial",
    "sweep_target",
]

_SWEEP_KEYS = ("name", "description", "base", "variants", "grid", "search", "claims")


@dataclass(frozen=True)
class Variant:
    name: str  # unique within the sweep; the table's row
    patch: Mapping[str, Any] = field(default_factory=dict)  # dotted key -> value over base
    parent: str | None = None  # the variant this row changes (lineage; not in the config)


@dataclass(frozen=True)
class SearchDim:
    """One Optuna dimension: a float/int range or a list of choices."""

    key: str  # dotted config key
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] | None = None

    @property
    def is_int(self) -> bool:
        return (
            self.choices is None
            and isinstance(self.low, int)
            and isinstance(self.high, int)
            and not isinstance(self.low, bool)
        )


@dataclass(frozen=True)
class Sweep:
    name: str  # MLflow experiment / Optuna study name
    base: Mapping[str, Any]  # raw base trial dict, preset resolved
    variants: tuple[Variant, ...]
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    search: tuple[SearchDim, ...] = ()
    source: str = "<sweep>"  # file it came from, for messages
    description: str = ""
    claims: tuple[Claim, ...] = ()  # the report's sentences tested on pairs of variants


@dataclass(frozen=True)
class Trial:
    """One expanded trial: a named, fully resolved config."""

    name: str  # variant name, plus the grid point when there is a grid
    variant: str
    config: TrialConfig
    patch: Mapping[str, Any]  # every dotted key set over base (variant, grid point, overrides)
    index: int  # position in sweep order
    # The trial's identity (config/_identity.py): its resolved settings and its data's content.
    # None until resolved for this machine and data (``ferablate.tracking.identify_trials``).
    identity: str | None = None

    @property
    def config_hash(self) -> str:
        """The trial's identity (the ``ferablate.config_hash`` tag of its runs)."""
        if self.identity is None:
            raise ValueError(
                f"trial {self.name!r}: its identity is not resolved yet "
                "(ferablate.tracking.identify_trials)"
            )
        return self.identity


# -- loading ---------------------------------------------------------------------------------


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file (safe YAML, duplicate keys refused); every trial is
    resolved once."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.y*ml"))[:5]
        inside = f" (it holds {', '.join(found)})" if found else ""
        raise ConfigError(f"{path}: a folder, not a sweep file; give a YAML sweep file{inside}")
    if not path.is_file():
        raise ConfigError(f"{path}: no such sweep file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a text file (byte {exc.start} is not UTF-8); a sweep file is YAML text"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the sweep file ({exc.strerror or exc})") from None
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML{_yaml_problem(exc)}") from None
    return parse_sweep(raw, source=str(path))


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.reader.ReaderError):  # a control character or a bad encoding
        return f" at character {exc.position}: {exc.reason}"
    mark = getattr(exc, "problem_mark", None)
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{at}: {getattr(exc, 'problem', None) or 'invalid YAML'}"


def parse_sweep(raw: object, source: str = "<sweep>") -> Sweep:
    """Validate an already-parsed sweep mapping (see :func:`load_sweep`).

    Every problem is reported, one line each in one ConfigError: those of the file's shell
    and of its base config together; else those of every variant that does not resolve and
    of the search space.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a sweep file is a mapping with keys {', '.join(_SWEEP_KEYS)}")
    shell, problems = shell_problems(raw, source)
    base: dict[str, Any] = {}
    if isinstance(raw.get("base"), dict):
        base, base_problems = _base_problems(raw["base"], f"{source}: base")
        problems += base_problems
    if shell is None or problems:
        raise config_error(problems)
    variants = tuple(
        Variant(name=entry.name, patch=dict(entry.patch or {}), parent=entry.parent)
        for entry in shell.variants or ()
    )
    claims = tuple(Claim(**entry.model_dump()) for entry in shell.claims or ())
    sweep = Sweep(
        name=shell.name,
        base=base,
        variants=variants or (Variant(name="base"),),
        grid=tuple((key, tuple(values)) for key, values in (shell.grid or {}).items()),
        search=tuple(_search_dim(key, entry) for key, entry in (shell.search or {}).items()),
        source=source,
        description=shell.description,
        claims=claims,
    )
    names = [variant.name for variant in sweep.variants]
    problems = lineage_problems({v.name: v.parent for v in sweep.variants}, source)
    problems += claim_problems(claims, names, source)
    if problems:
        raise config_error(problems)
    problems = list(  # a grid or --set problem is every variant's: said once
        dict.fromkeys(
            problem for variant in sweep.variants for problem in _variant_problems(sweep, variant)
        )
    )
    problems += search_space_problems(sweep.base, sweep.search, source)
    if problems:
        raise config_error(problems)
    return sweep


def _base_problems(base: dict[str, Any], where: str) -> tuple[dict[str, Any], list[Problem]]:
    try:
        resolved = resolve_preset(copy.deepcopy(base), where)
    except ConfigError as exc:
        return base, [Problem(str(exc))]
    return resolved, trial_problems(copy.deepcopy(resolved), where)[1]


def _variant_problems(sweep: Sweep, variant: Variant) -> list[Problem]:
    """Resolve every trial of ``variant`` now: errors surface at load, naming the variant."""
    try:
        expand_sweep(dataclasses.replace(sweep, variants=(variant,)))
    except ConfigError as exc:
        return problems_of(exc)
    return []


def _search_dim(key: str, entry: SearchEntry) -> SearchDim:
    if entry.choices is not None:
        return SearchDim(key=key, choices=tuple(entry.choices))
    return SearchDim(key=key, low=entry.low, high=entry.high, log=entry.log, step=entry.step)


def search_space_problems(
    base: Mapping[str, Any], dims: Sequence[SearchDim], source: str
) -> list[Problem]:
    """Every search key that is no config key and every choice or range end that is no valid
    value there, checked against ``base`` (at load, before any study exists)."""
    problems: list[Problem] = []
    for dim in dims:
        values = dim.choices if dim.choices is not None else (dim.low, dim.high)
        for value in values:
            try:
                resolve_trial(base, [(f"{source}: search", {dim.key: value})])
            except ConfigError as exc:
                problems += problems_of(exc)
                break  # one line per search key: an unknown key fails for every value alike
    return problems


def _check_patch_keys(patch: Mapping[Any, Any], where: str) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for key, value in patch.items():
        try:
            checked[dotted_key(key)] = value
        except ValueError as exc:
            raise ConfigError(f"{where}: key '{key}' {exc}") from None
    return checked


# -- patches ---------------------------------------------------------------------------------


def resolve_preset(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """Merge ``model.preset``'s dict under the other ``model.*`` keys of ``raw`` (in place)."""
    model = raw.get("model")
    if isinstance(model, dict) and model.get("preset") is not None:
        name = model["preset"]
        if not isinstance(name, str):
            raise ConfigError(f"{where}: 'model.preset' must be a preset name")
        try:
            merged = preset_model_dict(name)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        merged.update({k: v for k, v in model.items() if k != "preset"})
        raw["model"] = merged
    return raw


def apply_patch(raw: dict[str, Any], key: str, value: Any, where: str) -> None:
    """Set dotted ``key`` (list items by index: ``model.convs.0.pool``) in ``raw`` in place;
    a missing (or null) section on the way is created."""
    parts = key.split(".")
    node: Any = raw
    for depth, part in enumerate(parts):
        if isinstance(node, list):
            slot: int | str = _list_index(node, part, key, where)
        elif isinstance(node, dict):
            slot = part
            if depth < len(parts) - 1 and node.get(part) is None:
                node[part] = {}
        else:
            prefix = ".".join(parts[:depth])
            raise ConfigError(f"{where}: cannot set '{key}': '{prefix}' is a value, not a section")
        if depth == len(parts) - 1:
            node[slot] = value
        else:
            node = node[slot]


def _list_index(node: list[Any], part: str, key: str, where: str) -> int:
    try:
        index = int(part)
    except ValueError:
        raise ConfigError(
            f"{where}: '{key}': '{part}' indexes a list, use a number 0..{len(node) - 1}"
        ) from None
    if not 0 <= index < len(node):
        raise ConfigError(
            f"{where}: '{key}': index {index} is out of range, the list has {len(node)} item(s)"
        )
    return index


def resolve_trial(
    base: Mapping[str, Any], patches: Sequence[tuple[str, Mapping[str, Any]]]
) -> TrialConfig:
    """Apply ``(where, patch)`` pairs in order over ``base`` and validate the result.

    A patch that sets ``model.preset`` first replaces the model section by that preset, so a
    variant can switch to another final model and still patch it.
    """
    raw = copy.deepcopy(dict(base))
    setters: dict[str, str] = {}  # dotted key -> the patch that set it last
    for where, patch in patches:
        if "model.preset" in patch:
            raw["model"] = {"preset": patch["model.preset"]}
            resolve_preset(raw, where)
            setters = {k: w for k, w in setters.items() if not k.startswith("model.")}
            setters["model"] = where
        for key, value in patch.items():
            if key != "model.preset":
                apply_patch(raw, key, copy.deepcopy(value), where)
                setters.pop(key, None)  # re-inserted last: the latest setter wins below
                setters[key] = where
    fallback = patches[0][0] if patches else "base"

    def where_of(dotted: str) -> str:
        """The patch that set ``dotted``, a key inside it or a section holding it."""
        for key in reversed(setters):
            if dotted == key or dotted.startswith(f"{key}.") or key.startswith(f"{dotted}."):
                return setters[key]
        return fallback

    return validate_trial(raw, fallback, where_of)


def parse_overrides(pairs: Iterable[str], where: str = "--set") -> dict[str, Any]:
    """Parse ``key=value`` strings (values read as YAML scalars) into a patch."""
    patch: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{where} '{pair}': expected key=value, e.g. --set train.epochs=2")
        try:
            value = load_yaml(text) if text.strip() else None
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise ConfigError(
                f"{where} '{pair}': the value is not valid YAML ({problem})"
            ) from None
        patch[key] = value
    return _check_patch_keys(patch, where)


def experiment_name(sweep: Sweep, overrides: Mapping[str, Any] | None = None) -> str:
    """The MLflow experiment that holds ``sweep``'s trials under ``overrides``.

    The sweep's name, unless the overrides switch the data source away from the file's (e.g.
    ``--set data.source=fer2013`` on a synthetic sweep): then ``<name>-<source>``, so tables
    never mix trials trained on different kinds of faces.
    """
    base_data = sweep.base.get("data") or {}
    declared = (
        base_data.get("source", "synthetic") if isinstance(base_data, Mapping) else "synthetic"
    )
    chosen = (overrides or {}).get("data.source", declared)
    return sweep.name if chosen == declared else f"{sweep.name}-{chosen}"


def expand_sweep(sweep: Sweep, overrides: Mapping[str, Any] | None = None) -> list[Trial]:
    """Expand variants x grid points (in sweep order) into resolved trials, overrides last."""
    overrides = dict(overrides or {})
    grid_keys = [key for key, _ in sweep.grid]
    points = list(itertools.product(*(values for _, values in sweep.grid))) if sweep.grid else [()]
    trials: list[Trial] = []
    for variant in sweep.variants:
        for point in points:
            grid_patch = dict(zip(grid_keys, point, strict=True))
            label = ",".join(f"{k.split('.')[-1]}={v}" for k, v in grid_patch.items())
            name = f"{variant.name}[{label}]" if grid_patch else variant.name
            where = f"{sweep.source}: variant '{variant.name}'"
            patches = [(where, variant.patch)]
            if grid_patch:
                patches.append((f"{sweep.source}: grid", grid_patch))
            if overrides:  # the same for every trial: blamed on the command line
                patches.append(("--set", overrides))
            config = resolve_trial(sweep.base, patches)
            trials.append(
                Trial(
                    name=name,
                    variant=variant.name,
                    config=config,
                    patch={**variant.patch, **grid_patch, **overrides},
                    index=len(trials),
                )
            )
    return trials


# -- identity and flat views -----------------------------------------------------------------


def select_trial(
    sweep: Sweep, variant: str | None, overrides: Mapping[str, Any] | None = None
) -> Trial:
    """The trial named ``variant`` (a trial or variant name; default: the first) of ``sweep``."""
    trials = expand_sweep(sweep, overrides)
    if variant is None:
        return trials[0]
    found = next((t for t in trials if variant in (t.name, t.variant)), None)
    if found is None:
        names = ", ".join(dict.fromkeys(t.variant for t in trials))
        raise ConfigError(f"{sweep.source}: no variant '{variant}' (variants: {names})")
    return found


def sweep_target(
    target: str,
    variant: str | None,
    overrides: Mapping[str, Any] | None = None,
    *,
    otherwise: str = "a preset name",
) -> tuple[Sweep, Trial] | None:
    """The sweep file ``target`` and its trial ``variant`` (default: the first), ``overrides``
    applied; None when ``target`` is no path (``otherwise``: what it names then, for the
    message when ``--variant`` comes with it)."""
    # a folder or a path with a slash is no preset or run id: load_sweep names what is wrong
    path = Path(target)
    if target.endswith((".yaml", ".yml")) or path.is_file() or path.is_dir() or "/" in target:
        sweep = load_sweep(path)
        return sweep, select_trial(sweep, variant, overrides)
    if variant is not None:
        raise ConfigError(f"--variant goes with a sweep file, not {otherwise}")
    return None


def preset_trial(name: str, overrides: Mapping[str, Any] | None = None) -> Trial:
    """A trial named ``name``: preset ``name``'s model with the default data and train sections,
    ``overrides`` applied last."""
    base = resolve_preset({"model": {"preset": name}}, f"preset '{name}'")
    config = resolve_trial(base, [("--set", overrides)] if overrides else [])
    return Trial(name=name, variant=name, config=config, patch=dict(overrides or {}), index=0)


def parent_trials(sweep: Sweep, trials: Sequence[Trial]) -> dict[str, str]:
    """Trial name -> the trial name of its declared parent (same grid point), for the trials
    whose variant has a ``parent``; a variant without one is absent."""
    return parent_trial_names(
        [(trial.name, trial.variant) for trial in trials],
        {variant.name: variant.parent for variant in sweep.variants},
    )


def flatten_config(config: TrialConfig) -> dict[str, Any]:
    """``{"model.convs.0.channels": 8, ...}``: the resolved config as dotted scalar keys."""
    flat: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        elif isinstance(node, list) and any(isinstance(item, dict) for item in node):
            for index, value in enumerate(node):
                walk(value, f"{prefix}{index}.")
        else:
            flat[prefix[:-1]] = node

    walk(config.model_dump(mode="json"), "")
    return flat


def diff_configs(base: TrialConfig, other: TrialConfig) -> dict[str, Any]:
    """The dotted keys whose values differ in ``other`` from ``base`` (new values)."""
    flat_base, flat_other = flatten_config(base), flatten_config(other)
    return {
        key: value
        for key, value in flat_other.items()
        if key not in flat_base or flat_base[key] != value
    }
