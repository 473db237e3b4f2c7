"""The configuration reference (``docs/configuration.md``), generated from the trial models.

Each key's description is the comment its field carries in ``_types.py`` (on its line, or the
comment lines right above it), so the page cannot drift from the code:
``python -m ferablate.config > docs/configuration.md`` regenerates it, and a test checks it.
"""

from __future__ import annotations

import ast
import inspect
import io
import json
import tokenize
import typing
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import AfterValidator, BaseModel
from pydantic.fields import FieldInfo

from ferablate.config import _types
from ferablate.config._types import (
    ConvLayerConfig,
    DataConfig,
    InceptionBlockConfig,
    InceptionConfig,
    SequentialConfig,
    TrainConfig,
)
from ferablate.config._validate import model_classes

__all__ = ["config_reference_markdown"]

REGENERATE = "python -m ferablate.config > docs/configuration.md"

_SECTIONS: tuple[tuple[str, type[BaseModel], str], ...] = (
    ("data", DataConfig, "Where the faces come from and which of them a trial uses."),
    ("model", SequentialConfig, "Model 1 family (`model.family: sequential`)."),
    ("model.convs.N", ConvLayerConfig, "One conv block of a sequential model, input side first."),
    ("model", InceptionConfig, "Model 2 family (`model.family: inception`)."),
    ("model.blocks.N", InceptionBlockConfig, "One inception block, input side first."),
    ("train", TrainConfig, "How every fold is trained."),
)

_HEADER = f"""# Configuration reference

<!-- Generated from ferablate/config/_types.py; do not edit. Regenerate with:
     {REGENERATE} -->

A trial config has three sections, `data`, `model` and `train`. In a sweep file they sit under
`base:`; variants, grids and `--set` address a key by its dotted name (list items by index:
`model.convs.0.pool`). Unknown keys are errors. `model.preset` starts the model section from a
named preset (`report-model1`, `report-model2`, `baseline-model1`); keys given beside it
override the preset's. Types are strict: an int is an integer (not `true`, not `2.0`), a bool
is `true` or `false` (not `1`), a float takes an integer or a decimal but not `true` and must be
finite (not `.nan` or `.inf`).
"""


def config_reference_markdown() -> str:
    """The whole reference page: one table per section, one row per key."""
    comments = _field_comments()
    parts = [_HEADER]
    for prefix, cls, about in _SECTIONS:
        parts.append(f"\n## `{prefix}` ({cls.__name__})\n\n{about}\n\n")
        parts.append("| key | type | default | description |\n|---|---|---|---|\n")
        for name, field in cls.model_fields.items():
            nested = model_classes(field.annotation)
            kind = _type_text(field.annotation, field.metadata)
            if nested:
                kind = f"list of `{prefix}.{name}.N` entries (below)"
            description = comments.get((cls.__name__, name), "")
            default = "required" if field.is_required() else _value_text(field.default)
            row = (f"`{prefix}.{name}`", kind, default, description)
            parts.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |\n")
    return "".join(parts)


def _field_comments() -> dict[tuple[str, str], str]:
    """``(class, field) -> comment`` for every field of ``_types.py`` that has one."""
    source = inspect.getsource(_types)
    comments: dict[int, str] = {}  # line -> comment text
    alone: set[int] = set()  # lines holding nothing but a comment
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
            if token.line.lstrip().startswith("#"):
                alone.add(token.start[0])
    found: dict[tuple[str, str], str] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                found[(node.name, item.target.id)] = _comment_for(item, comments, alone)
    return found


def _comment_for(item: ast.AnnAssign, comments: dict[int, str], alone: set[int]) -> str:
    end = item.end_lineno or item.lineno
    if end in comments and end not in alone:  # on the line of the field
        return comments[end]
    above: list[str] = []
    line = item.lineno - 1
    while line in alone:  # the block of comment lines right above it
        above.insert(0, comments[line])
        line -= 1
    return " ".join(above)


def _type_text(annotation: object, metadata: list[Any] | None = None) -> str:
    """``int ≥ 2, ≤ 20``, ``relu \\| elu``, ``list of int > 0``, ``int > 0 or null`` …"""
    constraints = list(metadata or [])
    if typing.get_origin(annotation) is Annotated:
        base, *extra = typing.get_args(annotation)
        return _type_text(base, [*extra, *constraints])
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        text = " | ".join(f"`{arg}`" for arg in args)
    elif origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            text = f"list of {_type_text(args[0])}"
        elif len(set(args)) == 1:
            text = f"list of {len(args)} × ({_type_text(args[0])})"
        else:
            text = f"list of {len(args)}: " + ", ".join(f"({_type_text(arg)})" for arg in args)
    elif type(None) in args:
        text = " or ".join(_type_text(arg) for arg in args if arg is not type(None)) + " or null"
    else:
        text = getattr(annotation, "__name__", str(annotation))
    limits = ", ".join(_constraint_texts(constraints))
    return f"{text} {limits}" if limits else text


def _constraint_texts(constraints: list[Any]) -> Iterator[str]:
    words = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}
    for item in constraints:
        if isinstance(item, FieldInfo):  # Field(gt=0) inside Annotated keeps its bounds here
            yield from _constraint_texts(item.metadata)
            continue
        for name, symbol in words.items():
            bound = getattr(item, name, None)
            if isinstance(item, annotated_types.BaseMetadata) and bound is not None:
                yield f"{symbol} {bound}"
        if isinstance(item, annotated_types.MinLen):
            yield f"(at least {item.min_length})"
        if isinstance(item, AfterValidator) and getattr(item.func, "__name__", "") == "_odd":
            yield "odd"


def _value_text(value: object) -> str:
    if isinstance(value, BaseModel):
        return "see below"
    plain = list(value) if isinstance(value, tuple) else value
    return f"`{json.dumps(plain) if not isinstance(plain, str) else plain}`"
