"""Investigation outcomes: what an investigation found about a scored case.

An outcome cites a decision-log row by its ``request_id``. It is evidence like the log, so the
``outcomes`` table is append-only in the database (revision ``0002_serving``): an investigator who must
correct an outcome records a new one, and the latest outcome per request counts (:func:`latest`). The
rules a person could get wrong are checked here with clear messages *and* in the database as CHECK
constraints: a violation needs hoor en wederhoor (the client heard first), and a sanction needs a
violation.

Every outcome records *who* recorded it: the id and name of the authenticated API token (``token_id``,
``token_name``, revision ``0004_evidence_chains``), taken from the caller's authentication and never from
the request body. ``investigator`` is only the name shown on the pages; it defaults to the token's name.
Outcomes from before revision 0004 have no token identity (nobody knows it any more).

Outcomes are hash-chained (:data:`OUTCOME_CHAIN`, :mod:`riskscan.chain`): they become retraining labels,
so an outcome edited or deleted around the triggers must show in ``riskscan log verify``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ColumnElement,
    Connection,
    Engine,
    ForeignKeyConstraint,
    FromClause,
    Index,
    Integer,
    Select,
    String,
    Table,
    Text,
    bindparam,
    exists,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from riskscan.chain import Chain, ChainedRow
from riskscan.db import NAME_LENGTH, Base, Record, text_field, write_transaction
from riskscan.errors import Conflict, InvalidInput, NotFound
from serving.log import LOG, flag_field, positive_int_field, request_id_field
from serving.rulings import halted
from serving.tokens import TokenRecord

STATUS_VIOLATION: Final = "afgehandeld: overtreding"
STATUS_NO_VIOLATION: Final = "afgehandeld: geen overtreding"


class OutcomeRow(ChainedRow, Base):
    """What an investigation found (revision 0002); the latest row per request counts."""

    __tablename__ = "outcomes"

    request_id: Mapped[str] = mapped_column(String(32))
    violation: Mapped[bool] = mapped_column(Boolean)
    sanction: Mapped[str | None] = mapped_column(Text)
    hoor_en_wederhoor: Mapped[bool] = mapped_column(Boolean)
    investigator: Mapped[str] = mapped_column(String(NAME_LENGTH))
    notes: Mapped[str] = mapped_column(Text, server_default="")
    token_id: Mapped[int | None] = mapped_column(Integer)
    token_name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))

    __table_args__ = (
        CheckConstraint("length(trim(investigator)) > 0", name="investigator"),
        CheckConstraint(
            "sanction IS NULL OR (violation AND length(trim(sanction)) > 0)", name="sanction_needs_violation"
        ),
        CheckConstraint("hoor_en_wederhoor OR NOT violation", name="violation_needs_hoor_en_wederhoor"),
        ForeignKeyConstraint(["request_id"], ["decision_log.request_id"], name="request_id"),
        ForeignKeyConstraint(["token_id"], ["api_tokens.id"], name="token_id"),
        Index("ix_outcomes_request_id", "request_id"),
        Index("ix_outcomes_token_id", "token_id"),
        {"sqlite_autoincrement": True},
    )


OUTCOMES: Final[Table] = OutcomeRow.__table__  # type: ignore[assignment]
#: The fields an outcome commits to (revision 0004 chained the existing rows over the same list).
OUTCOME_CHAIN: Final = Chain(
    OUTCOMES,
    fields=(
        "request_id",
        "violation",
        "sanction",
        "hoor_en_wederhoor",
        "investigator",
        "notes",
        "created_at",
        "token_id",
        "token_name",
    ),
)


@dataclass(frozen=True, slots=True)
class OutcomeRecord(Record):
    """An outcome with the case it is about (``case_id`` and ``scan`` come from the decision log)."""

    id: int
    request_id: str
    case_id: str
    scan: str
    violation: bool
    sanction: str | None
    hoor_en_wederhoor: bool
    investigator: str
    notes: str
    created_at: datetime
    token_id: int | None
    token_name: str | None

    @property
    def status(self) -> str:
        return STATUS_VIOLATION if self.violation else STATUS_NO_VIOLATION


def latest(outcome: FromClause) -> ColumnElement[bool]:
    """True for an outcome (a row of ``outcome``, the outcomes table or an alias of it) that no later
    outcome about the same request supersedes."""
    later = OUTCOMES.alias("later")
    return ~exists().where(later.c.request_id == outcome.c.request_id, later.c.id > outcome.c.id)


def _checked_outcome(
    violation: object, sanction: object, hoor_en_wederhoor: object, investigator: object, notes: object
) -> dict[str, Any]:
    investigator = text_field("investigator", investigator, NAME_LENGTH)
    violation = flag_field("violation", violation)
    hoor_en_wederhoor = flag_field("hoor_en_wederhoor", hoor_en_wederhoor)
    if sanction is not None:
        if not isinstance(sanction, str):
            raise InvalidInput(f"sanction must be text or None, got {sanction!r}")
        sanction = sanction.strip() or None
    if not isinstance(notes, str):
        raise InvalidInput(f"notes must be text, got {notes!r}")
    if violation and not hoor_en_wederhoor:
        raise InvalidInput(
            "hoor_en_wederhoor is False with violation True: a violation cannot be recorded without "
            "hearing the client first (hoor en wederhoor)"
        )
    if sanction is not None and not violation:
        raise InvalidInput(
            f"sanction {sanction!r} given with violation False; a sanction is recorded only with a violation"
        )
    return {
        "violation": violation,
        "sanction": sanction,
        "hoor_en_wederhoor": hoor_en_wederhoor,
        "investigator": investigator,
        "notes": notes,
    }


def record_outcome(
    engine: Engine,
    now: Callable[[], datetime],
    *,
    recorded_by: TokenRecord,
    request_id: str,
    violation: bool,
    sanction: str | None,
    hoor_en_wederhoor: bool,
    investigator: str | None = None,
    notes: str = "",
) -> OutcomeRecord:
    """Append the result of an investigation, chained, under the identity of the authenticated token
    ``recorded_by``; a later outcome for the same request supersedes it. ``investigator`` is the name
    shown (default: the token's name).

    Raises :class:`InvalidInput` for a value that breaks the rules and :class:`NotFound` when no case
    was scored under ``request_id``.
    """
    if not isinstance(recorded_by, TokenRecord):
        raise TypeError(f"recorded_by must be the authenticated TokenRecord, got {recorded_by!r}")
    shown = recorded_by.name if investigator is None else investigator
    values = _checked_outcome(violation, sanction, hoor_en_wederhoor, shown, notes)
    try:
        key = request_id_field("request_id", request_id)
    except InvalidInput:
        raise NotFound(f"no scored case with request_id {request_id!r}") from None
    with write_transaction(engine) as connection:
        case = connection.execute(select(LOG.c.case_id, LOG.c.scan).where(LOG.c.request_id == key)).first()
        if case is None:
            raise NotFound(f"no scored case with request_id {request_id!r}")
        if connection.execute(select(halted(LOG.c.request_id)).where(LOG.c.request_id == key)).scalar():
            raise Conflict(
                f"request_id {request_id!r}: its investigation was halted because the model that selected "
                "it was trained on a column ruled unlawful; no outcome may be recorded"
            )
        row = {
            "request_id": key,
            **values,
            "created_at": now(),
            "token_id": recorded_by.id,
            "token_name": recorded_by.name,
        }
        link = OUTCOME_CHAIN.append(connection, row)
    return OutcomeRecord.from_row({**row, **case._mapping, "id": link.id})


@functools.cache
def _outcome_queries(by_scan: bool, latest_only: bool, last: bool) -> tuple[Select[Any], Select[Any] | None]:
    """The statements of :func:`outcomes` (the outcomes, and with ``last`` the ids of the last ones first),
    built once for each shape with the scan, the number and the ids bound at execution: built on every
    call they cost the worklist page, which shows the last ten, more than the database's work."""
    query = select(OUTCOMES, LOG.c.case_id, LOG.c.scan).join(LOG, LOG.c.request_id == OUTCOMES.c.request_id)
    if by_scan:
        query = query.where(LOG.c.scan == bindparam("scan"))
    if latest_only:
        query = query.where(latest(OUTCOMES))
    if not last:
        return query.order_by(OUTCOMES.c.id), None
    # The last outcomes' ids first, walking the outcomes backwards; joined to the log and filtered on its
    # scan, the database reads every logged case of the scan first (75 ms at 100,000).
    recent = select(OUTCOMES.c.id)
    if by_scan:
        recent = recent.where(
            exists().where(LOG.c.request_id == OUTCOMES.c.request_id, LOG.c.scan == bindparam("scan"))
        )
    if latest_only:
        recent = recent.where(latest(OUTCOMES))
    recent = recent.order_by(OUTCOMES.c.id.desc()).limit(bindparam("last"))
    query = query.where(OUTCOMES.c.id.in_(bindparam("ids", expanding=True)))
    return query.order_by(OUTCOMES.c.id), recent


def outcomes(
    engine: Engine, scan: str | None = None, *, latest_only: bool = False, last: int | None = None
) -> list[OutcomeRecord]:
    """Outcomes in the order recorded; ``latest_only`` drops the superseded ones; ``last`` keeps only the
    most recent ones (limited in the query: a page showing the last few never reads them all)."""
    with engine.connect() as connection:
        return read_outcomes(connection, scan, latest_only=latest_only, last=last)


def read_outcomes(
    connection: Connection, scan: str | None = None, *, latest_only: bool = False, last: int | None = None
) -> list[OutcomeRecord]:
    """:func:`outcomes`, read on ``connection`` (in the caller's transaction)."""
    query, recent = _outcome_queries(scan is not None, latest_only, last is not None)
    bound: dict[str, Any] = {"scan": scan}
    if recent is not None:
        bound["last"] = positive_int_field("last", last)
        bound["ids"] = connection.execute(recent, bound).scalars().all()
    return [OutcomeRecord.from_row(row) for row in connection.execute(query, bound)]
