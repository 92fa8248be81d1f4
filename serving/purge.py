"""Storage limitation: erasing the personal values of old decision-log rows (AVG/GDPR art. 5(1)(e)).

Each scan spec sets how long the log keeps a case's personal values (``retention.personal_values_days``
in ``models/scans/<scan>.yaml``). :func:`purge` erases them for the rows of every scan scored before a
moment, and refuses a moment in the future or inside any scan's retention period: the whole cut must lie
outside every period, or nothing is erased.

What is erased, and what stays
------------------------------
Erased: ``inputs`` (the values the model read) and ``explanation`` (each reason repeats an input value,
and its contribution is computed from all of them, so it is personal data derived from the inputs), and
the salt of their seal. Kept: that the case was scored, when, by which model version, its score, the
threshold, the selection and the control draw. Those are the evidence that a selection took place and
why the person was or was not investigated, which the outcomes and any objection refer to; they carry no
input value. The row hash (recipe 2, :mod:`serving.log._recipe`) commits to the seal, not to the values,
so the chain still verifies and still finds an edit of any field that was kept.

Not erased, and counted in the report:

- rows written under hash recipe 1, before revision 0008: their hash commits to the values themselves
  (see :mod:`serving.log._recipe` for why they were not rehashed);
- every row of a case whose investigation is still open (selected, a signal or the control sample, with
  no outcome recorded): the investigation, and the hearing of the person, need the inputs. A case whose
  investigation a ruling *halted* is not open: the halt closed it, no outcome will ever come, and
  exempting it would keep the values of a case that was never investigated for good;
- every row of a case with a re-examination task (after a ruling on a data source, revision 0007) that
  has no result yet: the re-examination reads the inputs to tell the unlawful ones from the rest;
- every row of a case **with an open obligation**: a case scored by a model version whose current
  approval (a committee decision about that version that no later decision supersedes) carries a
  monitoring obligation (revision 0006, :mod:`models.governance._obligations`) that is not yet decided,
  i.e. whose latest follow-up is not ``pass`` or ``fail`` (none yet, ``open``, ``overdue`` or
  ``not_followed``). The follow-up (``riskscan monitor``, :mod:`jobs.obligations`) re-measures the
  undecided check on the version's logged cases, their inputs included (drift), so their values stay
  until the committee's question is answered. A superseded decision's obligations no longer bind.

From the database file too
--------------------------
An UPDATE leaves the old values in free pages of an SQLite file, in its write-ahead log, and in dead tuples
of a PostgreSQL table. So after the erasure commits, SQLite's WAL is checkpointed and truncated, the file is
rebuilt by ``VACUUM`` (which writes every page anew and shrinks the file) and the WAL truncated again; on
PostgreSQL ``VACUUM FULL decision_log`` rewrites the table and its TOAST data. ``VACUUM FULL`` locks the
table for the rewrite: run the purge when the service may wait (a few seconds per million rows). Backups and
PostgreSQL's WAL archive keep the values until they age out; their retention must not exceed the scans'.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, Engine, and_, exists, func, not_, or_, select, update
from sqlalchemy.sql import Select

from models.governance import CommitteeDecision, DecisionObligation, ObligationReview
from models.specs import ScanSpec
from riskscan.db import Record, write_transaction
from riskscan.errors import InvalidParameter
from serving.log import LOG, SELECTED
from serving.outcomes import OUTCOMES
from serving.rulings import REEXAMINATIONS, RESULTS_TABLE, TASK, halted


@dataclass(frozen=True, slots=True)
class Exemption:
    """Rows a purge leaves alone, whatever their age: ``cases`` selects the ``case_id`` of every case that
    is exempt now. ``name`` is how the report counts them."""

    name: str
    cases: Callable[[], Select[Any]]


def _open_investigations() -> Select[Any]:
    """Cases with a selected row (a signal or the control sample), no outcome recorded for it, and no
    ruling that halted it."""
    decided = exists().where(OUTCOMES.c.request_id == LOG.c.request_id)
    return select(LOG.c.case_id).where(SELECTED, not_(decided), not_(halted(LOG.c.request_id)))


def _open_reexaminations() -> Select[Any]:
    """Cases with a re-examination task (after a ruling on a data source) that has no result yet."""
    resulted = exists().where(RESULTS_TABLE.c.reexamination_id == REEXAMINATIONS.c.id)
    return (
        select(LOG.c.case_id)
        .join(REEXAMINATIONS, REEXAMINATIONS.c.request_id == LOG.c.request_id)
        .where(REEXAMINATIONS.c.kind == TASK, not_(resulted))
    )


#: The follow-up states that decide an obligation (jobs/obligations.py); any other latest state, or none
#: yet, leaves it open.
DECIDED_STATES: Final = ("pass", "fail")


def _open_obligations() -> Select[Any]:
    """Cases scored by a model version whose current approval carries an obligation not yet decided."""
    decisions = CommitteeDecision.__table__
    obligations = DecisionObligation.__table__
    reviews = ObligationReview.__table__
    superseding = decisions.alias("superseding")
    later_review = reviews.alias("later_review")
    decided = exists().where(
        reviews.c.obligation_id == obligations.c.id,
        reviews.c.state.in_(DECIDED_STATES),
        not_(
            exists().where(
                later_review.c.obligation_id == reviews.c.obligation_id, later_review.c.id > reviews.c.id
            )
        ),
    )
    undecided = exists().where(obligations.c.decision_id == decisions.c.id, not_(decided))
    return (
        select(LOG.c.case_id)
        .join(
            decisions, and_(decisions.c.scan == LOG.c.scan, decisions.c.model_version == LOG.c.model_version)
        )
        .where(not_(exists().where(superseding.c.supersedes_id == decisions.c.id)), undecided)
    )


#: Every reason a case is exempt from a purge until it is closed.
EXEMPTIONS: Final[tuple[Exemption, ...]] = (
    Exemption("open investigation", _open_investigations),
    Exemption("open re-examination", _open_reexaminations),
    Exemption("open obligation", _open_obligations),
)


@dataclass(frozen=True, slots=True)
class PurgeReport(Record):
    """What :func:`purge` did: rows erased per scan, and the old rows it kept, by reason."""

    before: datetime
    erased: dict[str, int]
    kept: dict[str, int] = field(default_factory=dict)
    vacuum_seconds: float = 0.0

    @property
    def total_erased(self) -> int:
        return sum(self.erased.values())


def check_cut(before: datetime, now: datetime, specs: Sequence[ScanSpec]) -> None:
    """Refuse a cut in the future or inside the retention period of any scan in ``specs``."""
    if before > now:
        raise InvalidParameter(
            f"--before {before.isoformat()} is in the future (now is {now.isoformat()}); a purge erases the "
            "values of rows older than a moment that has passed",
            field="before",
            value=before.isoformat(),
        )
    for spec in specs:
        days = spec.retention.personal_values_days
        latest = now - timedelta(days=days)
        if before > latest:
            raise InvalidParameter(
                f"--before {before.isoformat()} is inside the retention period of scan {spec.id} ({days} days): "
                f"its personal values may be erased only for rows scored before {latest.isoformat()}",
                field="before",
                value=before.isoformat(),
            )


def _due(scan: str, before: datetime) -> ColumnElement[bool]:
    """Rows of ``scan`` older than the cut whose values are still there."""
    return and_(LOG.c.scan == scan, LOG.c.created_at < before, LOG.c.erased_at.is_(None))


def _exempt() -> ColumnElement[bool]:
    return or_(*(LOG.c.case_id.in_(exemption.cases()) for exemption in EXEMPTIONS))


def _kept(connection: Any, scans: Sequence[str], before: datetime) -> dict[str, int]:
    """Old rows the purge leaves whole, by reason (a row counts under its first reason only)."""
    due = or_(*(_due(scan, before) for scan in scans))
    kept = {
        "hash recipe 1": connection.scalar(select(func.count()).where(due, LOG.c.hash_recipe == 1)),
    }
    for exemption in EXEMPTIONS:
        kept[exemption.name] = connection.scalar(
            select(func.count()).where(due, LOG.c.hash_recipe == 2, LOG.c.case_id.in_(exemption.cases()))
        )
    return kept


def purge(engine: Engine, now: datetime, before: datetime, specs: Sequence[ScanSpec]) -> PurgeReport:
    """Erase the personal values of every row of the scans in ``specs`` scored before ``before``, in one
    transaction, then rebuild the database file so that the values are gone from it too."""
    check_cut(before, now, specs)
    scans = [spec.id for spec in specs]
    erased: dict[str, int] = {}
    with write_transaction(engine) as connection:
        kept = _kept(connection, scans, before)
        for scan in scans:
            statement = (
                update(LOG)
                .where(_due(scan, before), LOG.c.hash_recipe == 2, not_(_exempt()))
                .values(inputs={}, explanation=[], personal_salt=None, erased_at=now)
            )
            erased[scan] = int(connection.execute(statement).rowcount)
    started = time.perf_counter()
    if sum(erased.values()):
        rebuild_file(engine)
    return PurgeReport(before, erased, kept, time.perf_counter() - started)


def rebuild_file(engine: Engine) -> None:
    """Write the database anew so that erased values leave no trace in it (see the module docstring)."""
    if engine.dialect.name != "sqlite":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM FULL decision_log")
        return
    raw = engine.raw_connection()  # autocommit (make_engine), so outside any transaction
    try:
        cursor = raw.cursor()
        for statement in ("PRAGMA wal_checkpoint(TRUNCATE)", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"):
            cursor.execute(statement)
            cursor.fetchall()
        cursor.close()
    finally:
        raw.close()
