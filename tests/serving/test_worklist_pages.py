"""The worklist in pages of 50 with a status filter: the store's paging on SQLite and PostgreSQL, and the page
itself (in-process, on the served home) with its links, its total and its Dutch refusals of a bad parameter.

The store tests build a log by hand (scores, control flags and arrival times chosen so that the selection
order and the received order differ), so they know every answer exactly.
"""

from __future__ import annotations

import html
import random
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from models.governance import GovernanceStore
from riskscan.errors import InvalidInput
from serving.cases import WORKLIST_DONE, WORKLIST_HALTED, WORKLIST_OPEN, CaseRow
from serving.store import ServingStore
from serving.web._worklist import PAGE_SIZE, page_links
from tests.serving.conftest import ServedHome, bearer, caseload, sign_in
from tests.serving.store_helpers import Clock, entry

CAPACITY = 120
SIZE = 50
BLOCKED = "3"  # the model version a ruling blocks; the other cases are version "4"


@pytest.fixture
def stores(url: str) -> Iterator[tuple[GovernanceStore, ServingStore]]:
    clock = Clock()
    with GovernanceStore(url, clock=clock) as governance, ServingStore(url, clock=clock) as store:
        yield governance, store


def fill(store: ServingStore, n: int = 200) -> None:
    """``n`` cases, each appended on its own (so each its own arrival time): every fifth a control, four in
    five of the rest a signal, scores shuffled so a case's arrival says nothing of its rank."""
    scores = random.Random(14).sample(range(1, n + 1), n)
    for index, score in enumerate(scores):
        control = index % 5 == 0
        store.append_score(
            entry(
                case_id=f"case-{index}",
                model_version=BLOCKED if index % 2 else "4",
                score=score / (n + 1),
                signal=not control and index % 5 != 1,
                control=control,
            )
        )


def received(rows: list[CaseRow]) -> list[str]:
    return [row.request_id for row in sorted(rows, key=lambda row: (row.created_at, row.request_id))]


def all_pages(store: ServingStore, status: str) -> tuple[list[CaseRow], int]:
    first = store.worklist_page("vw", status, capacity=CAPACITY, number=1, size=SIZE)
    rows = list(first.rows)
    for number in range(2, first.pages + 1):
        shown = store.worklist_page("vw", status, capacity=CAPACITY, number=number, size=SIZE)
        assert shown.total == first.total
        rows += shown.rows
    return rows, first.total


def test_pages_of_the_open_list_are_the_selection_in_received_order_cut_at_the_capacity_in_sql(
    stores: tuple[GovernanceStore, ServingStore],
) -> None:
    _, store = stores
    fill(store)
    selection = store.worklist("vw", CAPACITY)
    assert len(selection) == CAPACITY and received(selection) != [row.request_id for row in selection]

    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    first = store.worklist_page("vw", WORKLIST_OPEN, capacity=CAPACITY, number=1, size=SIZE)
    assert (first.total, first.pages, len(first.rows)) == (CAPACITY, 3, SIZE)
    # The open list is paged from a copy of the selection (serving/worklist_cache.py), which the database
    # cuts at the capacity: a page never reads more than that, however long the log.
    assert any("LIMIT" in s for s in statements), "the selection is cut at the capacity in the database"

    rows, total = all_pages(store, WORKLIST_OPEN)
    assert total == CAPACITY and [len(rows[:50]), len(rows[50:100]), len(rows[100:])] == [50, 50, 20]
    assert [row.request_id for row in rows] == received(selection)  # every selected case, once, in order
    beyond = store.worklist_page("vw", WORKLIST_OPEN, capacity=CAPACITY, number=4, size=SIZE)
    assert beyond.rows == [] and beyond.pages == 3


def test_the_status_filter_lists_open_handled_and_halted_cases(
    stores: tuple[GovernanceStore, ServingStore],
) -> None:
    governance, store = stores
    fill(store)
    staff = store.create_token(name="onderzoeker", role="handhaving")[1]
    handled = [row.request_id for row in store.worklist("vw", CAPACITY)[:7]]
    for request_id in handled:
        store.record_outcome(
            recorded_by=staff, request_id=request_id, violation=False, sanction=None, hoor_en_wederhoor=True
        )
    done, total = all_pages(store, WORKLIST_DONE)
    assert total == 7 and sorted(row.request_id for row in done) == sorted(handled)
    assert all(row.outcome is not None for row in done)
    open_rows, total = all_pages(store, WORKLIST_OPEN)
    assert total == CAPACITY and not set(handled) & {row.request_id for row in open_rows}

    committee = store.create_token(name="Commissielid", role="committee")[1]
    ruling = governance.record_ruling(
        column="sector", reason="test", ruled_by_token_id=committee.id, ruled_by=committee.name
    )
    store.record_blocked(ruling.id, "vw", BLOCKED, True)
    opened = store.open_reexaminations(ruling.id)
    halted, total = all_pages(store, WORKLIST_HALTED)
    assert total == opened["halted"] > 0
    assert {row.model_version for row in halted} == {BLOCKED} and all(row.outcome is None for row in halted)
    open_rows, _ = all_pages(store, WORKLIST_OPEN)
    assert {row.model_version for row in open_rows} == {"4"}, "halted cases leave the open list"
    assert [row.request_id for row in open_rows] == received(store.worklist("vw", CAPACITY))


@pytest.mark.parametrize(
    ("status", "number", "size", "message"),
    [
        ("gesloten", 1, SIZE, "status must be one of open, afgehandeld, stopgezet, got 'gesloten'"),
        (WORKLIST_OPEN, 0, SIZE, "number must be a positive integer, got 0"),
        (WORKLIST_OPEN, 1, 0, "size must be a positive integer, got 0"),
    ],
)
def test_the_store_refuses_a_bad_status_page_or_size(
    store: ServingStore, status: str, number: int, size: int, message: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        store.worklist_page("vw", status, capacity=CAPACITY, number=number, size=size)


def test_page_links_show_the_ends_and_the_pages_near_the_current_one() -> None:
    assert page_links(1, 1) == [1]
    assert page_links(1, 5) == [1, 2, 3, 4, 5]
    assert page_links(12, 24) == [1, None, 9, 10, 11, 12, 13, 14, 15, None, 24]
    assert page_links(24, 24) == [1, None, 21, 22, 23, 24]


# ------------------------------------------------------------------------------------------ the page


def cases_on(page: str) -> list[str]:
    return re.findall(r'<div class="case" data-request-id="([0-9a-f]+)"', page)


def next_link(page: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" rel="next">', page)
    return html.unescape(found[1]) if found else None


def error_of(page: str) -> str:
    shown = re.search(r'<div class="error" id="error">(.*?)</div>', page, re.S)
    assert shown, page
    return html.unescape(shown[1])


@pytest.fixture
def scored(client: TestClient, served_home: ServedHome) -> None:
    """More selected cases on the served home's log than fit on one page."""
    cases = caseload(served_home, "vw", 1500)
    for start in range(0, len(cases), 750):  # at most 1,000 cases per request
        answer = client.post(
            "/score",
            json={"scan": "vw", "cases": cases[start : start + 750], "top_n": 1},
            headers=bearer(served_home, "systeem"),
        )
        assert answer.status_code == 200, answer.text


def test_the_page_walks_the_list_fifty_at_a_time_with_its_total(
    client: TestClient, served_home: ServedHome, scored: None
) -> None:
    sign_in(client, served_home, "handhaving")
    first = client.get("/ui/worklist", params={"scan": "vw"})
    assert first.status_code == 200, first.text
    total = int(re.search(r'<p id="total">(\d+) open zaken', first.text)[1])  # type: ignore[index]
    pages = -(-total // PAGE_SIZE)
    assert total > PAGE_SIZE and f"Pagina 1 van {pages}" in first.text
    seen: list[str] = []
    page = first.text
    while True:
        assert len(cases_on(page)) == (PAGE_SIZE if len(seen) + PAGE_SIZE <= total else total - len(seen))
        seen += cases_on(page)
        link = next_link(page)
        if link is None:
            break
        page = client.get(link).text
    assert len(seen) == len(set(seen)) == total
    assert client.get("/ui/worklist", params={"scan": "vw", "page": str(pages)}).status_code == 200
    beyond = client.get("/ui/worklist", params={"scan": "vw", "page": str(pages + 1)})
    assert beyond.status_code == 400 and f"{total} zaken op {pages} pagina('s)" in error_of(beyond.text)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"page": "0"}, "ongeldig paginanummer '0' (parameter page): verwacht een geheel getal vanaf 1"),
        ({"page": "twee"}, "ongeldig paginanummer 'twee' (parameter page)"),
        ({"page": "-1"}, "ongeldig paginanummer '-1' (parameter page)"),
        ({"page": "1.5"}, "ongeldig paginanummer '1.5' (parameter page)"),
        ({"page": "100000"}, "pagina 100000 bestaat niet (parameter page): de lijst 'open' heeft"),
        ({"status": "dicht"}, "onbekende status 'dicht' (parameter status); kies uit: open, afgehandeld"),
        ({"scan": "ziekte"}, "onbekende scan 'ziekte' (parameter scan); bekend: vw, sollicitatie"),
    ],
)
def test_a_bad_parameter_gets_a_dutch_error_page_naming_it(
    client: TestClient, served_home: ServedHome, query: dict[str, str], expected: str
) -> None:
    sign_in(client, served_home, "handhaving")
    answer = client.get("/ui/worklist", params={"scan": "vw", **query})
    assert answer.status_code == 400
    assert expected in error_of(answer.text)


def test_an_outcome_recorded_on_page_two_returns_there_and_moves_the_case_to_afgehandeld(
    client: TestClient, served_home: ServedHome, scored: None
) -> None:
    csrf = sign_in(client, served_home, "handhaving")
    second = client.get("/ui/worklist", params={"scan": "vw", "page": "2"})
    request_id = cases_on(second.text)[0]
    form: dict[str, Any] = {
        "csrf": csrf,
        "request_id": request_id,
        "scan": "vw",
        "status": "open",
        "page": "2",
        "violation": "nee",
    }
    saved = client.post("/ui/outcome", data=form)
    assert saved.status_code == 303
    assert parse_qs(urlsplit(saved.headers["location"]).query) == {
        "scan": ["vw"],
        "page": ["2"],
        "saved": [request_id],
    }
    done: list[str] = []
    link: str | None = "/ui/worklist?scan=vw&status=afgehandeld"
    while link:
        page = client.get(link)
        assert page.status_code == 200 and 'aria-current="page">afgehandeld' in page.text
        done += cases_on(page.text)
        link = next_link(page.text)
    assert request_id in done
    bad = client.post("/ui/outcome", data={**form, "page": "nul"})
    assert bad.status_code == 400 and "parameter page" in error_of(bad.text)
