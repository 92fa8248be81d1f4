"""What the worklist page shows, kept in memory between writes: the open list, so that a page of it does
not rank the log each view, and the last outcomes recorded.

Which cases the open list holds (:func:`serving.cases.worklist_page`: the selected cases with no outcome
and not halted by a ruling, ranked and cut at the scan's weekly capacity) depends on three tables only:
the decision log, the outcomes and the re-examinations (a ruling's halts). :class:`OpenLists` keeps, per
scan and capacity, a copy of the list and the newest id of each of the three tables it was made at (its
*version*). Every page view reads the version from the database, in one statement of three primary-key
look-ups, and uses the copy only if it is the same; so a case logged, decided or halted by another worker
or by the batch job shows on the next view of every process, and no process needs to be told.

Why the newest ids are enough
-----------------------------
- The three tables are append-only in the database (triggers) and hash-chained. An append takes its
  chain's append lock (:mod:`riskscan.chain`) before it gets its id and holds it to the commit, so ids
  become visible in increasing order: any row committed after a reading has a larger id than every row
  that reading saw, and the version changes. (Without the lock, a PostgreSQL sequence could give a
  smaller id to a transaction that commits later.)
- A purge (:mod:`serving.purge`) is the one UPDATE the log allows, and the database lets it erase the
  personal values (``inputs``, ``explanation``, their seal) and set ``erased_at``, nothing else (the
  trigger of revision 0008). The list reads none of those columns, nor does a page's row
  (:class:`serving.cases.CaseRow`), and a purge leaves open cases alone anyway: it cannot change the page.

How a copy is brought up to date
--------------------------------
The version is read and the copy updated in one snapshot (a read transaction on SQLite, ``REPEATABLE
READ`` on PostgreSQL), so a copy is exactly the list at its version.

- Only the log grew (every ``/score`` call logs a case, so this is the usual change): the scan's new
  selected cases without an outcome or a halt are read by primary key and merged into the ranking, which
  is cut at the capacity again. Nothing left the list, so the best *capacity* of the old list and the new
  cases are the best of all.
- Outcomes or halts changed, or the log grew by more than :data:`MERGE_LIMIT` rows (a batch job): the
  whole list is ranked again by the query of :func:`serving.cases.open_ranking`.

The rows shown for a page are read once and kept with the copy while their case stays on the list: an open
case has no outcome, and the columns shown never change.

The last outcomes (:class:`LastOutcomes`) change only when an outcome is recorded, so the newest outcome's
id is their version, read the same way on every view.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass
from heapq import heapify, heappop, heappush
from typing import Any, Final

from sqlalchemy import Connection, Engine, func, select, type_coerce
from sqlalchemy.types import NullType

from serving.cases import CaseRow, WorklistPage, open_ranking, open_since, rows_by_id
from serving.log import LOG, positive_int_field
from serving.outcomes import OUTCOMES, OutcomeRecord, read_outcomes
from serving.rulings import REEXAMINATIONS

#: New log rows up to which a copy is brought up to date by merging them in; beyond, the list is ranked
#: again (at 100,000 logged cases on SQLite, reading a thousand new rows costs about what ranking does).
MERGE_LIMIT: Final = 1_000

#: The newest id of each table the open list depends on (0 while a table is empty): log, outcomes,
#: re-examinations.
Version = tuple[int, int, int]
_VERSION: Final = select(
    *(
        select(func.coalesce(func.max(table.c.id), 0)).scalar_subquery()
        for table in (LOG, OUTCOMES, REEXAMINATIONS)
    )
)

# A case on the list is held twice, as flat tuples (named ones, or tuples of tuples, cost several times as
# much to make for a list of 1,200, most of it in the garbage collector):
# - in a heap of (control, score, id, created_at, request_id) whose smallest item is the case the capacity
#   cuts first (serving.cases.open_ranking ranks by control, score and id, highest first; id is unique);
# - in a list of (created_at, request_id, id) in received order, the display order (request_id is unique).
# created_at is read as the database stores it (SQLite's fixed-width text, PostgreSQL's timestamp), so that
# Python orders it exactly as the database's ORDER BY does, without converting 1,200 values per ranking
# (2.3 of 3.8 ms on SQLite); request_id is 32 lowercase hex digits, which every collation orders as Python
# does. Cases logged in one batch share created_at, so that tie is common.
_COLUMNS: Final = (
    LOG.c.control,
    LOG.c.score,
    LOG.c.id,
    type_coerce(LOG.c.created_at, NullType()).label("created_at"),
    LOG.c.request_id,
)
_RANKING: Final = open_ranking(*_COLUMNS).subquery()
# Ranked in the database, then put in received order there too: sorting 1,200 cases is its work.
_RANKED: Final = select(_RANKING).order_by(_RANKING.c.created_at, _RANKING.c.request_id)
_NEW: Final = open_since(*_COLUMNS, LOG.c.scan)

Ranked = tuple[bool, float, int, Any, str]
Received = tuple[Any, str, int]


@dataclass(frozen=True)
class _Copy:
    """The open list at ``version``: its cases as a heap with the first to be cut on top, its cases in
    received order, and the rows read so far for its pages. Never changed once made, but for ``rows``,
    which only grows, by rows of cases on the list (threads share it; each change is one dict operation)."""

    version: Version
    ranked: list[Ranked]
    received: list[Received]
    rows: dict[int, CaseRow]


def _snapshots(engine: Engine) -> Engine:
    """``engine``, its connections reading one snapshot per transaction: PostgreSQL's default (READ
    COMMITTED) gives each statement its own, and a version and what is read for it must see the same one.
    SQLite's read transaction already does."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ")
    return engine


class OpenLists:
    """The open worklist of each scan and capacity, paged from a copy kept until one of its tables changes."""

    def __init__(self, engine: Engine) -> None:
        self._engine = _snapshots(engine)
        self._copies: dict[tuple[str, int], _Copy] = {}

    def page(self, scan: str, *, capacity: int, number: int, size: int) -> WorklistPage:
        """Page ``number`` (from 1) of ``size`` cases of the open list of ``scan`` selected up to
        ``capacity``, as :func:`serving.cases.worklist_page` gives it."""
        number, size = positive_int_field("number", number), positive_int_field("size", size)
        capacity = positive_int_field("limit", capacity)
        with self._engine.connect() as connection:
            version: Version = tuple(connection.execute(_VERSION).one())
            copy = self._copies.get((scan, capacity))
            if copy is None or copy.version != version:
                copy = _updated(connection, copy, version, scan, capacity)
                # Threads may race here; each copy is exact at its own version, which the next view checks.
                self._copies[(scan, capacity)] = copy
            ids = [place[2] for place in copy.received[(number - 1) * size : number * size]]
            missing = [id_ for id_ in ids if id_ not in copy.rows]
            if missing:  # one update, so that a thread copying the rows never sees it half done
                copy.rows.update({row.id: row for row in rows_by_id(connection, missing)})
            rows = [copy.rows[id_] for id_ in ids]
        return WorklistPage(rows, len(copy.received), number, size)


def _updated(connection: Connection, copy: _Copy | None, version: Version, scan: str, capacity: int) -> _Copy:
    """The open list at ``version``: ``copy`` with the new cases merged in if only the log grew (and not by
    more than :data:`MERGE_LIMIT` rows), else ranked anew."""
    if (
        copy is not None
        and copy.version[1:] == version[1:]
        and 0 < version[0] - copy.version[0] <= MERGE_LIMIT
    ):
        return _merged(connection, copy, version, scan, capacity)
    rows = connection.execute(_RANKED, {"scan": scan, "capacity": capacity}).all()
    ranked: list[Ranked] = [tuple(row) for row in rows]
    heapify(ranked)
    received = [(created_at, request_id, id_) for _, _, id_, created_at, request_id in rows]
    on_list = {place[2] for place in received}
    kept = {} if copy is None else {id_: row for id_, row in list(copy.rows.items()) if id_ in on_list}
    return _Copy(version, ranked, received, kept)


def _merged(connection: Connection, copy: _Copy, version: Version, scan: str, capacity: int) -> _Copy:
    """``copy`` with the open cases logged since its version, cut at ``capacity`` again: nothing left the
    list, so its best cases and the new ones hold the best of all."""
    ranked, received, rows = list(copy.ranked), list(copy.received), dict(copy.rows)
    for control, score, id_, created_at, request_id, of_scan in connection.execute(
        _NEW, {"after": copy.version[0]}
    ).all():
        if of_scan != scan:
            continue
        heappush(ranked, (control, score, id_, created_at, request_id))
        insort(received, (created_at, request_id, id_))
        if len(ranked) > capacity:
            _, _, cut, cut_created_at, cut_request_id = heappop(ranked)
            del received[bisect_left(received, (cut_created_at, cut_request_id, cut))]
            rows.pop(cut, None)
    return _Copy(version, ranked, received, rows)


_NEWEST_OUTCOME: Final = select(func.coalesce(func.max(OUTCOMES.c.id), 0))


class LastOutcomes:
    """The last outcomes recorded for each scan, kept until another is recorded."""

    def __init__(self, engine: Engine) -> None:
        self._engine = _snapshots(engine)
        self._kept: dict[tuple[str, int], tuple[int, list[OutcomeRecord]]] = {}

    def last(self, scan: str, last: int) -> list[OutcomeRecord]:
        """The ``last`` outcomes recorded for cases of ``scan``, oldest first
        (:func:`serving.outcomes.outcomes` with ``last``)."""
        with self._engine.connect() as connection:
            newest = connection.execute(_NEWEST_OUTCOME).scalar_one()
            kept = self._kept.get((scan, last))
            if kept is None or kept[0] != newest:
                kept = (newest, read_outcomes(connection, scan, last=last))
                self._kept[(scan, last)] = kept
        return list(kept[1])
