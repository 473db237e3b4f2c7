"""ferablate viz: regenerate a trial's figures from stored weights and metrics (issue 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ferablate.cli._app import app
from ferablate.cli._console import console, err_console
from ferablate.cli._options import TrackingUriOpt, VariantOpt

__all__ = ["viz"]

_FIGURES_HELP = "Comma-separated subset of loss,weights,activations,occlusion,confusion,augmentation (default: all)."


@app.command()
def viz(
    target: Annotated[
        str,
        typer.Argument(
            metavar="RUN_ID|SWEEP", help="An MLflow run id, or a sweep file (with --variant)."
        ),
    ],
    variant: VariantOpt = None,
    figures: Annotated[
        str | None, typer.Option("--figures", "-f", metavar="NAMES", help=_FIGURES_HELP)
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for the PNGs (default: figures/<run id>)."),
    ] = None,
    layer: Annotated[
        str | None,
        typer.Option(
            "--layer", help="Module name whose feature maps 'activations' draws, e.g. features.4."
        ),
    ] = None,
    log: Annotated[
        bool,
        typer.Option(
            "--log", help="Also log the PNGs under figures/ of the run (replacing those there)."
        ),
    ] = False,
    dpi: Annotated[int, typer.Option("--dpi", min=50, max=1200, help="PNG resolution.")] = 200,
    tracking_uri: TrackingUriOpt = None,
) -> None:
    """Draw the report's figures of a FINISHED trial (or final) run from its stored weights and metrics."""
    from ferablate._errors import ConfigError
    from ferablate.tracking import TAG, RunStore, trial_run_id
    from ferablate.viz import FIGURE_DESCRIPTIONS, draw_run_figures, parse_figure_names

    names = parse_figure_names(figures)  # fail on a typo before anything is loaded
    if out is not None and out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: a file, not a folder; give a folder for the PNGs")
    store = RunStore(tracking_uri)
    run_id = trial_run_id(store, target, variant)
    run = store.get_run(run_id)
    folder = out or Path("figures") / run_id
    with err_console.status(f"drawing {len(names)} figure(s) of run {run_id}"):
        paths = draw_run_figures(
            store, run_id, names, folder, dpi=dpi, activation_layer=layer, log=log
        )
    experiment = run.tags.get(TAG.SWEEP, "?")
    what = "final run" if run.role == "final" else "trial"
    console.print(
        f"drew {len(paths)} figure(s) of {what} '{run.name}' (run {run_id}, experiment '{experiment}') into {folder}/",
        soft_wrap=True,
    )
    width = max((len(str(path)) for path in paths), default=0)
    for path in paths:  # one line each, never wrapped: a path is copied whole
        console.print(
            f"  {path!s:<{width}}  {FIGURE_DESCRIPTIONS.get(path.stem, '')}", soft_wrap=True
        )
    if log:
        console.print(
            f"also logged under figures/ of run {run_id} (replacing those there)", soft_wrap=True
        )
