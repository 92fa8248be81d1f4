"""Shared fixtures. Every test that needs data draws it from the real generator, small and seeded."""

from __future__ import annotations

from pathlib import Path

import pytest

from features import generator


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
