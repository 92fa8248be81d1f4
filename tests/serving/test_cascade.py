"""The cascade of a ruling on a real champion: killed half-way, run again, finished; the running service
answers 503 for the scan within seconds, without a reload, naming the ruling.

One sollicitatie champion is trained on small generated data in a home of this module's own (a ruling
blocks for good, so it cannot share the session's served home).

The same story runs on PostgreSQL: a second home, its governance database on the machine's real server,
and a second ``riskscan serve`` on it, so the 503 comes over HTTP from a running service on both backends.
A BentoML start takes 30 s on a quiet two-core machine and minutes under load, so that service is started
in a thread as soon as the home's databases exist and comes up while the champion is trained; it notices
the promotion the way it notices the ruling (``REFRESH_SECONDS``), with no reload. Staff then work each
backend's re-examination list in headless Chromium through its running service.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any

import httpx
import pytest
from sqlalchemy import text

import synthetic as generator
from models import registry
from models.gate import check_promotion
from models.governance import GovernanceStore
from models.specs import load_spec
from riskscan.errors import ConfigError, Conflict, Refusal, Unavailable
from serving.batch import champion
from serving.cascade import rule_unlawful
from serving.runtime import REFRESH_SECONDS, ScanRuntime
from serving.store import ServingStore
from tests.browser import chromium_page
from tests.lifecycle import home_environment, promote_new_champion
from tests.serving.conftest import ServedHome, caseload, launch, serving, stop

SCAN = "sollicitatie"
COLUMN = "werkmap_logins"


class Killed(BaseException):
    """The process dying at a step: nothing catches it, nothing after it runs."""


def die_after(step: str):  # type: ignore[no-untyped-def]
    def hook(name: str) -> None:
        if name == step:
            raise Killed(step)

    return hook


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedHome]:
    path = tmp_path_factory.mktemp("ruled")
    data = path / "data"
    with home_environment(path):
        config = generator.GeneratorConfig(n_applications=2_000, n_periods=40_000, seed=11)
        generator.write_tables(generator.generate(config), data, config)
        version = promote_new_champion(SCAN, data)
        store = ServingStore()
        tokens = {
            role: store.create_token(name=f"test {role}", role=role)[0]
            for role in ("handhaving", "committee", "systeem")
        }
        yield ServedHome(path, data, {SCAN: version}, tokens)


@pytest.fixture(scope="module")
def server(home: ServedHome, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service on this module's home; started once (BentoML takes a while on a loaded machine)."""
    with (
        home_environment(home.path),
        serving(home.path, tmp_path_factory.mktemp("server") / "server.log") as (
            url,
            _process,
        ),
    ):
        yield url


@dataclass(frozen=True)
class Service:
    """A running ``riskscan serve`` and the token the cases are scored with."""

    url: str
    token: str

    def score(self, cases: list[dict[str, object]]) -> httpx.Response:
        return httpx.post(
            f"{self.url}/score",
            json={"scan": SCAN, "cases": cases},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )


def wait_for_status(service: Service, cases: list[dict[str, object]], status: int) -> tuple[float, str]:
    """Seconds until the service answers ``status``, and the error it gave; fails after three refresh
    periods and a margin."""
    start = time.monotonic()
    while time.monotonic() - start < 3 * REFRESH_SECONDS + 5:
        response = service.score(cases)
        if response.status_code == status:
            return time.monotonic() - start, str(response.json().get("error", ""))
        time.sleep(0.2)
    pytest.fail(f"the service did not answer {status} within {3 * REFRESH_SECONDS + 5:.0f} s")


def names_the_ruling(refusal: str) -> bool:
    """Whether a 503's error names the ruling and its column: a champion trained on the column is
    stopped, and once withdrawn the withdrawal cites the ruling (within ``REFRESH_SECONDS`` of the
    withdrawal the service may still give the first reason)."""
    return f"column '{COLUMN}'" in refusal and "ruling 1 of" in refusal


def count(store: ServingStore, sql: str) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def cascade_story(
    home: ServedHome, service: Service, governance: GovernanceStore, store: ServingStore
) -> float:
    """Score, close half the selected cases, rule, kill the cascade twice, finish it; check every step,
    and that ``service`` (running on the home) answers 503 for the scan, naming the ruling, without a
    reload. Runs in the home's environment, on its stores (the caller's); returns the seconds from the
    ruling to the first 503."""
    cases = caseload(home, SCAN, 400)
    scored = service.score(cases[:300])
    assert scored.status_code == 200, scored.text
    logged = store.cases(scan=SCAN)
    selected = [row for row in logged if row.signal or row.control]
    assert len(selected) >= 4, "the test needs selected cases to halt and to close"
    investigator = store.authenticate(home.tokens["handhaving"])
    assert investigator is not None
    for row in selected[: len(selected) // 2]:  # half of the selected cases get an outcome
        store.record_outcome(
            recorded_by=investigator,
            request_id=row.request_id,
            violation=True,
            sanction="verlaging",
            hoor_en_wederhoor=True,
            investigator="t",
        )
    committee = store.authenticate(home.tokens["committee"])
    assert committee is not None
    version = home.versions[SCAN]

    # Killed right after the ruling: the champion still has its alias, but nothing serves it.
    with pytest.raises(Killed):
        rule_unlawful(
            governance,
            store,
            column=COLUMN,
            reason="IP-adressen via cookies",
            token=committee,
            after_step=die_after("ruling"),
        )
    assert registry.version_by_alias(SCAN, registry.CHAMPION) is not None
    seconds, refusal = wait_for_status(service, cases[300:310], 503)
    assert names_the_ruling(refusal), refusal
    with pytest.raises(Unavailable, match=f"column '{COLUMN}'"):
        ScanRuntime(store, governance).state(SCAN)
    with pytest.raises(Refusal, match=f"trained on column '{COLUMN}'.*nothing was scored"):
        champion(SCAN, governance)
    with pytest.raises(ConfigError, match=f"column .{COLUMN}. has register role .forbidden."):
        load_spec(SCAN, governance.ruled_register())  # every later build, training and audit refuses
    unmet = check_promotion(SCAN, version, governance).unmet
    assert any(f"trained on column '{COLUMN}'" in reason and "ruling 1" in reason for reason in unmet)

    # Killed right after the withdrawal: no champion, the withdrawal on record, nothing re-examined yet.
    with pytest.raises(Killed):
        rule_unlawful(
            governance,
            store,
            column=COLUMN,
            reason="IP-adressen via cookies",
            token=committee,
            after_step=die_after("withdrawn"),
        )
    assert registry.version_by_alias(SCAN, registry.CHAMPION) is None
    # Withdrawn under the ruling token's identity, in the words an admin's withdrawal is recorded in.
    assert [(w.version, w.withdrawn_by) for w in governance.withdrawals(SCAN)] == [
        (version, f"{committee.name} (token {committee.id})")
    ]
    assert count(store, "SELECT count(*) FROM reexaminations") == 0

    report = rule_unlawful(
        governance, store, column=COLUMN, reason="IP-adressen via cookies", token=committee
    )
    assert report.resumed and report.withdrawn == ()  # nothing withdrawn twice
    assert [(b.scan, b.version, b.was_champion) for b in report.blocked] == [(SCAN, version, True)]
    assert len(governance.withdrawals(SCAN)) == 1
    open_cases = count(
        store,
        "SELECT count(*) FROM decision_log d WHERE (d.signal OR d.control) "
        "AND NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.request_id = d.request_id)",
    )
    closed_cases = count(store, "SELECT count(DISTINCT request_id) FROM outcomes")
    assert (
        (report.halted, report.tasks)
        == (open_cases, closed_cases)
        == (len(selected) - len(selected) // 2, len(selected) // 2)
    )
    assert store.worklist(SCAN, limit=1000) == []
    (progress,) = store.reexamination_progress(governance.rulings())
    assert progress.complete and progress.affected == count(store, "SELECT count(*) FROM decision_log")

    with pytest.raises(Conflict, match=f"column '{COLUMN}' is already forbidden: ruling 1 of"):
        rule_unlawful(governance, store, column=COLUMN, reason="nog eens", token=committee)
    after = service.score(cases[310:320])
    assert after.status_code == 503, after.text
    assert names_the_ruling(after.json()["error"]), after.text
    return seconds


@contextmanager
def postgres_environment(path: Path, url: str) -> Iterator[None]:
    with home_environment(path), pytest.MonkeyPatch.context() as mp:
        mp.setenv("RISKSCAN_DATABASE_URL", url)
        yield


@contextmanager
def launched_meanwhile(env: dict[str, str], log: Path) -> Iterator[Future[tuple[Popen[bytes], str]]]:
    """``riskscan serve`` started in a thread (:func:`launch`), so the set-up in the block runs while BentoML
    comes up; the service is stopped afterwards, also when the block failed."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        starting = pool.submit(launch, env, log)
        try:
            yield starting
        finally:
            if starting.exception() is None:  # waits for the start to end either way
                stop(starting.result()[0])


@pytest.fixture(scope="module")
def postgres_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedHome, str, str]]:
    """A home of its own whose governance database (decision log, rulings, re-examinations) is on PostgreSQL,
    MLflow staying in the home's SQLite file, and ``riskscan serve`` running on it; yields the home, the
    database URL and the service's URL.

    Both databases are created before the service starts, so it never migrates one while this process does;
    it then starts with no champion and comes up while the champion is trained."""
    from tests.postgres import temporary_database

    path = tmp_path_factory.mktemp("ruled-postgres")
    data = path / "data"
    with temporary_database() as url, postgres_environment(path, url):
        with ServingStore() as store:
            tokens = {
                role: store.create_token(name=f"test {role}", role=role)[0]
                for role in ("handhaving", "committee", "systeem")
            }
        assert registry.version_by_alias(SCAN, registry.CHAMPION) is None  # creates the MLflow database
        service_env = {"RISKSCAN_HOME": str(path), "RISKSCAN_DATABASE_URL": url}
        with launched_meanwhile(service_env, path / "server.log") as starting:
            began = time.monotonic()
            config = generator.GeneratorConfig(n_applications=2_000, n_periods=40_000, seed=11)
            generator.write_tables(generator.generate(config), data, config)
            version = promote_new_champion(SCAN, data)
            trained = time.monotonic()
            _process, server = starting.result()
            # How much of the service's start the set-up hid, and what is left to wait for (pytest -rP).
            print(
                f"champion promoted {trained - began:.1f} s after the service was launched; "
                f"the service was ready {time.monotonic() - trained:.1f} s later"
            )
            yield ServedHome(path, data, {SCAN: version}, tokens), url, server


@dataclass(frozen=True)
class Ruled:
    """A backend's home of this module, its running service, and the environment its stores open in."""

    home: ServedHome
    server: str
    environment: Callable[[], AbstractContextManager[None]]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ruled(request: pytest.FixtureRequest) -> Ruled:
    """Each backend's module home (the cascade test rules on it, the re-examination test works its tasks)."""
    if request.param == "sqlite":
        home: ServedHome = request.getfixturevalue("home")
        return Ruled(home, request.getfixturevalue("server"), lambda: home_environment(home.path))
    pg_home, url, server = request.getfixturevalue("postgres_home")
    return Ruled(pg_home, server, lambda: postgres_environment(pg_home.path, url))


def test_a_ruling_killed_half_way_leaves_no_champion_serving_and_a_second_run_completes_it(
    ruled: Ruled,
) -> None:
    home = ruled.home
    with ruled.environment(), GovernanceStore() as governance, ServingStore() as store:
        seconds = cascade_story(home, Service(ruled.server, home.tokens["systeem"]), governance, store)
    print(f"the service answered 503 {seconds:.1f} s after the ruling")


def log_in(page: Any, server: str, token: str, target: str) -> None:
    page.goto(f"{server}/ui/login?next={target}")
    page.fill("#token", token)
    page.click("#login")


def submit_result(page: Any, task_id: int, result: str, note: str, *, heard: bool) -> None:
    card = page.locator(f".case[data-reexamination-id='{task_id}']")
    card.locator(f"input[name=result][value={result}]").check()
    if heard:
        card.locator("input[name=hoor_en_wederhoor]").check()
    card.locator("input[name=note]").fill(note)
    card.locator("button[type=submit]").click()


@pytest.mark.browser
def test_staff_work_the_reexamination_list_in_chromium_and_upholding_needs_hoor_en_wederhoor(
    ruled: Ruled,
) -> None:
    """Runs after the cascade tests above: their rulings opened the tasks worked here, on each backend."""
    home, server = ruled.home, ruled.server
    with ruled.environment(), GovernanceStore() as governance, ServingStore() as store:
        rulings = governance.rulings()
        tasks = store.reexamination_tasks(rulings)
        assert len(tasks) >= 2, "the cascade test above opens the tasks"
        screenshot = Path(
            os.environ.get("RISKSCAN_REEXAMINATION_SCREENSHOT", home.path / "reexamination.png")
        )
        with chromium_page(width=1400, height=1100) as page:
            page.goto(f"{server}/ui/reexamination")
            assert "/ui/login" in page.url, "the page needs a login"
            log_in(page, server, home.tokens["committee"], "/ui/reexamination")
            assert "mag niet herbeoordelingen uitvoeren" in page.inner_text("main"), (
                "the committee may not work tasks"
            )
            log_in(page, server, home.tokens["handhaving"], "/ui/reexamination")
            page.wait_for_url("**/ui/reexamination")
            cards = page.locator(".case")
            assert cards.count() == len(tasks)
            ids = [cards.nth(i).get_attribute("data-reexamination-id") for i in range(cards.count())]
            assert ids == [str(t.id) for t in tasks], "oldest case first"
            first = page.locator(f".case[data-reexamination-id='{tasks[0].id}']")
            text = first.inner_text()
            assert "verlaging" in text and f"({COLUMN})" in text and "bijdrage aan de score" in text
            assert f"{tasks[0].case.score:.3f}" in text
            page.screenshot(path=str(screenshot), full_page=False)
            # Upholding without hoor en wederhoor is refused, with the reason shown, and nothing is recorded.
            submit_result(page, tasks[0].id, "upheld", "grond zonder de kolom", heard=False)
            assert "hoor_en_wederhoor is False with result 'upheld'" in page.inner_text("#error")
            page.goto(f"{server}/ui/reexamination")
            submit_result(
                page,
                tasks[0].id,
                "upheld",
                "overtreding blijkt uit eigen verklaring, cliënt gehoord",
                heard=True,
            )
            page.wait_for_selector("#saved")
            assert page.locator(f".case[data-reexamination-id='{tasks[0].id}']").count() == 0, (
                "done tasks leave"
            )
            submit_result(
                page, tasks[1].id, "withdrawn", "geen grond zonder de onrechtmatige kolom", heard=False
            )
            page.wait_for_selector("#saved")
            # The committee sees the progress.
            log_in(page, server, home.tokens["committee"], "/ui/audits")
            page.wait_for_url("**/ui/audits")
            row = page.locator(f"#rulings tr[data-ruling='{rulings[0].id}']").inner_text()
            assert COLUMN in row
        (progress,) = store.reexamination_progress(rulings)
        handhaving = store.authenticate(home.tokens["handhaving"])
        assert (progress.done, progress.upheld, progress.withdrawn) == (2, 1, 1)
        assert progress.open == len(tasks) - 2
        results = [t.result for t in store.reexamination_tasks(rulings, open_only=False) if t.result]
        assert handhaving is not None and {r.decided_by_token_id for r in results} == {handhaving.id}
    assert screenshot.stat().st_size > 20_000
