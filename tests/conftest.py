"""Shared fixtures. Every test that needs data draws it from the real generator, small and seeded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import synthetic as generator

#: Folders whose tests share a session fixture that trains a home (``served_home`` and its server,
#: ``world``): each is one unit of work on ``pytest -n 2``, so that home is built once.
SHARED_HOMES = ("tests/serving/", "tests/ethics_review/")


def unit_of_work(nodeid: str) -> str:
    """The unit of work a test belongs to on ``pytest -n 2``: its folder if the folder shares a home, else
    its module (whose module-scoped fixtures, a trained home or a server, are then built once too)."""
    path = nodeid.split("::", maxsplit=1)[0]
    return next((folder for folder in SHARED_HOMES if path.startswith(folder)), path)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: ``-p no:xdist`` must still collect
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``make test`` runs two workers (pytest-xdist), which take whole units of work (:func:`unit_of_work`).

    A scheduler of our own rather than ``--dist loadgroup`` with markers: xdist 3.8 marks a group by
    rewriting ``item._nodeid``, which pytest 9.2 no longer reads, so every group was silently ignored and
    a module's tests (and its trained home) were split over both workers."""
    from xdist.scheduler import LoadScopeScheduling

    class SharedHomeScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return unit_of_work(nodeid)

    return SharedHomeScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest unit, tests/serving, goes first, so the other worker takes the rest meanwhile. Within it,
    tests marked ``destructive`` (a real withdrawal) change the shared home, so they run last."""
    items.sort(
        key=lambda item: (
            not item.nodeid.startswith(SHARED_HOMES[0]),
            item.get_closest_marker("destructive") is not None,
        )
    )


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
