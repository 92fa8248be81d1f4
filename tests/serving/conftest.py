"""A home folder where both scans are trained, audited, approved and promoted, plus one token per role.

Shared by the runtime, HTTP, schemathesis and browser tests (training is the slow part). The committee
decisions here are test decisions on test data, made through the same gate as real ones.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import synthetic as generator
from features.sources import read_source
from models.governance import GovernanceStore
from models.specs import load_spec
from serving.runtime import ScanRuntime
from serving.store import ServingStore
from tests.lifecycle import CONTROL_KEY, home_environment, promote_new_champion
from tests.processes import free_port, start_server, stop_server
from tests.serving.store_helpers import Clock


@dataclass
class ServedHome:
    path: Path
    data: Path
    versions: dict[str, str]
    tokens: dict[str, str]
    #: A copy of the home's database as it was before any test scored a case: the committee decisions and
    #: the tokens, an empty decision log. For a test that needs a log of its own over the same champions
    #: (a logged case cites its committee decision, so a blank database will not do). None for homes that
    #: other modules build for themselves (tests/serving/test_cascade.py).
    unscored: Path | None = None


@pytest.fixture(scope="session")
def served_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedHome]:
    path = tmp_path_factory.mktemp("served")
    data = path / "data"
    with home_environment(path):
        # Seed 1: this world's audits are undecided (never failed), so the committee can approve with
        # conditions and the home serves both scans. At seed 5 the audit, pooling validation and test months,
        # found applicants aged 15-26 selected 2.35 times as often (95% CI 1.40-5.27): a real fail, and the
        # gate rightly refused it (at seeds 1, 2 and 3 that check is undecided; measured 2026-12-02).
        config = generator.GeneratorConfig(n_applications=80_000, n_periods=80_000, seed=1)
        generator.write_tables(generator.generate(config), data, config)
        governance = GovernanceStore()
        versions = {scan: promote_new_champion(scan, data, governance) for scan in ("vw", "sollicitatie")}
        store = ServingStore()
        tokens = {
            role: store.create_token(name=f"test {role}", role=role)[0]
            for role in ("handhaving", "committee", "retrain", "admin", "systeem")
        }
        unscored = path / "unscored.db"
        with sqlite3.connect(path / "governance.db") as database, sqlite3.connect(unscored) as copy:
            database.backup(copy)
        yield ServedHome(path, data, versions, tokens, unscored)


@pytest.fixture
def at_home(served_home: ServedHome) -> Iterator[ServedHome]:
    """The served home as this process's RISKSCAN_HOME, for tests that call the packages directly."""
    with home_environment(served_home.path):
        yield served_home


@dataclass
class Server:
    url: str
    home: ServedHome
    process: subprocess.Popen[bytes]

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.home.tokens[role]}"}


READY_SECONDS = 300


def launch(env: dict[str, str], log: Path, workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    """``riskscan serve`` as a real process on a free port, ready (``/readyz`` 200); returns it and its URL.

    ``env`` is added to this process's environment (``MLFLOW_TRACKING_URI`` and ``RISKSCAN_DATABASE_URL`` are
    dropped first, so the home decides unless ``env`` names them). Two minutes is usual for BentoML to start
    and load both scans on the shared 2-core machine under the load of parallel test runs (measured 123 s
    at load average 17); ``READY_SECONDS`` gives it more before calling it stuck.
    """
    port = free_port()
    environment = {**os.environ, "RISKSCAN_CONTROL_KEY": CONTROL_KEY, "RISKSCAN_SERVE_WORKERS": str(workers)}
    environment.pop("MLFLOW_TRACKING_URI", None)
    environment.pop("RISKSCAN_DATABASE_URL", None)
    riskscan = Path(sys.executable).parent / "riskscan"
    url = f"http://127.0.0.1:{port}"
    process = start_server(
        [str(riskscan), "serve", "--port", str(port)],
        env={**environment, **env},
        ready_url=f"{url}/readyz",
        log_path=log,
        timeout=READY_SECONDS,
    )
    return process, url


#: Stops a launched service and its workers.
stop = stop_server


@contextmanager
def serving(home: Path, log_path: Path, **env_extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``riskscan serve`` as a real process on a free port (BentoML, HTTP) for the home at ``home``, with
    ``env_extra`` in its environment; yields its URL and process, and stops it and its workers afterwards."""
    process, url = launch({"RISKSCAN_HOME": str(home), **env_extra}, log_path)
    try:
        yield url, process
    finally:
        stop(process)


@pytest.fixture(scope="session")
def server(served_home: ServedHome, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``riskscan serve`` as a real process on a free port (BentoML, HTTP)."""
    with serving(served_home.path, tmp_path_factory.mktemp("server") / "server.log") as (url, process):
        yield Server(url, served_home, process)


def caseload(home: ServedHome, scan: str, n: int = 20) -> list[dict[str, object]]:
    """Real cases from the test months as JSON, with case_id (and the routing field for VW)."""
    return caseload_from(home.data, scan, n)


def caseload_from(data: Path, scan: str, n: int = 20) -> list[dict[str, object]]:
    """The last ``n`` cases of the source table in ``data`` that are not routed away, as JSON."""
    spec = load_spec(scan)
    from features.register import default_register

    table = default_register().tables[spec.table]
    frame = read_source(data, spec.table).frame
    recent = frame.loc[~frame["wajong"]].tail(n)
    columns = list(spec.features) + (["wajong"] if scan == "vw" else [])
    cases = []
    for _, row in recent.iterrows():
        case: dict[str, object] = {"case_id": str(row[table.key])}
        for column in columns:
            value = row[column]
            if hasattr(value, "item"):
                value = value.item()
            if isinstance(value, float) and math.isnan(value):
                value = None
            case[column] = value
        cases.append(case)
    return cases


@pytest.fixture(scope="session")
def client(served_home: ServedHome) -> Iterator[TestClient]:
    """The whole BentoML service (API and mounted web app) in this process, on the served home: once per
    session, since BentoML's app cannot be built twice in one process."""
    with home_environment(served_home.path):
        from serving.service import RiskScan

        with TestClient(RiskScan.to_asgi(), raise_server_exceptions=False, follow_redirects=False) as client:
            yield client


@pytest.fixture
def runtime(client: TestClient) -> ScanRuntime:
    """The runtime that both front-ends of the in-process service share."""
    from serving.service import web_app

    served: ScanRuntime = web_app.state.runtime
    return served


def bearer(home: ServedHome, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {home.tokens[role]}"}


#: The page each role lands on after logging in.
LANDING = {"handhaving": "/ui/worklist?scan=vw", "admin": "/ui/worklist?scan=vw", "committee": "/ui/audits"}


def form_csrf(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match[1]


def sign_in(client: TestClient, home: ServedHome, role: str) -> str:
    """Log in on the login page as ``role``; returns the signed-in session's CSRF token for forms (a new
    one: login rotates it). The client's cookies are cleared first, as in a fresh browser."""
    client.cookies.clear()
    form = client.get("/ui/login")
    response = client.post(
        "/ui/login", data={"token": home.tokens[role], "csrf": form_csrf(form.text), "next": LANDING[role]}
    )
    assert response.status_code == 303, response.text
    return form_csrf(client.get(LANDING[role]).text)


@pytest.fixture
def url(database_url: str) -> str:
    """An empty database on each backend (tests/conftest.py: SQLite and the real PostgreSQL)."""
    return database_url


@pytest.fixture
def store(url: str) -> Iterator[ServingStore]:
    with ServingStore(url, clock=Clock()) as opened:
        yield opened
