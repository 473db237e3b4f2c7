"""The root typer app, the one error handler and the logging setup."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperOption

from ferablate._errors import FerablateError
from ferablate.cli._console import err_console

__all__ = ["app", "main"]

app = typer.Typer(
    name="ferablate",
    help="Run, track and publish CNN ablation studies on FER2013.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


_value_type = TyperOption.display_type_rich


def _flag_type(self: TyperOption, ctx: Any) -> str | None:
    # typer labels every flag (--help too) `<bool>` as if it took a value; a flag has no type.
    return None if self.is_flag else _value_type(self, ctx)


TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]


class _State:
    debug = False


def _version(value: bool) -> None:
    if value:
        from ferablate import __version__

        typer.echo(f"ferablate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show info logs.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    _State.debug = debug
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    from rich.logging import RichHandler

    handler = RichHandler(console=err_console, show_path=debug, show_time=False)
    logger = logging.getLogger("ferablate")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    # MLflow configures its loggers on import (INFO: schema-migration chatter on every new store).
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "DEBUG" if debug else "WARNING")
    logging.getLogger("alembic").setLevel(logging.DEBUG if debug else logging.WARNING)


def main() -> None:
    """Console-script entry point: one line per :class:`FerablateError`, exit code 2."""
    try:
        app()
    except FerablateError as exc:
        if _State.debug:
            raise
        err_console.print(f"[bold red]error:[/] {exc}", markup=True, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
