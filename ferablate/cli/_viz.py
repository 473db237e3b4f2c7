"""ferablate viz: regenerate a trial's figures from stored weights and metrics (issue 5)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ferablate.cli._app import app
from ferablate.cli._console import console, err_console
from ferablate.cli._options import TrackingUriOpt, VariantOpt

if TYPE_CHECKING:
    from mlflow import MlflowClient

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
    from mlflow import MlflowClient

    from ferablate.tracking import resolve_tracking_uri
    from ferablate.viz import inputs_from_run, parse_figure_names, trial_figures, write_figures

    names = parse_figure_names(figures)  # fail on a typo before anything is loaded
    client = MlflowClient(tracking_uri=resolve_tracking_uri(tracking_uri))
    run_id = _resolve_run_id(client, target, variant)
    with err_console.status(f"drawing {len(names)} figure(s) of run {run_id}"):
        inputs = inputs_from_run(client, run_id)
        drawn = trial_figures(inputs, names, activation_layer=layer, seed=inputs.config.train.seed)
        folder = out or Path("figures") / run_id
        paths = write_figures(drawn, folder, dpi)
    if log:
        client.log_artifacts(run_id, str(folder), "figures")
    for path in paths:
        console.print(str(path))


def _resolve_run_id(client: MlflowClient, target: str, variant: str | None) -> str:
    """A run id as given, or the newest FINISHED trial run of ``variant`` in a sweep file's experiment."""
    from ferablate._errors import ConfigError, TrackingError

    is_sweep = target.endswith((".yaml", ".yml")) or Path(target).is_file()
    if not is_sweep:
        if variant is not None:
            raise ConfigError("--variant goes with a sweep file, not a run id")
        return target
    from ferablate.cli._resolve import trial_for
    from ferablate.config import load_sweep
    from ferablate.tracking import TAG

    sweep = load_sweep(target)
    trial = trial_for(target, variant)
    experiment = client.get_experiment_by_name(sweep.name)
    if experiment is None:
        raise TrackingError(f"{target}: no MLflow experiment '{sweep.name}' in this store; run `ferablate run {target}` first")
    finished = f"tags.`{TAG.ROLE}` = 'trial' and attributes.status = 'FINISHED'"
    for condition in (f"tags.`{TAG.CONFIG_HASH}` = '{trial.config_hash}'", f"tags.`{TAG.VARIANT}` = '{trial.variant}'"):
        runs = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"{finished} and {condition}",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if runs:
            return str(runs[0].info.run_id)
    raise TrackingError(
        f"{target}: no FINISHED trial of variant '{trial.variant}' in experiment '{sweep.name}'; "
        f"run `ferablate run {target}` first"
    )
