"""Options shared by several commands, defined once as ``Annotated`` aliases."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

__all__ = [
    "FormatOpt",
    "OutOpt",
    "OverridesOpt",
    "StandaloneOpt",
    "SweepArg",
    "TableFormat",
    "TrackingUriOpt",
    "VariantOpt",
]

SweepArg = Annotated[Path, typer.Argument(help="Sweep file (YAML).", metavar="SWEEP")]
OverridesOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="Override a config key in every trial (value read as YAML), e.g. --set train.epochs=2.",
    ),
]
TrackingUriOpt = Annotated[
    Optional[str],
    typer.Option(
        "--tracking-uri",
        metavar="URI",
        help="MLflow store [default: $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db].",
    ),
]
VariantOpt = Annotated[
    Optional[str], typer.Option("--variant", "-v", help="Variant name of the sweep (default: the first).")
]


class TableFormat(str, Enum):
    """How ``table`` and ``summary`` write a table."""

    text = "text"
    latex = "latex"
    markdown = "markdown"
    csv = "csv"


FormatOpt = Annotated[
    TableFormat,
    typer.Option("--format", "-f", help="Output format: text (terminal), latex, markdown or csv."),
]
OutOpt = Annotated[
    Optional[Path], typer.Option("--out", "-o", metavar="FILE", help="Write to FILE instead of stdout.")
]
StandaloneOpt = Annotated[
    bool,
    typer.Option("--standalone", help="LaTeX: a complete document that compiles with pdflatex as is."),
]
