"""Architecture cells of the report's ablation tables: a pure function of a trial config.

The report's two tables describe each trial by its layers (``3x3x8 no mp``, ``3x3x16, dil``,
``7x7 inc``, ``inc + sc`` ...), its dropout and its activation, plus short notes of what else
the row changed (``ELU batch=32``, ``ELU, more dense``). :func:`architecture_cells` derives
these from the resolved config, so any sweep gets a sensible table without code changes.

Rules (model-1 family, ``sequential``):

- conv cell ``KxKxC``; `` no mp`` when that conv has no max-pool after it; ``, dil`` when its
  dilation is > 1; ``, gc`` when it is a grouped convolution.
- dense cells: the hidden widths, then the 7-way output (``32``, ``16``, ``7``).
- dropout cell: ``yes`` when ``model.dropout`` > 0 (``yes (p)`` when p is not the report's
  unstated default 0.2), empty otherwise; ``no batch-n`` when batch norm is off (the report
  wrote it in this column), joined by ``, `` when both apply.

Rules (model-2 family, ``inception``): one cell per inception block, ``inc``; block 1 reads
``KxK inc`` when the stem kernel is not 3; ``3x3 inc`` when the block's two inner kernels are
both 3 (``KxK/LxL inc`` for other non-default pairs); `` + sc`` with a shortcut. Dropout cell:
``no`` or ``yes (p)`` (plus ``, no batch-n``).

Activation cell (both): ``ReLU``/``ELU``, then notes for every other key whose value differs
from the reference config (the sweep's base): training/data keys as `` key=value`` (``batch=32``,
``lr=1e-5``), model keys as ``, note`` (``more dense``). Keys the other cells show, keys a
row's layers add over the reference, and keys that do not change what is learned (seed,
device, precision, packing, evaluation batch) make no note; a seed-only re-run reads exactly
like the row it repeats, as in the report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from ferablate.config import (
    NUM_CLASSES,
    ConvLayerConfig,
    InceptionBlockConfig,
    InceptionConfig,
    SequentialConfig,
    TrialConfig,
    flatten_config,
)

__all__ = [
    "ArchitectureCells",
    "architecture_cells",
    "block_cell",
    "conv_cell",
    "format_number",
]

REPORT_DROPOUT = 0.2  # model 1's dropout p, unstated in the report; shown as a bare "yes"
_ACTIVATION_NAMES = {"relu": "ReLU", "elu": "ELU"}

# Keys that never make a note: they do not change what the trial learns, or are identity.
_SILENT_KEYS = frozenset(
    {
        "train.seed",
        "train.device",
        "train.precision",
        "train.pack_folds",
        "train.eval_batch_size",
        "data.path",
        "model.preset",
        "model.family",
    }
)
# Short names of the notes the report wrote ("batch=32", "lr=1e-5").
_NOTE_NAMES = {"train.batch_size": "batch", "train.lr": "lr", "data.synthetic_size": "faces"}

# Keys shown by the family's own cells (regular expressions over flattened keys).
_SEQUENTIAL_SHOWN = re.compile(
    r"^model\.(convs\.\d+\.(channels|kernel|pool|dilation|groups)|dense|dropout|batch_norm|activation)$"
)
_INCEPTION_SHOWN = re.compile(
    r"^model\.(stem_kernel|blocks\.\d+\.(inner_kernels|shortcut)|dense|dropout|batch_norm|activation)$"
)


@dataclass(frozen=True)
class ArchitectureCells:
    """The describing cells of one table row (the metric cells come from its run)."""

    family: str  # "sequential" (model 1) or "inception" (model 2)
    layers: tuple[str, ...]  # l1, l2, ...: one per conv (model 1) or inception block (model 2)
    dense: tuple[str, ...]  # model 1 only: hidden widths then the 7-way output
    dropout: str
    activation: str  # activation plus notes


def format_number(value: Any) -> str:
    """Compact, report-style numbers: ``1e-5``, ``1e-3``, ``0.2``, ``32``; others ``str``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _format_value(value)
    if isinstance(value, int):
        return str(value)
    mantissa = f"{value:.0e}"
    if 0 < abs(value) < 0.01 and float(mantissa) == value:
        # "1e-05" -> "1e-5": what people write for learning rates
        return re.sub(r"e([+-])0*(\d)", r"e\1\2", mantissa).replace("e+", "e")
    return f"{value:g}"


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return "-".join(format_number(item) for item in value)
    if value is None:
        return "none"
    return format_number(value) if isinstance(value, (int, float)) else str(value)


def conv_cell(conv: ConvLayerConfig) -> str:
    """``3x3x8``, ``3x3x8 no mp``, ``3x3x16, dil``, ``3x3x16, gc``."""
    cell = f"{conv.kernel}x{conv.kernel}x{conv.channels}"
    if not conv.pool:
        cell += " no mp"
    if conv.dilation > 1:
        cell += ", dil"
    if conv.groups > 1:
        cell += ", gc"
    return cell


def block_cell(block: InceptionBlockConfig, stem_kernel: int | None = None) -> str:
    """``inc``, ``7x7 inc`` (block 1 after a 7x7 stem), ``3x3 inc``, ``inc + sc``."""
    parts = []
    if stem_kernel is not None and stem_kernel != 3:
        parts.append(f"{stem_kernel}x{stem_kernel}")
    first, second = block.inner_kernels
    if (first, second) != (3, 5):
        parts.append(
            f"{first}x{first}" if first == second else f"{first}x{first}/{second}x{second}"
        )
    cell = " ".join([*parts, "inc"]) if len(parts) < 2 else f"{parts[0]}, {parts[1]} inc"
    if block.shortcut:
        cell += " + sc"
    return cell


def _dropout_cell(model: SequentialConfig | InceptionConfig) -> str:
    parts = []
    if model.dropout > 0:
        bare = isinstance(model, SequentialConfig) and model.dropout == REPORT_DROPOUT
        parts.append("yes" if bare else f"yes ({format_number(model.dropout)})")
    elif isinstance(model, InceptionConfig):
        parts.append("no")
    if not model.batch_norm:
        parts.append("no batch-n")
    return ", ".join(parts)


def _dense_note(dense: tuple[int, ...], reference: Any) -> str:
    if isinstance(reference, (list, tuple)):
        if len(dense) > len(reference):
            return "more dense"
        if len(dense) < len(reference):
            return "fewer dense"
    return f"dense={_format_value(dense)}"


def _notes(
    config: TrialConfig, reference: Mapping[str, Any], silent: AbstractSet[str]
) -> tuple[list[str], list[str]]:
    """(training/data notes, model notes) for keys that differ from ``reference``."""
    shown = _SEQUENTIAL_SHOWN if isinstance(config.model, SequentialConfig) else _INCEPTION_SHOWN
    run_notes: list[str] = []
    model_notes: list[str] = []
    flat = flatten_config(config)
    for key, value in flat.items():
        if key in _SILENT_KEYS or key in silent or key not in reference or reference[key] == value:
            continue
        if key == "model.dense" and isinstance(config.model, InceptionConfig):
            model_notes.append(_dense_note(config.model.dense, reference[key]))
            continue
        if shown.match(key):
            continue
        name = _NOTE_NAMES.get(key, key.split(".", 1)[1])
        note = f"{name}={_format_value(value)}"
        (model_notes if key.startswith("model.") else run_notes).append(note)
    return run_notes, model_notes


def architecture_cells(
    config: TrialConfig,
    reference: TrialConfig | Mapping[str, Any] | None = None,
    silent: AbstractSet[str] = frozenset(),
) -> ArchitectureCells:
    """The describing cells of ``config``'s row; notes name what differs from ``reference``.

    ``reference`` is the sweep's base config (or its flattened form, see
    :func:`ferablate.config.flatten_config`); without one, no notes are made. Keys in
    ``silent`` (flattened names) never make a note.
    """
    model = config.model
    if reference is None:
        reference_flat: Mapping[str, Any] = flatten_config(config)
    elif isinstance(reference, TrialConfig):
        reference_flat = flatten_config(reference)
    else:
        reference_flat = reference
    run_notes, model_notes = _notes(config, reference_flat, silent)
    activation = " ".join([_ACTIVATION_NAMES[model.activation], *run_notes])
    if model_notes:
        activation = ", ".join([activation, *model_notes])
    if isinstance(model, SequentialConfig):
        return ArchitectureCells(
            family=model.family,
            layers=tuple(conv_cell(conv) for conv in model.convs),
            dense=(*(str(width) for width in model.dense), str(NUM_CLASSES)),
            dropout=_dropout_cell(model),
            activation=activation,
        )
    layers = tuple(
        block_cell(block, model.stem_kernel if index == 0 else None)
        for index, block in enumerate(model.blocks)
    )
    return ArchitectureCells(
        family=model.family,
        layers=layers,
        dense=(),
        dropout=_dropout_cell(model),
        activation=activation,
    )
