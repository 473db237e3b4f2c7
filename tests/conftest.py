"""Shared fixtures: hermetic MLflow stores, data caches and the optional real FER2013 file."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
FER2013_CSV = (REPO / ".." / "shared" / "data" / "fer2013.csv.gz").resolve()


@pytest.fixture(scope="session")
def session_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One parsed-data cache per test session (the full FER2013 CSV is parsed once)."""
    return tmp_path_factory.mktemp("ferablate-cache")


@pytest.fixture(autouse=True)
def _hermetic_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, session_cache_dir: Path) -> None:
    """Every test gets its own MLflow store; nothing touches ./mlruns or ~/.cache."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    monkeypatch.setenv("FERABLATE_CACHE", str(session_cache_dir))
    monkeypatch.delenv("FERABLATE_DATA", raising=False)


@pytest.fixture(scope="session")
def fer2013_csv() -> Path:
    if not FER2013_CSV.is_file():
        pytest.skip(f"real FER2013 not present at {FER2013_CSV}")
    return FER2013_CSV


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database (dropped at the end) as an SQLAlchemy URL."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 not reachable: {exc}")
    name = f"ferablate_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def ferablate_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m ferablate ARGS…`` as a real process in ``tmp_path`` (text output)."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "ferablate", *args]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    return run
