"""A sweep's ``search:`` space as Optuna suggestions, and sampled values as config patches.

Optuna stores categorical choices as JSON scalars only, so list-valued choices (dense widths
``[[128, 64], [64]]``, inner kernels) are suggested by their string form and mapped back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ferablate._errors import ConfigError
from ferablate.config import SearchDim, TrialConfig, resolve_trial

if TYPE_CHECKING:
    import optuna

__all__ = [
    "DEFAULT_MAX_PARAMETERS",
    "base_params",
    "choice_label",
    "config_for_params",
    "dims_from_json",
    "dims_to_json",
    "parameter_count",
    "params_to_patch",
    "suggest_patch",
]

DEFAULT_MAX_PARAMETERS = 2_000_000  # the report's design space stays within ~2 M parameters

_SCALARS = (str, int, float, bool, type(None))


def choice_label(value: Any) -> Any:
    """What Optuna stores for a choice: scalars as they are, lists/mappings as compact JSON."""
    return value if isinstance(value, _SCALARS) else json.dumps(value, separators=(",", ":"))


def _choice_value(dim: SearchDim, label: Any) -> Any:
    assert dim.choices is not None
    for choice in dim.choices:
        if choice_label(choice) == label:
            return choice
    raise ConfigError(f"search key '{dim.key}': stored value {label!r} is not one of its choices")


def suggest_patch(trial: optuna.Trial, dims: Sequence[SearchDim]) -> dict[str, Any]:
    """Suggest every dimension on ``trial``; returns the dotted-key patch over the base."""
    patch: dict[str, Any] = {}
    for dim in dims:
        if dim.choices is not None:
            label = trial.suggest_categorical(dim.key, [choice_label(c) for c in dim.choices])
            patch[dim.key] = _choice_value(dim, label)
        elif dim.is_int:
            step = int(dim.step) if dim.step is not None else 1
            assert dim.low is not None and dim.high is not None
            patch[dim.key] = trial.suggest_int(
                dim.key, int(dim.low), int(dim.high), step=step, log=dim.log
            )
        else:
            assert dim.low is not None and dim.high is not None
            patch[dim.key] = trial.suggest_float(
                dim.key, float(dim.low), float(dim.high), step=dim.step, log=dim.log
            )
    return patch


def base_params(base: Mapping[str, Any], dims: Sequence[SearchDim]) -> dict[str, Any] | None:
    """The base config's own values as Optuna params (what to enqueue as the first trial),
    or None when one of them lies outside the space (the base is then not a point of it).
    """
    params: dict[str, Any] = {}
    for dim in dims:
        value: Any = base
        for part in dim.key.split("."):  # "model.convs.0.pool": mappings and list indices
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return None
        if dim.choices is not None:
            label = choice_label(value)
            if label not in [choice_label(choice) for choice in dim.choices]:
                return None
            params[dim.key] = label
            continue
        assert dim.low is not None and dim.high is not None
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not numeric or not dim.low <= value <= dim.high or (dim.is_int and value != int(value)):
            return None
        if (
            dim.step is not None
            and abs((value - dim.low) / dim.step - round((value - dim.low) / dim.step)) > 1e-9
        ):
            return None
        params[dim.key] = int(value) if dim.is_int else float(value)
    return params


def params_to_patch(params: Mapping[str, Any], dims: Sequence[SearchDim]) -> dict[str, Any]:
    """A finished trial's stored ``params`` back as a config patch (list choices decoded)."""
    by_key = {dim.key: dim for dim in dims}
    patch: dict[str, Any] = {}
    for key, value in params.items():
        dim = by_key.get(key)
        patch[key] = (
            _choice_value(dim, value) if dim is not None and dim.choices is not None else value
        )
    return patch


def config_for_params(
    base: Mapping[str, Any], dims: Sequence[SearchDim], params: Mapping[str, Any], where: str
) -> TrialConfig:
    """The resolved config of a trial whose sampled ``params`` are known."""
    return resolve_trial(base, [(where, params_to_patch(params, dims))])


def parameter_count(config: TrialConfig) -> int:
    """Trainable parameters of the model ``config`` describes (builds it once on CPU)."""
    from ferablate.models import count_parameters, create_model

    return int(count_parameters(create_model(config.model)))


def dims_to_json(dims: Sequence[SearchDim]) -> list[dict[str, Any]]:
    """The space as plain JSON (stored in the study so remote workers need no sweep file)."""
    rows: list[dict[str, Any]] = []
    for dim in dims:
        if dim.choices is not None:
            rows.append({"key": dim.key, "choices": list(dim.choices)})
        else:
            rows.append(
                {"key": dim.key, "low": dim.low, "high": dim.high, "log": dim.log, "step": dim.step}
            )
    return rows


def dims_from_json(rows: Sequence[Mapping[str, Any]]) -> tuple[SearchDim, ...]:
    dims: list[SearchDim] = []
    for row in rows:
        if "choices" in row:
            dims.append(SearchDim(key=row["key"], choices=tuple(row["choices"])))
        else:
            dims.append(
                SearchDim(
                    key=row["key"],
                    low=row["low"],
                    high=row["high"],
                    log=bool(row["log"]),
                    step=row.get("step"),
                )
            )
    return tuple(dims)
