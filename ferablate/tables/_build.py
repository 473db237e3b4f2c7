"""Ablation tables in the report's layout: one row per trial, cells as strings.

A :class:`TableRow` is what is known about one trial (its config, how its newest run ended,
its summary metrics); :func:`build_tables` lays rows out as the report's tables, one per
model family, in the order given.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ferablate._outcome import TrialOutcome
from ferablate.config import TrialConfig, flatten_config
from ferablate.tables._cells import ArchitectureCells, architecture_cells
from ferablate.tables._provenance import (
    _MISSING,
    OTHER_ORIGIN_MARK,
    RowOrigin,
    data_words,
    other_origin,
    provenance_notes,
    provenance_sentences,
)
from ferablate.tables._render import TableDoc, render_tables

if TYPE_CHECKING:
    import pandas as pd

    from ferablate.tracking import StoredRun

__all__ = [
    "COLLAPSED_MARK",
    "METRIC_COLUMNS",
    "AblationTable",
    "RowStatus",
    "TableRow",
    "build_tables",
    "choose_run",
    "metric_cells",
    "reference_config",
    "render_ablation",
    "render_latex",
    "render_markdown",
]

RowStatus = Literal[
    "finished", "oom", "diverged", "failed", "pruned", "interrupted", "running", "missing"
]

METRIC_COLUMNS = ("acc.", "prec.", "recall")
COLLAPSED_MARK = "§"  # on the accuracy of a row with a fold that stayed at chance
_METRICS = ("val_accuracy", "val_precision", "val_recall")  # summary metric stems, column order
_STATUS_TEXT: dict[str, str] = {
    "oom": "no fit in memory",
    "diverged": "diverged",
    "failed": "failed",
    "pruned": "pruned",
    "interrupted": "interrupted",
    "running": "running",
    "missing": "—",
}
_FAMILY_TITLES = {"sequential": "model 1 family", "inception": "model 2 family"}


@dataclass(frozen=True)
class TableRow:
    """One trial of a table: its config and how its newest relevant run ended."""

    name: str  # trial name (the variant, plus the grid point in a grid sweep)
    config: TrialConfig  # what ran (from the run), or what would run (no run yet)
    status: RowStatus
    metrics: Mapping[str, float] = field(default_factory=dict)  # summary metrics of a finished run
    run_id: str | None = None
    data_hash: str = ""  # of the run (provenance)
    git_commit: str = ""  # code that trained the run
    precision: str = ""  # what the run's autocast ran (fp32/bf16)
    collapsed: tuple[str, ...] = ()  # folds of the run that stayed at chance ("3", "r1-f0")


@dataclass(frozen=True)
class AblationTable:
    """One rendered-ready table: string cells under the report's column names."""

    frame: pd.DataFrame  # one row per trial, report columns, str cells
    family: str  # "sequential" | "inception"
    caption: str
    label: str  # LaTeX label, e.g. "tab:report-model1-grid"
    names: tuple[str, ...]  # trial name of each row
    statuses: tuple[RowStatus, ...]  # status of each row
    footer: str = ""  # provenance and marks: under the table (text, markdown)
    # LaTeX: the caption in a reader's words (what the numbers are, no hashes) and the table
    # notes under it in footnote size (data hash, commit, marks, what a mixed cell means)
    latex_caption: str = ""
    notes: tuple[str, ...] = ()

    def doc(self) -> TableDoc:
        """The table as every format renders it (csv: ``trial``, the columns, ``status``)."""
        records = self.frame.copy()
        records.insert(0, "trial", list(self.names))
        records["status"] = list(self.statuses)
        metrics = sum(1 for column in self.frame.columns if column in METRIC_COLUMNS)
        footers = (self.footer,) * bool(self.footer)
        return TableDoc(
            frame=self.frame, caption=self.caption, label=self.label, records=records,
            right=METRIC_COLUMNS, after=footers, latex_caption=self.latex_caption,
            notes=self.notes if self.latex_caption else footers,
            column_format="l" * (len(self.frame.columns) - metrics) + "r" * metrics,
        )  # fmt: skip


def render_ablation(tables: Sequence[AblationTable], fmt: str, standalone: bool = False) -> str:
    """The tables as ``fmt`` (``tables.TableFormat``): caption, table, provenance; csv: one CSV
    of all rows, machine-readable; ``standalone``: LaTeX as a complete document."""
    return render_tables([table.doc() for table in tables], fmt, standalone=standalone)


render_latex = functools.partial(render_ablation, fmt="latex")  # (tables, standalone=False)
render_markdown = functools.partial(render_ablation, fmt="markdown")  # (tables)


# how a run ended -> row status (any other ending: "failed")
_ENDED: dict[TrialOutcome, RowStatus] = {
    TrialOutcome.OOM: "oom",
    TrialOutcome.DIVERGED: "diverged",
    TrialOutcome.PRUNED: "pruned",
    TrialOutcome.KILLED: "interrupted",
}


Run = TypeVar("Run", bound="StoredRun")


def choose_run(runs: Sequence[Run]) -> tuple[Run | None, RowStatus]:
    """The run a trial's row shows (newest first in ``runs``) and the row's status.

    The newest FINISHED run; without one, the newest run: RUNNING reads ``running``, an ending
    tagged ``oom`` / ``diverged`` / ``pruned`` / ``killed`` reads ``oom`` / ``diverged`` /
    ``pruned`` / ``interrupted``, any other ``failed``. No run at all: ``missing``.
    """
    finished = next((run for run in runs if run.outcome is TrialOutcome.FINISHED), None)
    if finished is not None:
        return finished, "finished"
    if not runs:
        return None, "missing"
    newest = runs[0]
    return newest, "running" if newest.outcome is None else _ENDED.get(newest.outcome, "failed")


def metric_cells(row: TableRow, std: bool = False) -> tuple[str, str, str]:
    """acc., prec., recall: ``0.47`` (``0.47 ± 0.01`` with ``std``) or the row's status.

    A finished row with collapsed folds carries :data:`COLLAPSED_MARK` on its accuracy.

    An out-of-memory trial reads ``no fit in memory`` in the accuracy cell and leaves the
    other two empty, as in the report; a failed or running one likewise; a trial without a
    run reads ``—`` in all three.
    """
    if row.status == "finished":
        cells = []
        for stem in _METRICS:
            mean = row.metrics.get(f"{stem}_mean")
            spread = f" ± {row.metrics.get(f'{stem}_std', 0.0):.2f}" if std else ""
            cells.append("—" if mean is None else f"{mean:.2f}{spread}")
        return cells[0] + COLLAPSED_MARK * bool(row.collapsed), cells[1], cells[2]
    text = _STATUS_TEXT[row.status]
    if row.status == "missing":
        return text, text, text
    return text, "", ""


def reference_config(
    base: TrialConfig | None, configs: Sequence[TrialConfig]
) -> tuple[dict[str, Any], frozenset[str]]:
    """The flattened config notes are made against, and the keys that make no note.

    The reference is ``base`` (or the first config) with every key on which ALL ``configs``
    agree taken from them; those keys, where they differ from ``base``, are returned as
    silent. So an override given to every trial (``--set data.limit=1500``) makes no note,
    not even on a row that has no run yet, while a key one variant changes does (``batch=32``).
    """
    if not configs:
        return (flatten_config(base) if base is not None else {}), frozenset()
    flat_rows = [flatten_config(config) for config in configs]
    reference = flatten_config(base) if base is not None else dict(flat_rows[0])
    silent = set()
    for key in list(reference):
        values = [flat.get(key, _MISSING) for flat in flat_rows]
        if values[0] is not _MISSING and all(value == values[0] for value in values):
            if reference[key] != values[0]:
                silent.add(key)
            reference[key] = values[0]
    return reference, frozenset(silent)


def _columns(family: str, cells: Sequence[ArchitectureCells]) -> list[str]:
    layers = max((len(c.layers) for c in cells), default=0)
    columns = [f"l{i}" for i in range(1, layers + 1)]
    if family == "sequential":
        # The report numbers dense columns on from the last conv column: l1-l4, then d4-d6.
        dense = max((len(c.dense) for c in cells), default=0)
        columns += [f"d{layers + i}" for i in range(dense)]
    return [*columns, "dropout", "act.", *METRIC_COLUMNS]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "table"


def _settings(configs: Sequence[TrialConfig]) -> str:
    folds = {config.train.folds for config in configs}
    epochs = {config.train.epochs for config in configs}
    if len(folds) == 1 and len(epochs) == 1:
        count = epochs.pop()
        return f"validation scores, mean over {folds.pop()} folds after {count} epoch{'s' * (count != 1)}"
    return "validation scores, mean over folds"


def build_tables(
    rows: Sequence[TableRow],
    *,
    title: str,
    name: str | None = None,
    base: TrialConfig | None = None,
    std: bool = False,
) -> list[AblationTable]:
    """The report-layout tables of ``rows`` (one per model family, rows in the given order).

    ``title`` starts the caption; ``name`` (default: ``title``) makes the label; ``base`` is the
    config notes are made against (see :func:`reference_config`); ``std`` adds ``± std`` over
    folds.
    """
    import pandas as pd  # deferred: the CLI imports this module on demand only

    title = title.rstrip(".")  # a sweep's description is a sentence; the caption goes on after it
    families = list(dict.fromkeys(row.config.model.family for row in rows))
    tables = []
    for family in families:
        members = [row for row in rows if row.config.model.family == family]
        # Rows without a run show the sweep's config, without the overrides the runs had:
        # the common settings come from the rows that ran.
        ran = [row.config for row in members if row.status != "missing"]
        configs = ran or [row.config for row in members]
        base_of_family = base if base is not None and base.model.family == family else None
        reference, silent = reference_config(base_of_family, configs)
        cells = [architecture_cells(row.config, reference, silent) for row in members]
        columns = _columns(family, cells)
        layer_columns = [c for c in columns if c.startswith("l")]
        dense_columns = [c for c in columns if c.startswith("d") and c[1:].isdigit()]
        records = []
        origins = [
            RowOrigin(row.name, row.config, row.data_hash, row.git_commit, row.precision)
            for row in members
            if row.status == "finished"
        ]
        others = other_origin(origins)
        for row, cell in zip(members, cells, strict=True):
            record = dict.fromkeys(columns, "")
            record.update(zip(layer_columns, cell.layers, strict=False))
            record.update(zip(dense_columns, cell.dense, strict=False))
            mark = f" {OTHER_ORIGIN_MARK}" if row.name in others else ""
            record |= {"dropout": cell.dropout, "act.": cell.activation + mark}
            record.update(zip(METRIC_COLUMNS, metric_cells(row, std), strict=True))
            records.append(record)
        frame = pd.DataFrame.from_records(records, columns=columns)
        label, caption = _slug(name or title), f"{title}: {_settings(configs)}"
        if len(families) > 1:
            label += f"-{family}"
            caption = f"{title} ({_FAMILY_TITLES.get(family, family)}): {_settings(configs)}"
        words = data_words(origins)
        marks = _marks(members)
        tables.append(
            AblationTable(
                frame=frame,
                family=family,
                caption=caption,
                label=f"tab:{label}",
                names=tuple(row.name for row in members),
                statuses=tuple(row.status for row in members),
                footer=" ".join([*provenance_sentences(origins, base_of_family), *marks]),
                latex_caption=f"{caption}. {words}." if words else caption,
                notes=(*provenance_notes(origins, base_of_family), *marks, *_cell_notes(frame)),
            )
        )
    return tables


def _cell_notes(frame: pd.DataFrame) -> list[str]:
    """Notes on cells that mix two ablations in one column (the report's own layout)."""
    notes = []
    if "dropout" in frame.columns and frame["dropout"].str.contains("no batch-n").any():
        notes.append(
            "Dropout column: “no batch-n” marks a row trained without batch normalisation, "
            "a second ablation the report lists in this column; “yes” is dropout "
            "(p = 0.2 unless given)."
        )
    return notes


def _marks(rows: Sequence[TableRow]) -> list[str]:
    """Footer sentences for the rows' marks: collapsed folds, diverged trials."""
    sentences = []
    collapsed = [
        f"{row.name} ({', '.join(row.collapsed)})"
        for row in rows
        if row.status == "finished" and row.collapsed
    ]
    if collapsed:
        sentences.append(
            f"{COLLAPSED_MARK} Folds that stayed at chance (collapsed), included in the mean: "
            f"{'; '.join(collapsed)}."
        )
    if any(row.status == "diverged" for row in rows):
        sentences.append(
            "Diverged: the training loss became non-finite or exceeded train.diverge_loss (no scores)."
        )
    return sentences
