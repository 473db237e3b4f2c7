"""A store that cannot serve fails fast with one line: an unreachable tracking server, an
empty (0-byte) store file that read-only commands must not write, a damaged SQLite store."""

from __future__ import annotations

import socket
import sqlite3
import time
from pathlib import Path

import pytest
import yaml

from ferablate.cli._app import run_cli

TINY = {
    "data": {"source": "synthetic", "synthetic_size": 140},
    "model": {"family": "sequential", "convs": [{"channels": 4}], "dense": [8]},
    "train": {"folds": 2, "epochs": 1, "batch_size": 32},
}


@pytest.fixture
def sweep(tmp_path: Path) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "base": TINY, "variants": [{"name": "a"}]}))
    return str(path)


def _closed_loopback_port() -> int:
    with socket.socket() as probe:  # bound, then closed: nothing listens there now
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("command", ["status", "run", "table"])
def test_an_unreachable_tracking_server_fails_in_seconds_with_one_line(
    command: str, sweep: str, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"http://127.0.0.1:{_closed_loopback_port()}"
    started = time.monotonic()
    code = run_cli([command, sweep, "--tracking-uri", uri])
    seconds = time.monotonic() - started
    assert code == 2
    assert seconds <= 15, f"{command} took {seconds:.0f} s"
    line = _one_error(capsys.readouterr().err)
    assert f"cannot reach the MLflow tracking server {uri}" in line


@pytest.mark.parametrize("command", ["status", "table", "compare"])
def test_read_only_commands_never_write_into_an_empty_store_file(
    command: str, sweep: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "empty" / "mlflow.db"
    db.parent.mkdir()
    db.touch()
    args = [command, sweep]
    assert run_cli([*args, "--tracking-uri", f"sqlite:///{db}"]) == 2
    line = _one_error(capsys.readouterr().err)
    assert f"{db} is not an MLflow store: an empty file (0 bytes)" in line
    assert db.stat().st_size == 0
    assert sorted(p.name for p in db.parent.iterdir()) == ["mlflow.db"]


def test_a_sweep_runs_into_an_empty_store_file(sweep: str, tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    db.touch()  # e.g. made by `touch` to say where the store goes: a writer may fill it
    assert run_cli(["run", sweep, "--no-figures", "--tracking-uri", f"sqlite:///{db}"]) == 0
    assert db.stat().st_size > 0


def _damage(db: Path) -> None:
    """Junk over a page in the middle of the file (a torn write, a bad disk block)."""
    with sqlite3.connect(db) as connection:
        page = connection.execute("PRAGMA page_size").fetchone()[0]
        root = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'tags'"
        ).fetchone()[0]
    with db.open("r+b") as handle:
        handle.seek((root - 1) * page)
        handle.write(b"\xde\xad\xbe\xef" * (page // 4))


def test_a_damaged_store_is_refused_for_writing_with_advice(
    sweep: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "mlruns" / "mlflow.db"
    uri = f"sqlite:///{db}"
    assert run_cli(["run", sweep, "--no-figures", "--tracking-uri", uri]) == 0
    _damage(db)
    size = db.stat().st_size
    capsys.readouterr()
    assert run_cli(["run", sweep, "--rerun", "--no-figures", "--tracking-uri", uri]) == 2
    line = _one_error(capsys.readouterr().err)
    assert f"the MLflow store {db} is damaged" in line
    assert "restore it from a backup" in line and ".recover" in line
    assert db.stat().st_size == size
