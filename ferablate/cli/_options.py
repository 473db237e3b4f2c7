"""Options shared by several commands, defined once as ``Annotated`` aliases."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ferablate.stats._stattests import STAT_TESTS
from ferablate.tables._render import TableFormat

__all__ = [
    "Adjust",
    "AdjustOpt",
    "DryRunOpt",
    "FormatOpt",
    "GraceOpt",
    "HeartbeatOpt",
    "JobsOpt",
    "Metric",
    "MetricOpt",
    "NoFiguresOpt",
    "OutOpt",
    "OverridesOpt",
    "PresetOrSweepArg",
    "RopeOpt",
    "StandaloneOpt",
    "StatTest",
    "StatTestOpt",
    "StorageOpt",
    "StudyOpt",
    "SweepArg",
    "TableFormat",
    "TimeoutOpt",
    "TrackingUriOpt",
    "VariantOpt",
]

SweepArg = Annotated[Path, typer.Argument(help="Sweep file (YAML).", metavar="SWEEP")]
PresetOrSweepArg = Annotated[
    str,
    typer.Argument(
        help="A preset name (report-model1, ...) or a sweep file (with --variant).",
        metavar="PRESET|SWEEP",
    ),
]
OverridesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="Override a config key in every trial (value read as YAML), e.g. --set train.epochs=2.",
    ),
]
TrackingUriOpt = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        metavar="URI",
        help="MLflow store \\[default: $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db].",
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print what would run (trials, server command) and exit.")
]
VariantOpt = Annotated[
    str | None,
    typer.Option("--variant", "-v", help="Variant name of the sweep (default: the first)."),
]


FormatOpt = Annotated[
    TableFormat,
    typer.Option("--format", "-f", help="Output format (text: a table on the terminal)."),
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", metavar="FILE", help="Write to FILE instead of stdout."),
]
StandaloneOpt = Annotated[
    bool,
    typer.Option(
        "--standalone", help="LaTeX: a complete document that compiles with pdflatex as is."
    ),
]


class Metric(StrEnum):
    """The per-fold score ``compare`` and ``table --vs`` test."""

    val_accuracy = "val_accuracy"
    val_precision = "val_precision"
    val_recall = "val_recall"


MetricOpt = Annotated[
    Metric, typer.Option("--metric", "-m", help="Per-fold score to compare (last epoch).")
]


# the --test choices: the names in stats.STAT_TESTS (a test registered there is offered here)
StatTest = StrEnum("StatTest", {name: name for name in STAT_TESTS})  # type: ignore[misc]
StatTestOpt = Annotated[
    StatTest,
    typer.Option(
        "--test",
        help="; ".join(f"{test.name}: {test.help}" for test in STAT_TESTS.values()) + ".",
    ),
]
RopeOpt = Annotated[
    float,
    typer.Option(
        "--rope", min=0.0, help="Half-width of the region of practical equivalence (metric units)."
    ),
]


class Adjust(StrEnum):
    """How ``compare`` and ``claims`` adjust a table's p-values as one family."""

    holm = "holm"
    bh = "bh"
    none = "none"


AdjustOpt = Annotated[
    Adjust,
    typer.Option(
        "--adjust",
        help="Family-wise control of the rows' p-values: holm (Holm's step-down), bh (Benjamini-Hochberg) or none.",
    ),
]
StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        metavar="URL",
        help="Optuna study storage shared by workers, e.g. postgresql+psycopg://user@host/db or sqlite:///mlruns/optuna.db.",
    ),
]
StudyOpt = Annotated[
    str | None,
    typer.Option("--study", metavar="NAME", help="Optuna study name (default: the sweep's name)."),
]
HeartbeatOpt = Annotated[
    int,
    typer.Option(
        "--heartbeat", metavar="S", min=1, help="Seconds between a running trial's heartbeats."
    ),
]
GraceOpt = Annotated[
    int | None,
    typer.Option(
        "--grace",
        metavar="S",
        min=1,
        help="Seconds without heartbeat before a trial is re-queued \\[default: 3x heartbeat].",
    ),
]


def _positive_seconds(value: float | None) -> float | None:
    if value is not None and not value > 0:  # NaN too
        raise typer.BadParameter(f"{value:g} is not a positive number of seconds")
    return value


TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="S",
        callback=_positive_seconds,
        help="Start no trial after S seconds.",
    ),
]
NoFiguresOpt = Annotated[
    bool,
    typer.Option("--no-figures", help="Do not log the report's six figures (figures/) per trial."),
]
JobsOpt = Annotated[
    int,
    typer.Option(
        "--jobs",
        "-j",
        metavar="N",
        min=1,
        help="Trials at once on this machine: N processes, each on its share of the cores (one GPU shared).",
    ),
]
