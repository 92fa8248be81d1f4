"""Re-examination after a ruling: opening it for every logged case, the task list, results, progress.

The cascade (:mod:`serving.cascade`) calls :func:`record_blocked` and :func:`open_reexaminations`; the
worklist page, ``riskscan reexamination status`` and the scenario read :func:`tasks` and
:func:`progress` and append :func:`record_result`. The tables are in :mod:`serving.rulings`.

Opening is one transaction that takes the re-examinations' append lock, reads the cases of each kind not
yet opened for the ruling (``reexaminations`` is UNIQUE on ruling and request) and appends them to the
table's hash chain, so running it again after a crash adds what is missing and nothing twice:

- ``halted``: a case of a blocked version selected for investigation (a signal or the control sample)
  with no outcome yet;
- ``task``: a case of a blocked version with a recorded outcome.

The counts of :func:`progress` are, per ruling, with ``V`` its blocked versions:

- *affected* = logged cases scored by a version in ``V`` (selected or not);
- *halted* = its ``halted`` rows; *tasks* = its ``task`` rows, *open* + *done*;
- *done* = tasks with a result; *upheld*, *revised*, *withdrawn* = done tasks by their latest result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    exists,
    func,
    select,
    tuple_,
)

from models.governance import RulingRecord
from riskscan.db import NAME_LENGTH, Record, text_field, write_transaction
from riskscan.errors import Conflict, InvalidInput, NotFound
from serving.cases import CaseRow, case_query
from serving.log import LOG, SELECTED, flag_field, positive_int_field
from serving.outcomes import OUTCOMES
from serving.rulings import (
    BLOCKED,
    BLOCKED_CHAIN,
    CASCADE_CHAIN,
    CASCADES,
    HALTED,
    REEXAMINATION_CHAIN,
    REEXAMINATIONS,
    RESULT_CHAIN,
    RESULTS,
    RESULTS_TABLE,
    TASK,
    BlockedVersion,
    ResultRecord,
)

NOTE_LENGTH: Final = 4000


# ------------------------------------------------------------------------------------------- opening


def record_blocked(
    engine: Engine, now: Callable[[], datetime], ruling_id: int, scan: str, version: str, was_champion: bool
) -> BlockedVersion:
    """Record that the ruling blocks ``scan`` ``version`` (once; a second call returns the first row)."""
    key = (BLOCKED.c.ruling_id == ruling_id) & (BLOCKED.c.scan == scan) & (BLOCKED.c.model_version == version)
    with write_transaction(engine) as connection:
        row = connection.execute(select(BLOCKED).where(key)).first()
        if row is None:
            values = {
                "ruling_id": ruling_id,
                "scan": scan,
                "model_version": version,
                "was_champion": was_champion,
                "created_at": now(),
            }
            link = BLOCKED_CHAIN.append(connection, values)
            row = connection.execute(select(BLOCKED).where(BLOCKED.c.id == link.id)).one()
    return BlockedVersion.from_row(row)


def blocked_versions(engine: Engine, ruling_id: int | None = None) -> list[BlockedVersion]:
    query = select(BLOCKED).order_by(BLOCKED.c.id)
    if ruling_id is not None:
        query = query.where(BLOCKED.c.ruling_id == ruling_id)
    with engine.connect() as connection:
        return [BlockedVersion.from_row(row) for row in connection.execute(query)]


def _of_blocked(ruling_id: int) -> ColumnElement[bool]:
    """True for a log row scored by a version the ruling blocks."""
    return tuple_(LOG.c.scan, LOG.c.model_version).in_(
        select(BLOCKED.c.scan, BLOCKED.c.model_version).where(BLOCKED.c.ruling_id == ruling_id)
    )


def open_reexaminations(engine: Engine, now: Callable[[], datetime], ruling_id: int) -> dict[str, int]:
    """Halt the open investigations and open a task for every closed case of the ruling's blocked
    versions, in one transaction; returns how many rows of each kind this call added.

    The rows are chained (:data:`serving.rulings.REEXAMINATION_CHAIN`) in decision-log id order, halted
    cases first, in one lock and one multi-row INSERT: the cases are read under the append lock, so a
    second run that waited for it finds them opened and adds nothing."""
    has_outcome = exists().where(OUTCOMES.c.request_id == LOG.c.request_id)
    opened = exists().where(
        REEXAMINATIONS.c.ruling_id == ruling_id, REEXAMINATIONS.c.request_id == LOG.c.request_id
    )
    when = now()
    added: dict[str, int] = {}
    with write_transaction(engine) as connection:
        REEXAMINATION_CHAIN.lock(connection)
        for kind, condition in ((HALTED, and_(SELECTED, ~has_outcome)), (TASK, has_outcome)):
            cases = (
                select(LOG.c.request_id).where(_of_blocked(ruling_id), condition, ~opened).order_by(LOG.c.id)
            )
            rows = [
                {"ruling_id": ruling_id, "request_id": request_id, "kind": kind, "created_at": when}
                for request_id in connection.execute(cases).scalars()
            ]
            added[kind] = len(REEXAMINATION_CHAIN.extend(connection, rows))
    return added


def mark_complete(engine: Engine, now: Callable[[], datetime], ruling_id: int) -> None:
    """Record that the ruling's cascade ran to its end (once)."""
    with write_transaction(engine) as connection:
        if not connection.execute(select(exists().where(CASCADES.c.ruling_id == ruling_id))).scalar():
            CASCADE_CHAIN.append(connection, {"ruling_id": ruling_id, "created_at": now()})


def is_complete(engine: Engine, ruling_id: int) -> bool:
    with engine.connect() as connection:
        return bool(connection.execute(select(exists().where(CASCADES.c.ruling_id == ruling_id))).scalar())


# --------------------------------------------------------------------------------------------- tasks


@dataclass(frozen=True, slots=True)
class Task(Record):
    """A re-examination task: the closed case (with its original outcome), the ruling's column, and
    the latest result, if one was recorded."""

    id: int
    ruling_id: int
    column_name: str
    opened_at: datetime
    case: CaseRow
    result: ResultRecord | None


def _latest_result() -> Any:
    later = RESULTS_TABLE.alias("later_result")
    return ~exists().where(
        later.c.reexamination_id == RESULTS_TABLE.c.reexamination_id, later.c.id > RESULTS_TABLE.c.id
    )


def _task_query(rulings: dict[int, RulingRecord]) -> Select[Any]:
    cases = case_query(None).where(LOG.c.request_id == REEXAMINATIONS.c.request_id).subquery("case")
    return (
        select(
            REEXAMINATIONS.c.id.label("reexamination_id"),
            REEXAMINATIONS.c.ruling_id,
            REEXAMINATIONS.c.created_at.label("opened_at"),
            cases,
        )
        .join(cases, cases.c.request_id == REEXAMINATIONS.c.request_id)
        .where(REEXAMINATIONS.c.kind == TASK, REEXAMINATIONS.c.ruling_id.in_(list(rulings)))
    )


def _results(connection: Connection, ids: list[int]) -> dict[int, ResultRecord]:
    if not ids:
        return {}
    query = select(RESULTS_TABLE).where(RESULTS_TABLE.c.reexamination_id.in_(ids), _latest_result())
    return {row.reexamination_id: ResultRecord.from_row(row) for row in connection.execute(query)}


def tasks(
    engine: Engine, rulings: list[RulingRecord], *, open_only: bool = True, limit: int | None = None
) -> list[Task]:
    """Re-examination tasks of ``rulings``, oldest case first (scored first), with their latest result;
    ``open_only`` keeps those without a result."""
    by_id = {ruling.id: ruling for ruling in rulings}
    if not by_id:
        return []
    query = _task_query(by_id)
    if open_only:
        query = query.where(~exists().where(RESULTS_TABLE.c.reexamination_id == REEXAMINATIONS.c.id))
    query = query.order_by(query.selected_columns.created_at, query.selected_columns.id)
    if limit is not None:
        query = query.limit(positive_int_field("limit", limit))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
        results = _results(connection, [row.reexamination_id for row in rows])
    return [
        Task(
            id=row.reexamination_id,
            ruling_id=row.ruling_id,
            column_name=by_id[row.ruling_id].column_name,
            opened_at=row.opened_at,
            case=CaseRow.from_case(row),
            result=results.get(row.reexamination_id),
        )
        for row in rows
    ]


def task(engine: Engine, rulings: list[RulingRecord], reexamination_id: int) -> Task:
    """One task by its id, open or done; :class:`NotFound` for an id that names no task."""
    by_id = {ruling.id: ruling for ruling in rulings}
    query = _task_query(by_id).where(REEXAMINATIONS.c.id == reexamination_id) if by_id else None
    with engine.connect() as connection:
        row = None if query is None else connection.execute(query).first()
        if row is None:
            raise NotFound(f"reexamination_id {reexamination_id!r} names no re-examination task")
        result = _results(connection, [row.reexamination_id]).get(row.reexamination_id)
    return Task(
        id=row.reexamination_id,
        ruling_id=row.ruling_id,
        column_name=by_id[row.ruling_id].column_name,
        opened_at=row.opened_at,
        case=CaseRow.from_case(row),
        result=result,
    )


def record_result(
    engine: Engine,
    now: Callable[[], datetime],
    *,
    reexamination_id: object,
    result: object,
    note: object,
    hoor_en_wederhoor: object,
    token_id: int,
    token_name: str,
) -> ResultRecord:
    """Append staff's result for a task under their token's identity; a later result supersedes it.

    Refused: a result that is not one of ``upheld``, ``revised``, ``withdrawn``; an empty note; a sanction
    upheld without hoor en wederhoor (the client must have been heard on the lawful grounds); an id that
    names a halted case or nothing.
    """
    if isinstance(reexamination_id, bool) or not isinstance(reexamination_id, int):
        raise InvalidInput(f"reexamination_id must be an integer, got {reexamination_id!r}")
    if result not in RESULTS:
        raise InvalidInput(f"result must be one of {', '.join(map(repr, RESULTS))}, got {result!r}")
    text = text_field("note", note, max_length=NOTE_LENGTH)
    heard = flag_field("hoor_en_wederhoor", hoor_en_wederhoor)
    if result == "upheld" and not heard:
        raise InvalidInput(
            "hoor_en_wederhoor is False with result 'upheld': a sanction is upheld on lawful grounds only "
            "after the client was heard on them (hoor en wederhoor)"
        )
    values = {
        "reexamination_id": reexamination_id,
        "result": result,
        "note": text,
        "hoor_en_wederhoor": heard,
        "decided_by_token_id": token_id,
        "decided_by": text_field("decided_by", token_name, max_length=NAME_LENGTH),
        "created_at": now(),
    }
    with write_transaction(engine) as connection:
        kind = connection.execute(
            select(REEXAMINATIONS.c.kind).where(REEXAMINATIONS.c.id == reexamination_id)
        ).scalar()
        if kind is None:
            raise NotFound(f"reexamination_id {reexamination_id} names no re-examination")
        if kind != TASK:
            raise Conflict(
                f"reexamination_id {reexamination_id} is a halted investigation, not a task: it had no "
                "outcome, so there is no sanction to re-examine"
            )
        link = RESULT_CHAIN.append(connection, values)
        row = connection.execute(select(RESULTS_TABLE).where(RESULTS_TABLE.c.id == link.id)).one()
    return ResultRecord.from_row(row)


# ------------------------------------------------------------------------------------------ progress


@dataclass(frozen=True, slots=True)
class Progress(Record):
    """Where the re-examination after one ruling stands (the counts are defined in the module docstring)."""

    ruling: RulingRecord
    complete: bool
    versions: tuple[BlockedVersion, ...]
    affected: int
    halted: int
    tasks: int
    open: int
    done: int
    upheld: int
    revised: int
    withdrawn: int
    oldest_open: CaseRow | None


def _count(connection: Connection, query: Select[Any]) -> int:
    return int(connection.execute(select(func.count()).select_from(query.subquery())).scalar_one())


def progress(engine: Engine, rulings: list[RulingRecord]) -> list[Progress]:
    """Per ruling, oldest first: the cases affected, halted, the tasks open and done, by result."""
    report = []
    for ruling in rulings:
        mine = REEXAMINATIONS.c.ruling_id == ruling.id
        latest = (
            select(RESULTS_TABLE.c.result)
            .join(REEXAMINATIONS, REEXAMINATIONS.c.id == RESULTS_TABLE.c.reexamination_id)
            .where(mine, _latest_result())
        )
        with engine.connect() as connection:
            affected = _count(connection, select(LOG.c.id).where(_of_blocked(ruling.id)))
            kinds: dict[str, int] = dict(
                connection.execute(
                    select(REEXAMINATIONS.c.kind, func.count()).where(mine).group_by(REEXAMINATIONS.c.kind)
                ).all()
            )
            by_result = _by_result(connection, latest)
        open_tasks = tasks(engine, [ruling], open_only=True, limit=1)
        done = sum(by_result.values())
        report.append(
            Progress(
                ruling=ruling,
                complete=is_complete(engine, ruling.id),
                versions=tuple(blocked_versions(engine, ruling.id)),
                affected=affected,
                halted=int(kinds.get(HALTED, 0)),
                tasks=int(kinds.get(TASK, 0)),
                open=int(kinds.get(TASK, 0)) - done,
                done=done,
                upheld=by_result.get("upheld", 0),
                revised=by_result.get("revised", 0),
                withdrawn=by_result.get("withdrawn", 0),
                oldest_open=open_tasks[0].case if open_tasks else None,
            )
        )
    return report


def _by_result(connection: Connection, latest: Select[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for (result,) in connection.execute(latest):
        counts[result] = counts.get(result, 0) + 1
    return counts


__all__ = [
    "HALTED",
    "RESULTS",
    "TASK",
    "Progress",
    "Task",
    "blocked_versions",
    "is_complete",
    "mark_complete",
    "open_reexaminations",
    "progress",
    "record_blocked",
    "record_result",
    "task",
    "tasks",
]
