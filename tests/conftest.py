"""Shared fixtures. Every test that needs data draws it from the real generator, small and seeded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import synthetic as generator


@pytest.fixture(scope="session")
def small_tables() -> dict[str, generator.GeneratedTable]:
    """Both source tables at a size that keeps the suite fast (same seed every run)."""
    return generator.generate(generator.GeneratorConfig(n_applications=30_000, n_periods=40_000, seed=7))


@pytest.fixture
def riskscan_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty RISKSCAN_HOME, with MLflow and the governance store defaulting inside it."""
    monkeypatch.setenv("RISKSCAN_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RISKSCAN_DATABASE_URL", raising=False)
    return tmp_path


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty governance database: a fresh SQLite file, or a throwaway database on the real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'governance.db'}"
    else:
        from tests.postgres import temporary_database

        with temporary_database() as url:
            yield url
