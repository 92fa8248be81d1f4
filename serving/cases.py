"""Cases: the decision log read together with the latest outcome of each case.

The case list, the worklist and the jobs' history (:mod:`serving.history`) all read one query,
:func:`case_query`. It joins the log and the outcomes, which cite log rows, so it sits above both
(:mod:`serving.log`, :mod:`serving.outcomes`) rather than inside either.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, Engine, Row, Select, bindparam, func, select

from riskscan.db import Record
from riskscan.errors import InvalidInput
from serving.log import LOG, SELECTED, positive_int_field
from serving.outcomes import OUTCOMES, OutcomeRecord, latest
from serving.rulings import halted_requests

STATUS_NO_SIGNAL: Final = "geen signaal"
STATUS_OPEN: Final = "open"

#: The worklist's status filter (the ``status`` parameter of ``/ui/worklist``): the cases still to be
#: investigated, those with an outcome recorded, and those whose investigation a ruling halted.
WORKLIST_OPEN: Final = "open"
WORKLIST_DONE: Final = "afgehandeld"
WORKLIST_HALTED: Final = "stopgezet"
WORKLIST_STATUSES: Final = (WORKLIST_OPEN, WORKLIST_DONE, WORKLIST_HALTED)


@dataclass(frozen=True, slots=True)
class CaseRow(Record):
    """A logged case with its latest outcome, for the case list and the worklist.

    ``status``: ``geen signaal`` (neither a signal nor in the control sample, no outcome), ``open``
    (selected for investigation, no outcome yet), ``afgehandeld: overtreding`` or ``afgehandeld: geen
    overtreding`` (the latest outcome).
    """

    id: int
    request_id: str
    case_id: str
    scan: str
    model_name: str
    model_version: str
    score: float
    threshold: float
    signal: bool
    control: bool
    source: str
    created_at: datetime
    status: str
    outcome: OutcomeRecord | None

    @classmethod
    def from_case(cls, row: Row[Any]) -> CaseRow:
        """A row of :func:`case_query`: its outcome columns become the :class:`OutcomeRecord`."""
        values = row._mapping
        outcome = None
        if values["outcome_id"] is not None:
            outcome = OutcomeRecord.from_row(
                row, **{name: values[label] for name, label in _RELABELLED.items()}
            )
        if outcome is not None:
            status = outcome.status
        elif values["signal"] or values["control"]:
            status = STATUS_OPEN
        else:
            status = STATUS_NO_SIGNAL
        # The row, not its mapping: from_row asks for ``_mapping``, which a mapping answers by raising (and
        # formatting) a KeyError.
        return cls.from_row(row, status=status, outcome=outcome)


#: The log's columns in a case row (the fields of CaseRow that are log columns).
_CASE_COLUMNS: Final = tuple(item.name for item in dataclasses.fields(CaseRow) if item.name in LOG.c)
#: The latest outcome's columns in a case row: its own, named ``outcome_<name>`` where the log has a
#: column of that name; ``request_id``, ``case_id`` and ``scan`` are the log's.
_OUTCOME_COLUMNS: Final = {
    name: f"outcome_{name}" if name in _CASE_COLUMNS else name
    for name in (item.name for item in dataclasses.fields(OutcomeRecord))
    if name not in ("request_id", "case_id", "scan")
}
_RELABELLED: Final = {name: label for name, label in _OUTCOME_COLUMNS.items() if name != label}


def case_query(scan: str | None, *, with_inputs: bool = False) -> Select[Any]:
    """Every logged case of ``scan`` with its latest outcome (a later outcome for the same request
    supersedes an earlier one): the query behind the case list, the worklist and ``serving.history``.

    Columns: those of :class:`CaseRow` from the log, and the latest outcome's ``outcome_id``,
    ``violation``, ``sanction``, ``hoor_en_wederhoor``, ``investigator``, ``notes`` and
    ``outcome_created_at`` (all null without an outcome); with ``with_inputs`` also ``inputs``. A
    ``scan`` of None keeps the cases of every scan (the re-examination list spans scans).
    """
    outcome = OUTCOMES.alias("latest")
    columns: list[Any] = [LOG.c[name] for name in _CASE_COLUMNS]
    columns += [outcome.c[name].label(label) for name, label in _OUTCOME_COLUMNS.items()]
    if with_inputs:
        columns.append(LOG.c.inputs)
    query = select(*columns).select_from(
        LOG.outerjoin(outcome, (outcome.c.request_id == LOG.c.request_id) & latest(outcome))
    )
    return query if scan is None else query.where(LOG.c.scan == scan)


def in_period(query: Select[Any], start: datetime | None, end: datetime | None) -> Select[Any]:
    """``query`` kept to cases logged in ``[start, end)``; either may be None (open), else aware."""
    for name, moment in (("start", start), ("end", end)):
        if moment is not None and (not isinstance(moment, datetime) or moment.tzinfo is None):
            raise InvalidInput(f"{name} must be a datetime with a time zone, got {moment!r}")
    if start is not None:
        query = query.where(LOG.c.created_at >= start)
    if end is not None:
        query = query.where(LOG.c.created_at < end)
    return query


def cases(
    engine: Engine,
    *,
    scan: str,
    model_version: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    signal_only: bool = False,
    limit: int | None = None,
) -> list[CaseRow]:
    """Logged cases of a scan in the order scored (``created_at``, then id), each with its latest
    outcome and status.

    ``start`` is inclusive and ``end`` exclusive (aware datetimes). ``signal_only`` keeps the cases
    selected for investigation: a signal, or drawn into the random control sample.
    """
    query = case_query(scan)
    if model_version is not None:
        query = query.where(LOG.c.model_version == model_version)
    query = in_period(query, start, end)
    if signal_only:
        query = query.where(SELECTED)
    query = query.order_by(LOG.c.created_at, LOG.c.id)  # created_at is stamped in id order
    if limit is not None:
        query = query.limit(positive_int_field("limit", limit))
    with engine.connect() as connection:
        return [CaseRow.from_case(row) for row in connection.execute(query)]


def _open() -> tuple[Any, ...]:
    """What keeps a logged case on the open list: selected (a signal or the control sample), no outcome,
    not halted by a ruling."""
    # NOT IN over the (non-null) request ids of the outcomes and the halts, not NOT EXISTS per case: the
    # database reads each table once instead of probing it for every ranked case (1.8 against 4.5 ms at
    # 100,000 logged cases, same rows).
    return (
        SELECTED,
        LOG.c.request_id.not_in(select(OUTCOMES.c.request_id)),
        LOG.c.request_id.not_in(halted_requests()),
    )


def open_ranking(*columns: Any) -> Select[Any]:
    """``columns`` of the open cases of the scan bound as ``scan`` that fill the worklist, in the order they
    are selected (see :func:`worklist`), up to the number bound as ``capacity``."""
    # The ranking is the order of ix_decision_log_selected, which also holds created_at and request_id
    # (revision 0009): walking it to the capacity reads no log row.
    return (
        select(*columns)
        .where(LOG.c.scan == bindparam("scan"), *_open())
        .order_by(LOG.c.control.desc(), LOG.c.score.desc(), LOG.c.id.desc())
        .limit(bindparam("capacity"))
    )


def open_since(*columns: Any) -> Select[Any]:
    """``columns`` of the open cases of every scan logged after the log id bound as ``after``."""
    # Every scan's: with ``scan = ?`` SQLite walks all of the scan's selected cases in
    # ix_decision_log_selected rather than the new rows by primary key (6 against 0.05 ms for ten new rows
    # at 100,000 logged cases); the caller keeps its scan's.
    return select(*columns).where(LOG.c.id > bindparam("after"), *_open())


def worklist(engine: Engine, scan: str, limit: int) -> list[CaseRow]:
    """Open cases (selected for investigation, no outcome yet, not halted by a ruling): the control
    sample first, then signals by score, highest first.

    A case whose investigation a ruling halted (:mod:`serving.rulings`) leaves the worklist here, in the
    query, so no page or job can show it by forgetting a filter.

    The random control sample comes first because it is only unbiased if *all* of it is investigated;
    ranked by score, its low-scoring cases would fall below the capacity line and never be done.
    """
    selection = open_ranking(LOG.c.id).subquery()
    query = (
        case_query(scan)
        .where(LOG.c.id.in_(select(selection.c.id)))
        .order_by(LOG.c.control.desc(), LOG.c.score.desc(), LOG.c.id.desc())
    )
    bound = {"scan": scan, "capacity": positive_int_field("limit", limit)}
    with engine.connect() as connection:
        return [CaseRow.from_case(row) for row in connection.execute(query, bound)]


@dataclass(frozen=True, slots=True)
class WorklistPage:
    """One page of a worklist: its cases in received order, and how many the whole list holds."""

    rows: list[CaseRow]
    total: int
    number: int
    size: int

    @property
    def pages(self) -> int:
        """Pages the list fills; an empty list still has its one (empty) first page."""
        return max(1, -(-self.total // self.size))


def _list_selection(status: str) -> Select[Any]:
    """The cases of the list with ``status`` of the scan bound as ``scan``: their id and their place in
    received order (``created_at``, ``request_id``)."""
    received = (LOG.c.id, LOG.c.created_at, LOG.c.request_id)
    if status == WORKLIST_OPEN:
        return open_ranking(*received)
    # Driven from the outcomes or the rulings' halts, joined to the log by request id: filtered from the
    # log's side, the database walks every logged case of the scan (30-80 ms at 100,000 logged cases
    # against 0.1-4 ms, bench_web.py's log).
    cited = select(OUTCOMES.c.request_id) if status == WORKLIST_DONE else halted_requests()
    listed = cited.distinct().subquery()
    return (
        select(*received)
        .select_from(listed.join(LOG, LOG.c.request_id == listed.c.request_id))
        .where(LOG.c.scan == bindparam("scan"), SELECTED)
    )


def _page_ids(status: str) -> Select[Any]:
    """The ids of one page of the list (``size`` and ``offset`` bound) with the list's total, in one pass."""
    # Materialized once, then counted and sorted: the same as count(*) OVER () in a third less time on
    # SQLite (0.74 against 1.03 ms for the open list at 100,000 logged cases), where the window function
    # copies every row of the selection once more.
    selection = _list_selection(status).cte("selection").prefix_with("MATERIALIZED")
    total = select(func.count()).select_from(selection).scalar_subquery()
    return (
        select(selection.c.id, total.label("total"))
        .order_by(selection.c.created_at, selection.c.request_id)
        .limit(bindparam("size"))
        .offset(bindparam("offset"))
    )


def _list_total(status: str) -> Select[Any]:
    return select(func.count()).select_from(_list_selection(status).subquery())


# The statements of worklist_page, built once with their values bound at execution: building them and
# working out their cache key took about as long as the database's work on a page (0.9 of 2.5 ms of CPU at
# 100,000 logged cases), on every page view.
_PAGE_IDS: Final = {status: _page_ids(status) for status in WORKLIST_STATUSES}
_LIST_TOTAL: Final = {status: _list_total(status) for status in WORKLIST_STATUSES}
# No scan filter here (the ids are the scan's): with one, the database walks the scan's index in received
# order instead of looking the ids up (20-35 ms against under 1 ms).
_PAGE_ROWS: Final = (
    case_query(None)
    .where(LOG.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(LOG.c.created_at, LOG.c.request_id)
)


def rows_by_id(connection: Connection, ids: list[int]) -> list[CaseRow]:
    """The cases with these log ids, each with its latest outcome, in received order."""
    return [CaseRow.from_case(row) for row in connection.execute(_PAGE_ROWS, {"ids": ids})]


def worklist_page(
    engine: Engine, scan: str, status: str, *, capacity: int, number: int, size: int
) -> WorklistPage:
    """Page ``number`` (from 1) of ``size`` cases of the worklist of ``scan`` with ``status``
    (:data:`WORKLIST_STATUSES`), in received order, with the list's total; the paging is done in the
    database, so a page costs the same however long the list is.

    Which cases the list holds: ``open``, those :func:`worklist` selects up to ``capacity`` (every open
    control case first, then signals by score); ``afgehandeld``, every selected case with an outcome;
    ``stopgezet``, every selected case whose investigation a ruling halted. The display order is the time
    received, then the request id: it follows neither the score nor the control draw
    (``serving/web/_worklist.py``).
    """
    number, size = positive_int_field("number", number), positive_int_field("size", size)
    if status not in WORKLIST_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(WORKLIST_STATUSES)}, got {status!r}")
    bound: dict[str, Any] = {"scan": scan, "size": size, "offset": (number - 1) * size}
    if status == WORKLIST_OPEN:
        bound["capacity"] = positive_int_field("limit", capacity)
    # The page's ids with the list's total in one pass, then their rows by primary key (the case columns
    # joined for the whole selection and sorted before the LIMIT cost several times as much).
    with engine.connect() as connection:
        found = connection.execute(_PAGE_IDS[status], bound).all()
        if found:
            total = found[0].total
            cases = rows_by_id(connection, [row.id for row in found])
        else:  # past the end of the list (or an empty list): the total alone
            total = connection.execute(_LIST_TOTAL[status], bound).scalar_one()
            cases = []
    return WorklistPage(cases, int(total), number, size)
