"""``ferablate ui [SWEEP]``: the MLflow UI on the project's store, landing on a sweep's runs."""

from __future__ import annotations

from typing import Annotated

import typer

from ferablate.cli._app import app
from ferablate.cli._console import err_console
from ferablate.cli._options import DryRunOpt, TrackingUriOpt

__all__ = ["ui"]

_SWEEP_HELP = "Sweep file or experiment name whose runs to open."


@app.command()
def ui(
    sweep: Annotated[str | None, typer.Argument(help=_SWEEP_HELP, metavar="[SWEEP]")] = None,
    port: Annotated[
        int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")
    ] = 5000,
    host: Annotated[
        str,
        typer.Option("--host", help="Interface to bind; 0.0.0.0 exposes the UI to your network."),
    ] = "127.0.0.1",
    tracking_uri: TrackingUriOpt = None,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the page in a browser.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Show the server's own output.")
    ] = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Serve the MLflow UI (one worker, Ctrl-C stops it all) on SWEEP's runs, best accuracy first."""
    import shlex

    from ferablate.runner import plan_ui, serve_ui

    plan = plan_ui(
        sweep, tracking_uri=tracking_uri, host=host, port=port, verbose=verbose, dry_run=dry_run
    )
    if dry_run:
        env = [f"{key}={value}" for key, value in plan.command.env.items()]
        typer.echo(shlex.join(["env", *env, *plan.command.argv]))
        typer.echo(plan.page_url)
        return
    err_console.print(f"starting the MLflow UI on {plan.command.url} …", markup=False)
    try:
        with serve_ui(plan) as server:
            typer.echo(f"ready ({server.ready_after:.1f} s): {server.page_url}")
            err_console.print("Ctrl-C stops it")
            if open_browser:
                import webbrowser

                webbrowser.open(server.page_url)
            server.wait()
    except KeyboardInterrupt:
        err_console.print("stopped")
