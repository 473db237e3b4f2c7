"""``ferablate appendix``: a finished study's tables and figures as one LaTeX/Markdown appendix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ferablate.cli._app import app
from ferablate.cli._console import console, err_console
from ferablate.cli._options import OverridesOpt, TrackingUriOpt

__all__ = ["appendix"]


@app.command()
def appendix(
    sweeps: Annotated[
        list[Path], typer.Argument(help="Sweep files (YAML) of the study.", metavar="SWEEP...")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Folder for appendix.tex, its inputs, figures, appendix.md (PDF)."
        ),
    ],
    finals: Annotated[
        list[str] | None,
        typer.Option(
            "--final",
            metavar="VARIANT",
            help="Add this variant's final run (PublicTest/PrivateTest scores); repeatable.",
        ),
    ] = None,
    overrides: OverridesOpt = None,
    tracking_uri: TrackingUriOpt = None,
) -> None:
    """Write the appendix of SWEEP...: per sweep its ablation table, claims, the best row's layer
    table and six figures, the comparison table; compiled to PDF when pdflatex is on PATH."""
    from ferablate.config import load_sweep, parse_overrides
    from ferablate.runner import write_appendix

    loaded = [load_sweep(path) for path in sweeps]
    with err_console.status(f"writing the appendix of {len(loaded)} sweep(s)"):
        result = write_appendix(
            loaded,
            out,
            finals=finals or [],
            overrides=parse_overrides(overrides or []),
            tracking_uri=tracking_uri,
        )
    for line in result.missing:  # one line per missing piece, never wrapped
        err_console.print(f"missing: {line}", soft_wrap=True, markup=False, highlight=False)
    console.print(
        f"wrote {result.tex}, {result.markdown} and {len(result.inputs)} inputs", soft_wrap=True,
        markup=False, highlight=False,
    )  # fmt: skip
    console.print(result.compiled, soft_wrap=True, markup=False, highlight=False)
