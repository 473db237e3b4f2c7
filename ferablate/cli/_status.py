"""``ferablate status``: where a running (or finished) sweep stands, from MLflow and its study."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from ferablate.cli._app import app
from ferablate.cli._console import console
from ferablate.cli._options import OverridesOpt, StorageOpt, StudyOpt, SweepArg, TrackingUriOpt

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import RenderableType

    from ferablate.runner import SweepStatus, TrialStatus

__all__ = ["status"]

_STYLES = {
    "running": "cyan",
    "finished": "green",
    "skipped": "dim",
    "waiting": "",
    "pruned": "yellow",
}


@app.command()
def status(
    sweep: SweepArg,
    storage: StorageOpt = None,
    study: StudyOpt = None,
    # typer has no option with an optional value (`--watch [S]`): a flag and its interval
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh until Ctrl-C.")] = False,
    every: Annotated[
        float,
        typer.Option(
            "--every", metavar="S", min=1, help="With --watch: seconds between refreshes."
        ),
    ] = 10.0,
    overrides: OverridesOpt = None,
    tracking_uri: TrackingUriOpt = None,
) -> None:
    """Show each trial of SWEEP (waiting, running on host:pid with its epochs, finished, failed, …)
    and the sweep's elapsed and remaining time; read-only."""
    from ferablate.config import load_sweep, parse_overrides
    from ferablate.runner import sweep_status

    loaded = load_sweep(sweep)
    patch = parse_overrides(overrides or [])

    def read() -> SweepStatus:
        return sweep_status(
            loaded, patch, tracking_uri=tracking_uri, storage_url=storage, study_name=study
        )

    if not watch:
        _print(read())
        return
    try:
        _watch(read, every)
    except KeyboardInterrupt:  # how --watch ends: not an interruption of anything
        return


def _watch(read: Callable[[], SweepStatus], seconds: float) -> None:
    if not console.is_terminal:  # a log: one block per refresh, never a live redraw
        while True:
            _print(read())
            time.sleep(seconds)
    from rich.live import Live

    with Live(_render(read()), console=console, auto_refresh=False) as live:
        while True:
            time.sleep(seconds)
            live.update(_render(read()), refresh=True)


def _print(state: SweepStatus) -> None:
    if console.is_terminal:
        console.print(_render(state))
        return
    for line in _plain_lines(state):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _progress(trial: TrialStatus) -> str:
    if trial.state == "running" and trial.epochs_done is not None:
        return f"epoch {trial.epochs_done}/{trial.epochs}"
    if trial.accuracy is not None:
        return f"val acc {trial.accuracy:.4f}"
    return ""


def _duration(seconds: float | None) -> str:
    from ferablate.cli._progress import format_duration

    return "—" if seconds is None else format_duration(seconds)


def _headline(state: SweepStatus) -> str:
    where = f"experiment '{state.experiment}'" + (f", study '{state.study}'" if state.study else "")
    counts = ", ".join(f"{n} {s}" for s, n in state.counts.items()) or "no trials"
    left = "done" if state.done else f"about {_duration(state.remaining)} left"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state.checked_at))
    return f"{stamp} sweep '{state.sweep}' ({where}): {counts}; elapsed {_duration(state.elapsed)}, {left}"


def _render(state: SweepStatus) -> RenderableType:
    from rich.table import Table
    from rich.text import Text

    # Text objects: names, reasons and paths are user text, never markup, on any console.
    caption = Text("\n".join(state.notes)) if state.notes else None
    table = Table(
        title=Text(_headline(state)), title_justify="left", caption=caption, caption_justify="left"
    )
    table.add_column("trial", overflow="fold", min_width=8)
    table.add_column("state", no_wrap=True)
    table.add_column("progress", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for trial in state.trials:
        style = _STYLES.get(trial.state, "red")
        table.add_row(
            Text(trial.name),
            Text(trial.state, style=style or ""),
            Text(_progress(trial)),
            Text(_duration(trial.seconds)),
            Text(trial.detail),
        )
    return table


def _plain_lines(state: SweepStatus) -> list[str]:
    lines = [_headline(state)]
    for trial in state.trials:
        parts = [trial.state, trial.detail, _progress(trial)]
        if trial.seconds is not None:
            parts.append(_duration(trial.seconds))
        lines.append(f"  {trial.name}: " + ", ".join(p for p in parts if p))
    return [*lines, *state.notes]
