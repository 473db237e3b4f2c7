"""Sweep files: a base trial config, ordered variants and an optional grid, expanded to trials.

A sweep file (YAML) reads::

    name: model1-grid            # MLflow experiment
    base: {data: ..., model: ..., train: ...}
    variants:                    # ordered; a variant with no `set` is the base itself
      - name: baseline
      - name: no-bn
        set: {model.batch_norm: false, model.convs.0.pool: false}
    grid:                        # optional: cartesian product applied to every variant
      train.lr: [1.0e-4, 1.0e-3]
    search:                      # optional: Optuna space over `base` (ferablate optuna)
      train.lr: {low: 1.0e-5, high: 1.0e-2, log: true}

Everything is validated at load: every trial of the sweep is resolved once, so a typo in the
last variant fails before the first trial trains.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ferablate._errors import ConfigError
from ferablate.config._presets import preset_model_dict
from ferablate.config._types import TrialConfig
from ferablate.config._validate import validate_trial

__all__ = [
    "SearchDim",
    "Sweep",
    "Trial",
    "Variant",
    "apply_patch",
    "config_hash",
    "diff_configs",
    "expand_sweep",
    "flatten_config",
    "load_sweep",
    "parse_overrides",
    "parse_sweep",
    "resolve_trial",
]

_SWEEP_KEYS = ("name", "description", "base", "variants", "grid", "search")


@dataclass(frozen=True)
class Variant:
    name: str  # unique within the sweep; the table's row
    patch: Mapping[str, Any] = field(default_factory=dict)  # dotted key -> value over base


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


@dataclass(frozen=True)
class Trial:
    """One expanded trial: a named, fully resolved config."""

    name: str  # variant name, plus the grid point when there is a grid
    variant: str
    config: TrialConfig
    patch: Mapping[str, Any]  # every dotted key set over base (variant, grid point, overrides)
    index: int  # position in sweep order

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)


# -- loading ---------------------------------------------------------------------------------


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file (``yaml.safe_load``); every trial is resolved once."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such sweep file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: not valid YAML{at}: {problem}") from None
    return parse_sweep(raw, source=str(path))


def parse_sweep(raw: object, source: str = "<sweep>") -> Sweep:
    """Validate an already-parsed sweep mapping (see :func:`load_sweep`)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a sweep file is a mapping with keys {', '.join(_SWEEP_KEYS)}")
    for key in raw:
        if key not in _SWEEP_KEYS:
            raise ConfigError(f"{source}: unknown top-level key '{key}'{_hint(key, _SWEEP_KEYS)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{source}: 'name' (the MLflow experiment) must be a non-empty string")
    base = raw.get("base")
    if not isinstance(base, dict):
        raise ConfigError(f"{source}: 'base' must be a mapping with data, model and train sections")
    base = resolve_preset(copy.deepcopy(base), f"{source}: base")
    sweep = Sweep(
        name=name.strip(),
        base=base,
        variants=_parse_variants(raw.get("variants"), source),
        grid=_parse_grid(raw.get("grid"), source),
        search=_parse_search(raw.get("search"), source),
        source=source,
        description=str(raw.get("description") or ""),
    )
    validate_trial(copy.deepcopy(base), f"{source}: base")
    expand_sweep(sweep)  # resolve every trial now: errors surface at load, naming the variant
    return sweep


def _hint(key: str, valid: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(key), list(valid), n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else f" (valid: {', '.join(valid)})"


def _parse_variants(raw: object, source: str) -> tuple[Variant, ...]:
    if raw is None:
        return (Variant(name="base"),)
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{source}: 'variants' must be a non-empty list of {{name, set}} entries")
    variants: list[Variant] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        where = f"{source}: variants[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: each variant is a mapping with 'name' and optional 'set'")
        for key in entry:
            if key not in ("name", "set"):
                raise ConfigError(f"{where}: unknown key '{key}'{_hint(key, ('name', 'set'))}")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}: 'name' must be a non-empty string")
        if name in seen:
            raise ConfigError(f"{where}: duplicate variant name '{name}'; variant names are rows, make them unique")
        seen.add(name)
        patch = entry.get("set") or {}
        if not isinstance(patch, dict):
            raise ConfigError(f"{where} ('{name}'): 'set' must be a mapping of dotted.key: value")
        variants.append(Variant(name=name, patch=_check_patch_keys(patch, f"{where} ('{name}')")))
    return tuple(variants)


def _check_patch_keys(patch: Mapping[Any, Any], where: str) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for key, value in patch.items():
        if not isinstance(key, str) or not key or key.split(".")[0] not in ("data", "model", "train"):
            raise ConfigError(
                f"{where}: key '{key}' must be a dotted key starting with data., model. or train."
            )
        checked[key] = value
    return checked


def _parse_grid(raw: object, source: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: 'grid' must be a mapping of dotted.key: [values]")
    grid = _check_patch_keys(raw, f"{source}: grid")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{source}: grid key '{key}' needs a non-empty list of values")
    return tuple((key, tuple(values)) for key, values in grid.items())


def _parse_search(raw: object, source: str) -> tuple[SearchDim, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{source}: 'search' must be a mapping of dotted.key: {{low, high, log}} or {{choices}}")
    dims: list[SearchDim] = []
    for key, spec in _check_patch_keys(raw, f"{source}: search").items():
        where = f"{source}: search key '{key}'"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: give {{low, high[, log, step]}} or {{choices: [...]}}")
        unknown = set(spec) - {"low", "high", "log", "step", "choices"}
        if unknown:
            bad = sorted(unknown)[0]
            raise ConfigError(f"{where}: unknown field '{bad}'{_hint(bad, ('low', 'high', 'log', 'step', 'choices'))}")
        if "choices" in spec:
            choices = spec["choices"]
            if set(spec) != {"choices"} or not isinstance(choices, list) or not choices:
                raise ConfigError(f"{where}: 'choices' must be a non-empty list and stand alone")
            dims.append(SearchDim(key=key, choices=tuple(choices)))
            continue
        low, high = spec.get("low"), spec.get("high")
        numbers = (int, float)
        if not isinstance(low, numbers) or not isinstance(high, numbers) or isinstance(low, bool):
            raise ConfigError(f"{where}: 'low' and 'high' must both be numbers")
        if low >= high:
            raise ConfigError(f"{where}: 'low' ({low}) must be below 'high' ({high})")
        log = bool(spec.get("log", False))
        if log and low <= 0:
            raise ConfigError(f"{where}: a log range needs low > 0, got {low}")
        dims.append(SearchDim(key=key, low=low, high=high, log=log, step=spec.get("step")))
    return tuple(dims)


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
    """Set dotted ``key`` (list items by index: ``model.convs.0.pool``) in ``raw`` in place."""
    parts = key.split(".")
    node: Any = raw
    for depth, part in enumerate(parts[:-1]):
        node = _step(node, part, key, depth, where, create=True)
    last = parts[-1]
    if isinstance(node, list):
        index = _list_index(node, last, key, where)
        node[index] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"{where}: cannot set '{key}': '{'.'.join(parts[:-1])}' is a value, not a section")


def _step(node: Any, part: str, key: str, depth: int, where: str, create: bool) -> Any:
    if isinstance(node, list):
        return node[_list_index(node, part, key, where)]
    if isinstance(node, dict):
        if part not in node or node[part] is None:
            if not create:
                raise ConfigError(f"{where}: no key '{part}' in '{key}'")
            node[part] = {}
        return node[part]
    prefix = ".".join(key.split(".")[:depth])
    raise ConfigError(f"{where}: cannot set '{key}': '{prefix}' is a value, not a section")


def _list_index(node: list[Any], part: str, key: str, where: str) -> int:
    try:
        index = int(part)
    except ValueError:
        raise ConfigError(f"{where}: '{key}': '{part}' indexes a list, use a number 0..{len(node) - 1}") from None
    if not 0 <= index < len(node):
        raise ConfigError(f"{where}: '{key}': index {index} is out of range, the list has {len(node)} item(s)")
    return index


def resolve_trial(base: Mapping[str, Any], patches: Sequence[tuple[str, Mapping[str, Any]]]) -> TrialConfig:
    """Apply ``(where, patch)`` pairs in order over ``base`` and validate the result.

    A patch that sets ``model.preset`` first replaces the model section by that preset, so a
    variant can switch to another final model and still patch it.
    """
    raw = copy.deepcopy(dict(base))
    for where, patch in patches:
        if "model.preset" in patch:
            raw["model"] = {"preset": patch["model.preset"]}
            resolve_preset(raw, where)
        for key, value in patch.items():
            if key != "model.preset":
                apply_patch(raw, key, copy.deepcopy(value), where)
    return validate_trial(raw, patches[0][0] if patches else "base")


def parse_overrides(pairs: Iterable[str], where: str = "--set") -> dict[str, Any]:
    """Parse ``key=value`` strings (values read as YAML scalars) into a patch."""
    patch: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{where} '{pair}': expected key=value, e.g. --set train.epochs=2")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            raise ConfigError(f"{where} '{pair}': the value is not a valid YAML scalar") from None
        patch[key] = value
    return _check_patch_keys(patch, where)


def expand_sweep(sweep: Sweep, overrides: Mapping[str, Any] | None = None) -> list[Trial]:
    """Expand variants x grid points (in sweep order) into resolved trials, overrides last."""
    overrides = dict(overrides or {})
    grid_keys = [key for key, _ in sweep.grid]
    points = list(itertools.product(*(values for _, values in sweep.grid))) if sweep.grid else [()]
    trials: list[Trial] = []
    for variant in sweep.variants:
        for point in points:
            grid_patch = dict(zip(grid_keys, point, strict=True))
            name = variant.name
            if grid_patch:
                name += "[" + ",".join(f"{k.split('.')[-1]}={v}" for k, v in grid_patch.items()) + "]"
            where = f"{sweep.source}: variant '{variant.name}'"
            patches = [(where, variant.patch)]
            if grid_patch:
                patches.append((f"{sweep.source}: grid point {name}", grid_patch))
            if overrides:
                patches.append((f"--set (trial {name})", overrides))
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


def config_hash(config: TrialConfig) -> str:
    """The trial's identity: sha256 of its canonical JSON, shortened to 16 hex digits."""
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def diff_configs(base: TrialConfig, other: TrialConfig) -> dict[str, Any]:
    """The dotted keys whose values differ in ``other`` from ``base`` (new values)."""
    flat_base, flat_other = flatten_config(base), flatten_config(other)
    return {
        key: value
        for key, value in flat_other.items()
        if key not in flat_base or flat_base[key] != value
    }
