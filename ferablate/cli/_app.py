"""The root typer app, the one error handler and the logging setup."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperOption

from ferablate._errors import FerablateError
from ferablate._exit import skip_final_gc_at_exit
from ferablate.cli._console import err_console

__all__ = ["app", "main", "print_error", "run_cli"]

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
    ctx: typer.Context,
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
    # The command's own setup, undone when it ends: an in-process call (a test, a notebook)
    # leaves the logger as it found it, so a later caplog sees each record once.
    saved = (logger.handlers[:], logger.level, logger.propagate)
    ctx.call_on_close(lambda: _restore(logger, *saved))
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False  # the handler above prints it; a root handler would print it twice
    # MLflow configures its loggers on import (INFO: schema-migration chatter on every new store).
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "DEBUG" if debug else "WARNING")
    # Figures read a run's artifacts back: no tqdm bar per tiny download in the run's log (set
    # in the environment, so the background figure process inherits it).
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("alembic").setLevel(logging.DEBUG if debug else logging.WARNING)
    # MLflow logs every SQL error it re-raises with its traceback (20 of them when the disk
    # fills up); ferablate turns the error itself into one line, so those are debug output.
    logging.getLogger("mlflow.store.db.utils").setLevel(
        logging.DEBUG if debug else logging.CRITICAL
    )


def _restore(
    logger: logging.Logger, handlers: list[logging.Handler], level: int, propagate: bool
) -> None:
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate


# Every command can be interrupted, read-only ones too: the line says what happened, not what
# a trial became (a trial that was training ends KILLED with this reason; `status` shows it).
INTERRUPTED = "interrupted by the user (SIGINT)"


def main(args: list[str] | None = None) -> None:
    """Console-script entry point: every user error is one line ``error: …`` and exit 2.

    A :class:`FerablateError` or a click usage error (bad option value, missing argument)
    prints one line (``--debug`` shows the traceback); Ctrl-C prints one line and exits 130.
    """
    skip_final_gc_at_exit()
    sys.exit(run_cli(args))


def run_cli(args: list[str] | None = None) -> int:
    """Run the CLI on ``args`` (default: ``sys.argv[1:]``) and return its exit code."""
    # typer vendors click (typer._click): its usage errors are these classes, not click's.
    from typer._click import exceptions as click

    _State.debug = "--debug" in (sys.argv[1:] if args is None else args)
    try:
        code = app(args, standalone_mode=False)
    except click.NoArgsIsHelpError as exc:  # `ferablate` alone: the help, as before
        exc.show()
        return 2
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        message = exc.format_message().replace("Value error, ", "")  # pydantic's prefix
        return print_error(f"{message}{hint}", exc.exit_code)
    except click.ClickException as exc:  # e.g. a file click itself could not open
        return print_error(exc.format_message(), exc.exit_code)
    except typer.Abort:  # end of input at a prompt
        return 1
    except FerablateError as exc:
        if _State.debug:
            raise
        return print_error(str(exc), getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:  # typer turns it into exit code 130 (below); a late one lands here
        code = 130
    if code == 130:  # typer's translation of KeyboardInterrupt
        print_error(INTERRUPTED, 130, prefix="")
    return code if isinstance(code, int) else 0


def print_error(message: str, code: int = 2, *, prefix: str = "error: ") -> int:
    """Print ``message`` on stderr after ``error:`` (never read as markup); returns ``code``."""
    from rich.text import Text

    # No wrapping (soft_wrap): one problem is one line; a message listing several problems
    # ("1 of 3 problems; the others follow") keeps its own line per problem.
    line = Text(prefix, style="bold red") + Text(message)
    err_console.print(line, soft_wrap=True, highlight=False)
    return code
