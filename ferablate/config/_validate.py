"""Turn a raw trial dict into a :class:`TrialConfig`, with errors a person can act on.

Pydantic's errors are precise but long; a researcher needs one line per problem: which file,
which variant, which dotted key, what is wrong and the closest valid key. Every problem of a
config is reported at once (unknown keys first), as one :class:`ConfigError` whose first line
stands alone and whose further problems follow one per line.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ferablate._errors import ConfigError
from ferablate.config._types import (
    IMAGE_SIZE,
    InceptionConfig,
    SequentialConfig,
    TrialConfig,
)

__all__ = [
    "Problem",
    "closest_key_hint",
    "config_error",
    "did_you_mean",
    "feature_map_problem",
    "model_classes",
    "ordered_errors",
    "problems_of",
    "trial_problems",
    "validate_trial",
]

_FAMILIES: dict[str, type[BaseModel]] = {
    "sequential": SequentialConfig,
    "inception": InceptionConfig,
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config, as the line that says so (file/variant/key first)."""

    text: str
    unknown_key: bool = False  # unknown keys are listed first: they explain missing ones


class _ProblemsError(ConfigError):
    """A ConfigError that keeps its problems, so a caller can gather several errors' lines."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda problem: not problem.unknown_key))
        first, *rest = [problem.text for problem in self.problems]
        if rest:
            first += f" (1 of {len(self.problems)} problems; the others follow)"
        super().__init__("\n".join([first, *(f"  {line}" for line in rest)]))


def config_error(problems: Sequence[Problem]) -> ConfigError:
    """One error for every problem (unknown keys first): the first line stands alone, each
    other problem follows on its own line."""
    return _ProblemsError(problems)


def problems_of(exc: ConfigError) -> list[Problem]:
    """The problems a ConfigError reports (one for an error raised with a plain message)."""
    return list(exc.problems) if isinstance(exc, _ProblemsError) else [Problem(str(exc))]


def validate_trial(
    raw: dict[str, Any], where: str, where_of: Callable[[str], str] | None = None
) -> TrialConfig:
    """Validate ``raw`` as a trial config; ``where`` names the file/variant for the message.

    ``where_of`` (dotted key -> where), when given, names the place that set the faulty key
    (a variant, a grid point, ``--set``) instead of ``where``.
    """
    config, problems = trial_problems(raw, where, where_of)
    if config is None:
        raise config_error(problems)
    return config


def trial_problems(
    raw: object, where: str, where_of: Callable[[str], str] | None = None
) -> tuple[TrialConfig | None, list[Problem]]:
    """The validated config and no problems, or None and every problem found in ``raw``."""
    try:
        config = TrialConfig.model_validate(raw)
    except ValidationError as exc:
        return None, [_problem(error, where, where_of) for error in ordered_errors(exc)]
    shape = feature_map_problem(config.model)
    if shape is not None:
        key, message = shape
        return None, [Problem(f"{where_of(key) if where_of else where}: key '{key}': {message}")]
    return config, []


def ordered_errors(exc: ValidationError) -> list[ErrorDetails]:
    """Pydantic's errors with unknown keys first (a typo explains the "missing" that follows).

    A list whose items failed is also reported "too short" by pydantic (it counts the items
    that validated): only the items' own errors are kept.
    """
    errors = exc.errors()
    inner = [tuple(error["loc"]) for error in errors]
    kept = [
        error
        for error in errors
        if not (
            error["type"] == "too_short"
            and any(
                len(loc) > len(error["loc"]) and loc[: len(error["loc"])] == tuple(error["loc"])
                for loc in inner
            )
        )
    ]
    return sorted(kept, key=lambda error: error["type"] != "extra_forbidden")


def _problem(
    error: ErrorDetails, where: str, where_of: Callable[[str], str] | None = None
) -> Problem:
    loc = [part for part in error["loc"] if not _is_family_tag(part, error["loc"])]
    dotted = ".".join(str(part) for part in loc) or "(top level)"
    if where_of is not None:
        where = where_of(dotted)
    kind = error["type"]
    if kind == "extra_forbidden":
        hint = closest_key_hint(error["loc"])
        return Problem(f"{where}: unknown key '{dotted}'{hint}", unknown_key=True)
    if kind == "missing":
        return Problem(f"{where}: missing key '{dotted}'")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return Problem(f"{where}: '{dotted}' needs 'family: sequential|inception' or a 'preset'")
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    got = "" if isinstance(value, (dict, list, tuple)) else f" (got {value!r})"
    return Problem(f"{where}: key '{dotted}': {message}{got}")


def _is_family_tag(part: object, loc: Sequence[object]) -> bool:
    # Pydantic puts the discriminator value into the location of union members.
    return part in _FAMILIES and len(loc) > 1 and loc[0] == "model" and loc[1] == part


# -- the feature map through the network ------------------------------------------------------

_POOL_FIX = "set pool: false here or on an earlier layer"


def _pools(model: SequentialConfig | InceptionConfig) -> list[tuple[str, str]]:
    """The model's 2x2 max-pools in order, as (dotted key that adds it, how to remove it)."""
    if isinstance(model, SequentialConfig):
        return [
            (f"model.convs.{i}.pool", _POOL_FIX) for i, conv in enumerate(model.convs) if conv.pool
        ]
    pools = [("model.stem_kernel", _POOL_FIX)]  # the stem always pools (48 -> 24)
    pools += [
        (f"model.blocks.{i}.pool", _POOL_FIX) for i, block in enumerate(model.blocks) if block.pool
    ]
    if model.head_channels:
        pools.append(("model.head_channels", "set head_channels: 0 or pool: false on a block"))
    return pools


def feature_map_problem(model: SequentialConfig | InceptionConfig) -> tuple[str, str] | None:
    """``(dotted key, message)`` for the first max-pool with nothing left to pool, else None.

    Convolutions keep the side ('same' padding), each 2x2 max-pool halves it (floor), so the
    shape is arithmetic: no network (and no torch) is needed to find the layer at fault.
    """
    side = IMAGE_SIZE
    for key, fix in _pools(model):
        if side < 2:
            return key, (
                f"the feature map is {side}x{side} before this 2x2 max-pool, too small to pool; {fix}"
            )
        side //= 2
    return None


# -- "did you mean" ----------------------------------------------------------------------------


def did_you_mean(key: str, valid: Iterable[str], prefix: str = "") -> str:
    """``"; did you mean 'prefix.closest'?"``, or the valid keys when none is close."""
    valid = list(valid)
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    if not close:
        return f"; valid keys here: {', '.join(valid)}"
    return f"; did you mean '{prefix}{close[0]}'?"


def model_classes(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models inside an annotation (through Annotated, unions, tuples, dicts)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = [cls for arg in typing.get_args(annotation) for cls in model_classes(arg)]
    return list(dict.fromkeys(found))


def _class_at(loc: Sequence[object]) -> type[BaseModel] | None:
    """The config class whose fields are valid at the parent of ``loc``."""
    cls: type[BaseModel] = TrialConfig
    parts = list(loc[:-1])
    index = 0
    while index < len(parts):
        part = parts[index]
        index += 1
        if isinstance(part, int):
            continue
        field = cls.model_fields.get(str(part))
        if field is None:
            return None
        candidates = model_classes(field.annotation)
        if not candidates:
            return None
        if len(candidates) > 1 and index < len(parts) and parts[index] in _FAMILIES:
            cls = _FAMILIES[str(parts[index])]
            index += 1
        else:
            cls = candidates[0]
    return cls


def closest_key_hint(loc: Sequence[object]) -> str:
    """``"; did you mean 'model.activation'?"`` for a mistyped trial key at ``loc``, or ``""``."""
    cls = _class_at(loc)
    if cls is None:
        return ""
    prefix = "".join(f"{part}." for part in loc[:-1] if not _is_family_tag(part, loc))
    return did_you_mean(str(loc[-1]), cls.model_fields, prefix)
