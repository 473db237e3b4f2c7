"""Turn a raw trial dict into a :class:`TrialConfig`, with errors a person can act on.

Pydantic's errors are precise but long; a researcher needs one line: which file, which
variant, which dotted key, what is wrong and the closest valid key.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from ferablate._errors import ConfigError
from ferablate.config._types import InceptionConfig, SequentialConfig, TrialConfig

__all__ = ["closest_key_hint", "known_keys", "validate_trial"]

_FAMILIES: dict[str, type[BaseModel]] = {"sequential": SequentialConfig, "inception": InceptionConfig}


def validate_trial(raw: dict[str, Any], where: str) -> TrialConfig:
    """Validate ``raw`` as a trial config; ``where`` names the file/variant for the message."""
    try:
        return TrialConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = [part for part in error["loc"] if not _is_family_tag(part, error["loc"])]
    dotted = ".".join(str(part) for part in loc) or "(top level)"
    kind = error["type"]
    more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    if kind == "extra_forbidden":
        return f"unknown key '{dotted}'{closest_key_hint(error['loc'])}{more}"
    if kind == "missing":
        return f"missing key '{dotted}'{more}"
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return f"'{dotted}' needs 'family: sequential|inception' or a 'preset'{more}"
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    got = "" if isinstance(value, (dict, list, tuple)) else f" (got {value!r})"
    return f"key '{dotted}': {message}{got}{more}"


def _is_family_tag(part: object, loc: tuple[object, ...]) -> bool:
    # Pydantic puts the discriminator value into the location of union members.
    return part in _FAMILIES and len(loc) > 1 and loc[0] == "model" and loc[1] == part


def _model_classes(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(_model_classes(arg))
    if isinstance(annotation, types.UnionType):
        for arg in annotation.__args__:
            found.extend(_model_classes(arg))
    return found


def _class_at(loc: tuple[object, ...]) -> type[BaseModel] | None:
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
        candidates = _model_classes(field.annotation)
        if not candidates:
            return None
        if len(candidates) > 1 and index < len(parts) and parts[index] in _FAMILIES:
            cls = _FAMILIES[str(parts[index])]
            index += 1
        else:
            cls = candidates[0]
    return cls


def closest_key_hint(loc: tuple[object, ...]) -> str:
    """``"; did you mean 'model.activation'?"`` for a mistyped key at ``loc``, or ``""``."""
    cls = _class_at(loc)
    if cls is None:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(cls.model_fields), n=1, cutoff=0.5)
    if not close:
        return f"; valid keys here: {', '.join(cls.model_fields)}"
    prefix = [str(p) for p in loc[:-1] if not _is_family_tag(p, loc)]
    return f"; did you mean '{'.'.join([*prefix, close[0]])}'?"


def known_keys() -> list[str]:
    """Every dotted key a trial config accepts (list items as ``N``), for hints and docs."""
    keys: list[str] = []

    def walk(cls: type[BaseModel], prefix: str) -> None:
        for name, field in cls.model_fields.items():
            classes = _model_classes(field.annotation)
            if classes:
                is_list = typing.get_origin(field.annotation) is tuple
                for sub in dict.fromkeys(classes):
                    walk(sub, f"{prefix}{name}.N." if is_list else f"{prefix}{name}.")
            else:
                keys.append(f"{prefix}{name}")

    walk(TrialConfig, "")
    return sorted(dict.fromkeys(keys))
