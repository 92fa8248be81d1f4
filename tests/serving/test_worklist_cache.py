"""The open worklist kept between writes (serving/worklist_cache.py), on SQLite and PostgreSQL.

One store writes and another reads, as two processes would (each store has its own engine and its own
copy of the list), so nothing here relies on the reader being told of a write: each page of the reader is
compared with the list as :func:`serving.cases.worklist_page` ranks it in the database, uncached.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from models.governance import GovernanceStore
from models.specs import load_spec, scan_ids
from serving import worklist_cache
from serving.cases import WORKLIST_OPEN, CaseRow, worklist_page
from serving.log import LogEntry
from serving.store import ServingStore
from serving.tokens import TokenRecord
from tests.serving.store_helpers import Clock, entry

CAPACITY = 120
SIZE = 50
#: A clock, the governance store, a serving store that writes and another that reads.
Stores = tuple[Clock, GovernanceStore, ServingStore, ServingStore]


@pytest.fixture
def stores(url: str) -> Iterator[Stores]:
    clock = Clock()
    with (
        GovernanceStore(url, clock=clock) as governance,
        ServingStore(url, clock=clock) as writer,
        ServingStore(url, clock=clock) as reader,
    ):
        yield clock, governance, writer, reader


def case(rng: random.Random, index: int, *, control: bool | None = None, scan: str = "vw") -> LogEntry:
    """A logged case: a control one time in five, else a signal four times in five."""
    control = rng.random() < 0.2 if control is None else control
    return entry(
        case_id=f"case-{index}",
        scan=scan,
        model_name=f"riskscan-{scan}",
        model_version=rng.choice("345"),
        score=rng.random(),
        signal=not control and rng.random() < 0.8,
        control=control,
    )


def pages(store: ServingStore, *, capacity: int = CAPACITY, size: int = SIZE) -> tuple[int, list[CaseRow]]:
    """Every page of the reader's open list, in order, with the total; checked against the database's."""
    shown: list[CaseRow] = []
    number = 1
    while True:
        page = store.worklist_page("vw", WORKLIST_OPEN, capacity=capacity, number=number, size=size)
        fresh = worklist_page(store.engine, "vw", WORKLIST_OPEN, capacity=capacity, number=number, size=size)
        assert page == fresh, f"page {number} of {page.pages} differs from the database's"
        shown += page.rows
        if number >= page.pages:
            return page.total, shown
        number += 1


def ids(rows: list[CaseRow]) -> list[str]:
    return [row.request_id for row in rows]


def ruling(governance: GovernanceStore, store: ServingStore) -> int:
    committee = store.create_token(name="Commissielid", role="committee")[1]
    ruled = governance.record_ruling(
        column="sector", reason="test", ruled_by_token_id=committee.id, ruled_by=committee.name
    )
    return ruled.id


def halt(store: ServingStore, ruling_id: int, version: str) -> int:
    """The ruling blocks model version ``version``: its open cases are halted. Returns how many."""
    store.record_blocked(ruling_id, "vw", version, True)
    return store.open_reexaminations(ruling_id)["halted"]


def decide(store: ServingStore, staff: TokenRecord, request_id: str) -> None:
    store.record_outcome(
        recorded_by=staff, request_id=request_id, violation=False, sanction=None, hoor_en_wederhoor=True
    )


def test_each_kind_of_write_by_another_store_shows_on_the_next_page(
    stores: Stores,
) -> None:
    clock, governance, writer, reader = stores
    rng = random.Random(14)
    writer.append_scores([case(rng, index) for index in range(300)])
    total, before = pages(reader)
    assert total == CAPACITY

    # A new case: a control case ranks first, so it enters the list and the last case of the ranking leaves.
    logged = writer.append_score(case(rng, 300, control=True))
    total, after = pages(reader)
    assert total == CAPACITY and logged.request_id in ids(after) and ids(after) != ids(before)
    assert len(set(ids(before)) - set(ids(after))) == 1

    # An outcome: the case leaves the list and the best case below the capacity takes its place.
    decided = after[0].request_id
    decide(writer, writer.create_token(name="onderzoeker", role="handhaving")[1], decided)
    total, after = pages(reader)
    assert total == CAPACITY and decided not in ids(after)

    # A ruling's halts: every open case of the blocked version leaves the list.
    assert halt(writer, ruling(governance, writer), "3") > 0
    total, after = pages(reader)
    assert {row.model_version for row in after} == {"4", "5"}

    # A purge erases the personal values of closed cases only, and no column the list reads (the database
    # allows nothing else): the page stays the database's, which the purge did not change.
    before = after
    clock.now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    report = writer.purge(datetime(2026, 6, 1, tzinfo=UTC), [load_spec(scan) for scan in scan_ids()])
    assert report.total_erased > 0
    assert pages(reader) == (total, before)


def test_a_page_viewed_again_without_a_write_is_read_from_the_copy(
    stores: Stores,
) -> None:
    _, _, writer, reader = stores
    rng = random.Random(5)
    writer.append_scores([case(rng, index) for index in range(200)])
    first = reader.worklist_page("vw", WORKLIST_OPEN, capacity=CAPACITY, number=2, size=SIZE)

    statements: list[str] = []
    event.listen(reader.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    again = reader.worklist_page("vw", WORKLIST_OPEN, capacity=CAPACITY, number=2, size=SIZE)
    queries = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert again == first
    assert len(queries) == 1 and "max(decision_log.id)" in queries[0], "only the version is read"

    writer.append_score(case(rng, 200))
    statements.clear()
    reader.worklist_page("vw", WORKLIST_OPEN, capacity=CAPACITY, number=2, size=SIZE)
    assert not any("ORDER BY decision_log.control DESC" in s for s in statements), (
        "a new case is merged into the copy, the list is not ranked again"
    )


@pytest.mark.parametrize("capacity", [7, CAPACITY])
def test_the_copy_follows_a_run_of_random_writes_exactly(stores: Stores, capacity: int) -> None:
    """Cases of both scans logged one by one and in batches (one larger than a merge takes), outcomes,
    corrected outcomes and halts, in a random order, the reader looking after about every other write;
    each time, every page it shows (from a copy that keeps the rows of the pages shown) is the database's."""
    _, governance, writer, reader = stores
    rng = random.Random(capacity)
    staff = writer.create_token(name="onderzoeker", role="handhaving")[1]
    ruling_id = ruling(governance, writer)
    logged = 0
    for step in range(60):
        kind = {20: "halt", 40: "halt", 30: "large batch"}.get(step) or rng.choice(
            ["case", "case", "batch", "outcome", "outcome"]
        )
        open_cases = writer.worklist("vw", capacity)
        if kind == "case" or (kind == "outcome" and not open_cases):
            writer.append_score(case(rng, logged, scan=rng.choice(["vw", "vw", "vw", "sollicitatie"])))
            logged += 1
        elif kind in ("batch", "large batch"):
            n = worklist_cache.MERGE_LIMIT + 1 if kind == "large batch" else rng.randint(2, 40)
            writer.append_scores(
                [case(rng, logged + i, scan=rng.choice(["vw", "sollicitatie"])) for i in range(n)]
            )
            logged += n
        elif kind == "outcome":
            decided = writer.outcomes("vw")
            if decided and rng.random() < 0.2:  # a corrected outcome: the case stays off the list
                decide(writer, staff, decided[-1].request_id)
            else:
                decide(writer, staff, rng.choice(open_cases).request_id)
        else:  # with a case logged after it, before the reader looks again
            halt(writer, ruling_id, "3" if step == 20 else "4")
            writer.append_score(case(rng, logged))
            logged += 1
        if rng.random() < 0.5 or step in (19, 20, 39, 40, 59):
            pages(reader, capacity=capacity, size=rng.choice([3, SIZE]))


def test_the_last_outcomes_show_each_one_another_store_records(
    stores: Stores,
) -> None:
    _, _, writer, reader = stores
    rng = random.Random(3)
    writer.append_scores([case(rng, i, scan=scan) for i in range(40) for scan in ("vw", "sollicitatie")])
    staff = writer.create_token(name="onderzoeker", role="handhaving")[1]
    assert reader.last_outcomes("vw", 3) == []
    for scan in ("vw", "vw", "sollicitatie", "vw", "vw"):
        chosen = rng.choice(writer.worklist(scan, CAPACITY)).request_id
        decide(writer, staff, chosen)
        shown = reader.last_outcomes("vw", 3)
        assert shown == writer.outcomes("vw", last=3)  # the database's, uncached
        assert (shown[-1].request_id == chosen) == (scan == "vw")

    statements: list[str] = []
    event.listen(reader.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert reader.last_outcomes("vw", 3) == shown
    queries = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(queries) == 1 and "max(outcomes.id)" in queries[0], "only the newest outcome's id is read"
