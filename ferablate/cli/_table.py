"""``ferablate table``: the report's appendix tables from tracked runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ferablate._errors import ConfigError
from ferablate.cli._app import app
from ferablate.cli._console import console, err_console
from ferablate.cli._options import (
    FormatOpt,
    Metric,
    MetricOpt,
    OutOpt,
    OverridesOpt,
    StandaloneOpt,
    TableFormat,
    TrackingUriOpt,
)

if TYPE_CHECKING:
    import pandas as pd

    from ferablate.config import Sweep

_Result = TypeVar("_Result")

__all__ = ["emit", "emit_sweep_result", "print_frame", "table"]


def emit(text: str, out: Path | None) -> None:
    """Write ``text`` to ``out`` (and say so on stderr), or print it to stdout as is."""
    if out is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:  # a bad --out is the user's to fix: one line, not a traceback
        raise ConfigError(f"cannot write --out {out}: {exc.strerror or exc}") from None
    err_console.print(f"wrote {out}", markup=False)


def emit_sweep_result(
    sweep: Path,
    overrides: list[str] | None,
    tabulate: Callable[[Sweep, dict[str, Any]], _Result],
    render: Callable[..., str],
    *,
    fmt: TableFormat,
    out: Path | None,
    standalone: bool,
) -> None:
    """What ``compare`` and ``claims`` share: ``tabulate`` the runs of the sweep file ``sweep``
    under the ``--set`` pairs, ``render`` the result as ``fmt`` and :func:`emit` it."""
    from ferablate.config import load_sweep, parse_overrides

    result = tabulate(load_sweep(sweep), parse_overrides(overrides or []))
    emit(render(result, fmt, standalone=standalone), out)


def print_frame(
    frame: pd.DataFrame, title: str, right: tuple[str, ...] = (), footer: str = ""
) -> None:
    """A frame of str cells as a rich table on the terminal (``footer`` under it)."""
    from rich.table import Table

    rich_table = Table(
        title=title, title_justify="left", caption=footer or None, caption_justify="left"
    )
    for column in frame.columns:
        rich_table.add_column(str(column), justify="right" if column in right else "left")
    for values in frame.itertuples(index=False):
        rich_table.add_row(*(str(value) for value in values))
    # Wide enough for every cell, even when stdout is no terminal (rich then assumes 80).
    widths = [
        max([len(str(column)), *(len(str(v)) for v in frame[column])]) for column in frame.columns
    ]
    needed = sum(widths) + 3 * len(widths) + 1
    if console.width >= needed:
        console.print(rich_table)
    else:
        from rich.console import Console

        Console(highlight=False, width=needed).print(rich_table)


@app.command()
def table(
    sweep: Annotated[
        Path | None,
        typer.Argument(help="Sweep file (YAML); or give --experiment.", metavar="[SWEEP]"),
    ] = None,
    experiment: Annotated[
        str | None,
        typer.Option(
            "--experiment",
            "-e",
            help="MLflow experiment to table (rows in trial order), without a sweep file.",
        ),
    ] = None,
    fmt: FormatOpt = TableFormat.text,
    out: OutOpt = None,
    std: Annotated[bool, typer.Option("--std", help="Add ± std over folds to the scores.")] = False,
    vs: Annotated[
        str | None,
        typer.Option(
            "--vs",
            metavar="BASELINE|parent",
            help="Add a Δ column against this variant, or 'parent': each row against its declared parent (corrected resampled t-test; † marks intervals excluding 0).",
        ),
    ] = None,
    metric: MetricOpt = Metric.val_accuracy,
    overrides: OverridesOpt = None,
    standalone: StandaloneOpt = False,
    tracking_uri: TrackingUriOpt = None,
) -> None:
    """Render a sweep's results as the report's ablation table (newest FINISHED run per trial)."""
    if (sweep is None) == (experiment is None):
        raise ConfigError(
            "ferablate table: give a sweep file or --experiment NAME (one of the two)"
        )
    from ferablate.tables import experiment_tables, render_ablation, sweep_tables

    if sweep is not None:
        from ferablate.config import load_sweep, parse_overrides

        tables = sweep_tables(
            load_sweep(sweep),
            tracking_uri=tracking_uri,
            std=std,
            overrides=parse_overrides(overrides or []),
            vs=vs,
            metric=metric.value,
        )
    else:
        assert experiment is not None
        if vs is not None or overrides:
            raise ConfigError("ferablate table: --vs and --set need a sweep file, not --experiment")
        tables = experiment_tables(experiment, tracking_uri=tracking_uri, std=std)
    if fmt is TableFormat.text and out is None:
        for entry in tables:
            print_frame(entry.frame, entry.caption, ("acc.", "prec.", "recall"), entry.footer)
        return
    if fmt is TableFormat.text:  # written to a file: Markdown (the terminal's table is rich's)
        fmt = TableFormat.markdown
    emit(render_ablation(tables, fmt, standalone=standalone), out)
