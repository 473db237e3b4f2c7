"""ferablate viz: regenerate a trial's figures from stored weights and metrics (issue 5)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ferablate.cli._app import app
from ferablate.cli._console import console, err_console, plain
from ferablate.cli._options import TrackingUriOpt, VariantOpt

if TYPE_CHECKING:
    from ferablate.tracking import RunStore

__all__ = ["viz"]

_FIGURES_HELP = "Comma-separated subset of loss,weights,activations,occlusion,confusion,augmentation (default: all)."


@app.command()
def viz(
    target: Annotated[
        str, typer.Argument(metavar="RUN_ID|SWEEP", help="An MLflow run id, or a sweep file (with --variant).")
    ],
    variant: VariantOpt = None,
    figures: Annotated[str | None, typer.Option("--figures", "-f", metavar="NAMES", help=_FIGURES_HELP)] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder for the PNGs (default: figures/<run id>).")
    ] = None,
    layer: Annotated[
        str | None,
        typer.Option("--layer", help="Module name whose feature maps 'activations' draws, e.g. features.4."),
    ] = None,
    log: Annotated[
        bool, typer.Option("--log", help="Also log the PNGs under figures/ of the run (replacing those there).")
    ] = False,
    dpi: Annotated[int, typer.Option("--dpi", min=50, max=1200, help="PNG resolution.")] = 200,
    tracking_uri: TrackingUriOpt = None,
) -> None:
    """Draw the report's figures of a FINISHED trial (or final) run from its stored weights and metrics."""
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # 3 tiny downloads
    from ferablate.tracking import RunStore
    from ferablate.viz import draw_run_figures, parse_figure_names

    names = parse_figure_names(figures)  # fail on a typo before anything is loaded
    store = RunStore(tracking_uri)
    run_id = _resolve_run_id(store, target, variant)
    with err_console.status(plain(f"drawing {len(names)} figure(s) of run {run_id}")):
        paths = draw_run_figures(
            store, run_id, names, out or Path("figures") / run_id, dpi=dpi, activation_layer=layer, log=log
        )
    for path in paths:
        console.print(str(path))


def _resolve_run_id(store: RunStore, target: str, variant: str | None) -> str:
    """A run id as given, or the newest FINISHED trial run of ``variant`` in a sweep file's experiment."""
    from ferablate._errors import ConfigError, TrackingError

    is_sweep = target.endswith((".yaml", ".yml")) or Path(target).is_file()
    if not is_sweep:
        if variant is not None:
            raise ConfigError("--variant goes with a sweep file, not a run id")
        return target
    from ferablate.cli._resolve import trial_for
    from ferablate.config import load_sweep

    sweep = load_sweep(target)
    trial = trial_for(target, variant)
    if store.experiment_id(sweep.name) is None:
        raise TrackingError(f"{target}: no MLflow experiment '{sweep.name}' in this store; run `ferablate run {target}` first")
    found = store.newest_finished(sweep.name, config_hash=trial.config_hash, variant=trial.variant)
    if found is None:
        raise TrackingError(
            f"{target}: no FINISHED trial of variant '{trial.variant}' in experiment '{sweep.name}'; "
            f"run `ferablate run {target}` first"
        )
    return found.run_id
