"""``ferablate ui``: run MLflow's UI on the store as one process group, and stop all of it.

The server runs in its own session (process group), so a Ctrl-C at the terminal reaches only
``ferablate``, which then stops the whole group (and waits for it): nothing is left behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from ferablate._errors import TrackingError
from ferablate._machine import process_alive
from ferablate.tracking import (
    UiServerCommand,
    experiment_name_for,
    resolve_tracking_uri,
    runs_page_url,
    save_runs_view,
    ui_server_command,
)

__all__ = ["UiPlan", "UiServer", "plan_ui", "serve_ui", "stop_process_group"]


@dataclass(frozen=True)
class UiPlan:
    """What ``ferablate ui`` starts and the page it lands on."""

    command: UiServerCommand
    page_url: str  # the sweep's runs table, or the experiment list
    verbose: bool = False  # the server writes to our terminal (else to a log file)


@dataclass(frozen=True)
class UiServer:
    """A running UI server (one process group)."""

    process: subprocess.Popen[bytes]
    page_url: str
    ready_after: float  # seconds from start until it answered HTTP
    log_path: Path | None  # its output, unless --verbose

    def wait(self) -> int:
        """Block until the server exits (Ctrl-C or SIGTERM interrupt this)."""
        return self.process.wait()


def plan_ui(
    sweep: str | None = None,
    *,
    tracking_uri: str | None = None,
    host: str = "127.0.0.1",
    port: int = 5000,
    verbose: bool = False,
    dry_run: bool = False,
) -> UiPlan:
    """The server command and landing page; saves the sweep's runs view unless ``dry_run``.

    A dry run creates nothing (no store, no folder); a real one first checks that the port is
    free, before it opens or writes the store.
    """
    if not dry_run:  # before the store is opened (or made): a busy port writes nothing
        _check_port_free(f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}")
    uri = resolve_tracking_uri(tracking_uri, create=not dry_run, missing_ok=dry_run)
    command = ui_server_command(uri, host, port, verbose=verbose)
    if sweep is None:
        return UiPlan(command, runs_page_url(command.url), verbose)
    view = save_runs_view(uri, experiment_name_for(sweep), dry_run=dry_run)
    return UiPlan(command, runs_page_url(command.url, view.experiment_id, view.key), verbose)


@contextmanager
def serve_ui(plan: UiPlan, *, timeout: float = 60.0) -> Iterator[UiServer]:
    """Start the server, yield once it answers HTTP; on exit (Ctrl-C, SIGTERM) stop its group."""
    _check_port_free(plan.command.url)
    log_path = None if plan.verbose else _new_log()
    started = time.monotonic()
    with _output(log_path) as output:
        process = subprocess.Popen(
            plan.command.argv,
            env={**os.environ, **plan.command.env},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
            start_new_session=True,  # own process group: the terminal's Ctrl-C reaches us only
        )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    answered = False
    try:
        _wait_until_answering(plan.command.url, process, timeout, log_path)
        answered = True
        yield UiServer(process, plan.page_url, time.monotonic() - started, log_path)
    finally:
        stop_process_group(process)
        signal.signal(signal.SIGTERM, previous)
        if answered and log_path is not None:
            log_path.unlink(missing_ok=True)  # kept only when the server failed to start


def stop_process_group(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM to the process's whole group, SIGKILL after ``grace`` seconds; then reap it."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with suppress(subprocess.TimeoutExpired):
            process.wait(wait)
        if not process_alive(process.pid, group=True):
            return


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the UI like Ctrl-C does


def _check_port_free(url: str) -> None:
    host, _, port = url.removeprefix("http://").rpartition(":")
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError as exc:
            raise TrackingError(
                f"port {port} on {host} is in use ({exc.strerror}); pass --port"
            ) from exc


def _new_log() -> Path:
    handle, name = tempfile.mkstemp(prefix="ferablate-ui-", suffix=".log")
    os.close(handle)
    return Path(name)


@contextmanager
def _output(log_path: Path | None) -> Iterator[int | None]:
    if log_path is None:
        yield None  # --verbose: the server writes to our terminal
        return
    with log_path.open("wb") as log:
        yield log.fileno()


def _wait_until_answering(
    url: str, process: subprocess.Popen[bytes], timeout: float, log_path: Path | None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TrackingError(
                f"the MLflow UI server exited with code {process.returncode}{_see(log_path)}"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise TrackingError(
        f"the MLflow UI server did not answer {url} within {timeout:.0f} s{_see(log_path)}"
    )


def _see(log_path: Path | None) -> str:
    return f"; see {log_path}" if log_path is not None else ""
