"""The shell of a sweep file (name, base, variants, grid, search) as pydantic models.

The trial configs inside (``base``, variant patches) are validated by the trial models of
``_types.py``; this module checks everything around them, with ``extra="forbid"`` so a typo
is an error, and words pydantic's errors as lines naming file, variant and key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from ferablate.config._validate import Problem, did_you_mean, ordered_errors

__all__ = [
    "ClaimEntry",
    "SearchEntry",
    "SweepFile",
    "VariantEntry",
    "dotted_key",
    "shell_problems",
]

SECTIONS = ("data", "model", "train")


def dotted_key(key: object) -> str:
    """``key`` if it is a dotted config key (``train.lr``, ``model.convs.0.pool``)."""
    if not isinstance(key, str) or key.split(".")[0] not in SECTIONS:
        raise ValueError("must be a dotted key starting with data., model. or train.")
    return key


def _name(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def _values(value: object) -> object:
    if not isinstance(value, list) or not value:
        raise ValueError("needs a non-empty list of values")
    return value


def _number(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number, got {value!r}")
    return value


DottedKey = Annotated[str, AfterValidator(dotted_key)]
Name = Annotated[str, AfterValidator(_name)]
Number = Annotated[int | float, BeforeValidator(_number)]  # an int stays an int (integer range)


class _Shell(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class VariantEntry(_Shell):
    name: Name = Field(
        description="the variant's name, its row in every table; unique in the sweep"
    )
    patch: dict[DottedKey, Any] | None = Field(
        default=None, alias="set", description="dotted.key: value pairs set over base"
    )
    # The row this variant changes (ablation lineage). A sweep-file key only: never part of a
    # trial's config, so declaring it retrains nothing.
    parent: Name | None = Field(default=None, description="the variant this row changes")


class ClaimEntry(_Shell):
    """One sentence of the report, tested on two variants (``ferablate claims``)."""

    says: Name = Field(description="the sentence, quoted from the report or paraphrased")
    variant: Name = Field(description="the variant the sentence is about")
    versus: Name = Field(description="the variant it is compared with")
    expect: Literal["better", "worse", "equivalent", "not-better"] = Field(
        description="better, worse, equivalent or not-better"
    )
    metric: Literal["val_accuracy", "val_precision", "val_recall"] = "val_accuracy"


class SearchEntry(_Shell):
    """One Optuna dimension: ``{low, high[, log, step]}`` or ``{choices: [...]}``."""

    low: Number | None = None  # lower end of the range (an int range when low and high are ints)
    high: Number | None = None  # upper end of the range
    log: bool = False  # sample on a log scale (needs low > 0)
    step: Number | None = None  # discretisation step of the range
    choices: Annotated[list[Any], Field(min_length=1)] | None = None  # categorical values

    @model_validator(mode="after")
    def _range_or_choices(self) -> SearchEntry:
        if self.choices is not None:
            if self.model_fields_set - {"choices"}:
                raise ValueError("'choices' must stand alone (no low/high/log/step beside it)")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give {low, high[, log, step]} or {choices: [...]}")
        if self.low >= self.high:
            raise ValueError(f"'low' ({self.low}) must be below 'high' ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low}")
        return self


class SweepFile(_Shell):
    name: Name = Field(description="the MLflow experiment (and Optuna study) name")
    description: str = ""
    base: dict[str, Any] = Field(description="the trial config every variant starts from")
    variants: Annotated[list[VariantEntry], Field(min_length=1)] | None = None
    grid: dict[DottedKey, Annotated[list[Any], BeforeValidator(_values)]] | None = None
    search: Annotated[dict[DottedKey, SearchEntry], Field(min_length=1)] | None = None
    claims: Annotated[list[ClaimEntry], Field(min_length=1)] | None = None

    @field_validator("variants")
    @classmethod
    def _unique_names(cls, variants: list[VariantEntry] | None) -> list[VariantEntry] | None:
        seen: set[str] = set()
        for index, variant in enumerate(variants or ()):
            if variant.name in seen:
                raise ValueError(
                    f"variants[{index}]: duplicate variant name '{variant.name}'; "
                    "variant names are rows, make them unique"
                )
            seen.add(variant.name)
        return variants


_ENTRIES: dict[str, type[BaseModel]] = {"variants": VariantEntry, "search": SearchEntry}
_LISTS: dict[str, type[BaseModel]] = {"variants": VariantEntry, "claims": ClaimEntry}


def shell_problems(raw: dict[str, Any], source: str) -> tuple[SweepFile | None, list[Problem]]:
    """The validated shell and no problems, or None and every problem, one line each."""
    try:
        return SweepFile.model_validate(raw), []
    except ValidationError as exc:
        return None, [_problem(error, raw, source) for error in ordered_errors(exc)]


def _field_names(cls: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in cls.model_fields.items()]


def _where(loc: tuple[int | str, ...], raw: dict[str, Any]) -> tuple[str, type[BaseModel], int]:
    """What the location names (``variants[1] ('elu')``, ``grid key 'train.lr'``, ""), the
    model whose fields are valid there, and how many parts of ``loc`` that used."""
    section = loc[0]
    if len(loc) >= 2 and section in _LISTS and isinstance(loc[1], int):
        entries = raw.get(str(section))
        entry = entries[loc[1]] if isinstance(entries, list) else None
        key = "name" if section == "variants" else "says"
        name = entry.get(key) if isinstance(entry, dict) else None
        label = f" ('{name}')" if isinstance(name, str) and name.strip() else ""
        return f"{section}[{loc[1]}]{label}", _LISTS[str(section)], 2
    if len(loc) >= 2 and section in ("grid", "search"):
        return f"{section} key '{loc[1]}'", _ENTRIES.get(str(section), SweepFile), 2
    return "", SweepFile, 0


def _problem(error: ErrorDetails, raw: dict[str, Any], source: str) -> Problem:
    loc = error["loc"]
    where, cls, used = _where(loc, raw)
    rest = [str(part) for part in loc[used:]]
    head = f"{source}: {where}" if where else source
    kind, message = error["type"], error["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        scope = "top-level key" if not where else "field" if cls is SearchEntry else "key"
        hint = did_you_mean(rest[-1], _field_names(cls))
        return Problem(f"{head}: unknown {scope} '{rest[-1]}'{hint}", unknown_key=True)
    if kind == "missing":
        description = (
            cls.model_fields[rest[-1]].description if rest[-1] in cls.model_fields else None
        )
        return Problem(
            f"{head}: '{rest[-1]}' is required" + (f" ({description})" if description else "")
        )
    message = (
        "must not be empty" if kind == "too_short" else message.replace("Input should", "should")
    )
    if rest and rest[-1] == "[key]":  # a mapping's key is at fault (grid/search: the entry's own)
        key = error.get("input")
        return Problem(f"{head} {message}" if len(rest) == 1 else f"{head}: key '{key}' {message}")
    if not rest:  # a validator of the whole entry: its message is a clause or a predicate
        return Problem(
            f"{head} {message}" if message.startswith("needs ") else f"{head}: {message}"
        )
    if kind == "value_error" and rest == ["variants"]:
        return Problem(f"{source}: {message}")  # the validator named the variant itself
    return Problem(f"{head}: '{'.'.join(rest)}' {message}")
