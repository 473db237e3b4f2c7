"""``ferablate data``: inspect data files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ferablate.cli._app import app
from ferablate.cli._console import console

__all__ = ["data_app"]

data_app = typer.Typer(help="Inspect FER2013 data (CSV or image folder).", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("info")
def info(
    path: Annotated[Path, typer.Argument(help="fer2013.csv[.gz] or an image-folder root.")],
) -> None:
    """Print face counts per class x Usage."""
    from rich.table import Table

    from ferablate.data import load_path

    faces = load_path(path)
    counts = faces.counts().T  # classes as rows: the table fits 80 columns (a log file's width)
    table = Table(title=f"{path.name} ({faces.source}; content hash {faces.content_hash})")
    # Class names and numbers are never cut: no wrap, no ellipsis; a too-narrow console folds.
    table.add_column("class", no_wrap=True, overflow="fold", min_width=len("surprise"))
    for usage in counts.columns:
        table.add_column(
            str(usage),
            justify="right",
            no_wrap=True,
            overflow="fold",
            min_width=len(f"{int(counts[usage].max()):,}"),
        )
    for name, row in counts.iterrows():
        table.add_row(str(name), *(f"{int(v):,}" for v in row))
    console.print(table)
