"""Shared fixtures: hermetic MLflow stores, data caches and the optional real FER2013 file."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
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
