"""``ferablate ui``: launch the MLflow UI on the project's store (issue 4)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ferablate.cli._app import app
from ferablate.cli._console import err_console
from ferablate.cli._options import TrackingUriOpt

__all__ = ["mlflow_ui_argv", "ui"]


def mlflow_ui_argv(tracking_uri: str, host: str = "127.0.0.1", port: int = 5000) -> list[str]:
    """The ``mlflow ui`` command line serving ``tracking_uri`` (artifacts beside a SQLite DB)."""
    from ferablate.tracking import artifact_root_for

    argv = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri]
    root = artifact_root_for(tracking_uri)
    if root is not None:
        argv += ["--default-artifact-root", root]
    return [*argv, "--host", host, "--port", str(port)]


@app.command()
def ui(
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 5000,
    host: Annotated[
        str, typer.Option("--host", help="Interface to bind; 0.0.0.0 exposes the UI to your network.")
    ] = "127.0.0.1",
    tracking_uri: TrackingUriOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the command and exit.")] = False,
) -> None:
    """Open the MLflow UI on the project's store (bound to 127.0.0.1 unless --host says otherwise)."""
    import os
    import shlex

    from ferablate.tracking import resolve_tracking_uri

    argv = mlflow_ui_argv(resolve_tracking_uri(tracking_uri), host, port)
    if dry_run:
        typer.echo(shlex.join(argv))
        return
    err_console.print(f"MLflow UI on http://{host}:{port} (Ctrl-C stops it)", markup=False)
    os.execv(argv[0], argv)  # the UI replaces this process: Ctrl-C and exit codes are its own
