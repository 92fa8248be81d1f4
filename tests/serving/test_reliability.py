"""Reliability beyond one process: two services on one PostgreSQL decision log, and that database going away.

Both tests share one private PostgreSQL cluster (tests/private_postgres.py; the machine's shared server is
never stopped) and two ``riskscan serve`` processes on it, with the models of the session's served home.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from riskscan import anchors
from riskscan.errors import OUTAGE_RETRY_SECONDS
from serving.evidence import verify_all
from serving.store import ServingStore
from tests.private_postgres import PrivateCluster, private_cluster
from tests.serving.conftest import ServedHome, caseload, launch, stop


@dataclass
class Services:
    cluster: PrivateCluster
    urls: list[str]
    token: str
    home: Path
    cases: list[dict[str, object]]

    def score(self, url: str, cases: list[dict[str, object]]) -> httpx.Response:
        return httpx.post(
            f"{url}/score",
            json={"scan": "vw", "cases": cases, "top_n": 1},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )


@pytest.fixture(scope="module")
def services(served_home: ServedHome) -> Iterator[Services]:
    """Two services on one private PostgreSQL, each with its own empty home (its own anchors)."""
    with private_cluster() as cluster, tempfile.TemporaryDirectory(prefix="riskscan-services-") as folder:
        with ServingStore(cluster.url) as store:  # migrates the new database
            token, _ = store.create_token(name="load", role="systeem")
        home = Path(folder)
        env = {
            "RISKSCAN_HOME": str(home),
            "MLFLOW_TRACKING_URI": f"sqlite:///{served_home.path / 'mlflow.db'}",
            "RISKSCAN_DATABASE_URL": cluster.url,
            "RISKSCAN_ANCHOR_SECONDS": "1",
        }
        # Started side by side (each takes minutes on a busy machine); one that started is stopped even when
        # the other failed to.
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(launch, env, home / f"service-{n}.log") for n in range(2)]
        launched = [future.result() for future in futures if future.exception() is None]
        try:
            for future in futures:
                future.result()
            yield Services(
                cluster, [url for _, url in launched], token, home, caseload(served_home, "vw", 40)
            )
        finally:
            for process, _ in launched:
                stop(process)


def _request_ids(response: httpx.Response) -> list[str]:
    return [result["request_id"] for result in response.json()["results"] if result.get("request_id")]


def _logged(url: str) -> list[str]:
    with ServingStore(url) as store, store.engine.connect() as connection:
        return list(connection.scalars(text("SELECT request_id FROM decision_log ORDER BY id")))


def _assert_one_intact_chain(url: str, answered: list[str]) -> None:
    logged = _logged(url)
    assert sorted(logged) == sorted(answered), "every answered score logged exactly once, nothing else"
    with ServingStore(url) as store:
        assert all(report.ok for report in verify_all(store.engine))
        with store.engine.connect() as connection:
            shared = connection.execute(
                text("SELECT prev_hash FROM decision_log GROUP BY prev_hash HAVING count(*) > 1")
            ).all()
    assert shared == [], "no two rows share a prev_hash: the chain never forked"


def test_two_service_processes_append_to_one_chain_without_forking(services: Services) -> None:
    before = _logged(services.cluster.url)
    cases = services.cases

    def one(n: int) -> httpx.Response:
        return services.score(services.urls[n % 2], [cases[n % len(cases)], cases[(n + 7) % len(cases)]])

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(one, range(80)))
    assert [response.status_code for response in responses] == [200] * 80
    answered = before + [request_id for response in responses for request_id in _request_ids(response)]
    assert len(answered) > len(before) + 100
    _assert_one_intact_chain(services.cluster.url, answered)


@dataclass
class Load:
    """Requests sent one after another to one service until stopped; every answer kept."""

    services: Services
    url: str
    answers: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            try:
                response = self.services.score(self.url, [self.services.cases[n % len(self.services.cases)]])
            except httpx.HTTPError as exc:  # a dropped connection would be a defect; record it as such
                self.answers.append((time.monotonic(), 0, {"error": repr(exc)}))
            else:
                self.answers.append((time.monotonic(), response.status_code, response.json()))
            n += 1
            time.sleep(0.05)

    def wait_for(self, status: int, after: float, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, code, body in list(self.answers):
                if code == status and at > after:
                    return body
            time.sleep(0.2)
        pytest.fail(
            f"no {status} within {timeout} s; answers: {sorted({code for _, code, _ in self.answers})}"
        )


def _ready(url: str) -> int:
    return httpx.get(f"{url}/readyz", timeout=10).status_code


def test_the_log_database_going_away_under_load_is_a_503_and_the_service_recovers(services: Services) -> None:
    url = services.urls[0]
    before = _logged(services.cluster.url)
    load = Load(services, url)
    thread = threading.Thread(target=load.run, daemon=True)
    thread.start()
    try:
        load.wait_for(200, after=0)
        services.cluster.stop()
        stopped = time.monotonic()
        refusal = load.wait_for(503, after=stopped)
        assert "no score was released" in refusal["error"] or "nothing was recorded" in refusal["error"]
        assert refusal["retry_after"] == OUTAGE_RETRY_SECONDS, "an outage says when to try again"
        assert _ready(url) == 503, "/readyz says not ready while the database is away"

        services.cluster.start()
        restarted = time.monotonic()
        restarted_at = datetime.now(UTC)
        deadline = restarted + 60
        while _ready(url) != 200:
            assert time.monotonic() < deadline, "/readyz did not recover within 60 s of the restart"
            time.sleep(0.5)
        load.wait_for(200, after=restarted)
        deadline = time.monotonic() + 30
        while not any(a.at > restarted_at for a in _anchors(services.home)):
            assert time.monotonic() < deadline, "the service did not anchor again after the outage"
            time.sleep(0.5)
    finally:
        load.stopping.set()
        thread.join(timeout=90)
    codes = {code for _, code, _ in load.answers}
    assert codes == {200, 503}, (
        f"only scores and clean refusals, never a dropped connection or a 500: {codes}"
    )
    answered = [
        request_id
        for _, code, body in load.answers
        if code == 200
        for request_id in (r["request_id"] for r in body["results"] if r.get("request_id"))
    ]
    _assert_one_intact_chain(services.cluster.url, [*before, *answered])


def _anchors(home: Path) -> list[anchors.Anchor]:
    folder = home / "anchors"
    return anchors.read(folder) if folder.is_dir() else []
