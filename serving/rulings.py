"""The tables a ruling's cascade writes, as the ORM sees them (revision ``0007_unlawful_rulings``).

- ``ruling_blocked_versions``: the model versions the cascade found trained on the ruled column, and
  whether each was the champion when it ran;
- ``reexaminations``: one row per logged case of those versions that was selected for investigation,
  ``halted`` (no outcome yet: the investigation stops and the case leaves the worklist) or ``task`` (an
  outcome was recorded: its sanction is re-examined);
- ``reexamination_results``: the result staff record for a task, under their token's identity; the
  latest per task counts;
- ``ruling_cascades``: one row once a ruling's cascade has run to its end.

All four are evidence: append-only in the database (triggers, revision 0007) and hash-chained, one chain
per table (:data:`CASCADE_CHAINS`), so a row changed with the triggers dropped shows in ``riskscan log
verify``. This module holds only the tables, their chains and their records, so that the case queries
(:mod:`serving.cases`) and the outcomes can consult them without importing the re-examination queries
(:mod:`serving.reexamination`) that build on those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ColumnElement,
    ForeignKeyConstraint,
    Index,
    Integer,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    exists,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from riskscan.chain import Chain, ChainedRow
from riskscan.db import KEY_LENGTH, NAME_LENGTH, Base, Record

HALTED: Final = "halted"
TASK: Final = "task"
#: The results staff may record for a task, and what the committee page calls them.
RESULTS: Final = {
    "upheld": "maatregel gehandhaafd op rechtmatige gronden",
    "revised": "maatregel herzien",
    "withdrawn": "maatregel ingetrokken",
}


class BlockedVersionRow(ChainedRow, Base):
    """A model version found trained on a ruled column (revision 0007)."""

    __tablename__ = "ruling_blocked_versions"

    ruling_id: Mapped[int] = mapped_column(Integer)
    scan: Mapped[str] = mapped_column(String(KEY_LENGTH))
    model_version: Mapped[str] = mapped_column(String(KEY_LENGTH))
    was_champion: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        UniqueConstraint("ruling_id", "scan", "model_version", name="ruling_version"),
        ForeignKeyConstraint(["ruling_id"], ["unlawful_rulings.id"], name="ruling_id"),
        {"sqlite_autoincrement": True},
    )


class ReexaminationRow(ChainedRow, Base):
    """A logged case opened for re-examination by a ruling: ``halted`` or a ``task`` (revision 0007)."""

    __tablename__ = "reexaminations"

    ruling_id: Mapped[int] = mapped_column(Integer)
    request_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))

    __table_args__ = (
        CheckConstraint("kind IN ('halted', 'task')", name="kind"),
        UniqueConstraint("ruling_id", "request_id", name="ruling_request"),
        ForeignKeyConstraint(["ruling_id"], ["unlawful_rulings.id"], name="ruling_id"),
        ForeignKeyConstraint(["request_id"], ["decision_log.request_id"], name="request_id"),
        Index("ix_reexaminations_request_id", "request_id"),
        {"sqlite_autoincrement": True},
    )


class ReexaminationResultRow(ChainedRow, Base):
    """Staff's result for a re-examination task; the latest per task counts (revision 0007)."""

    __tablename__ = "reexamination_results"

    reexamination_id: Mapped[int] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text)
    hoor_en_wederhoor: Mapped[bool] = mapped_column(Boolean)
    decided_by_token_id: Mapped[int] = mapped_column(Integer)
    decided_by: Mapped[str] = mapped_column(String(NAME_LENGTH))

    __table_args__ = (
        CheckConstraint("result IN ('upheld', 'revised', 'withdrawn')", name="result"),
        CheckConstraint("hoor_en_wederhoor OR result <> 'upheld'", name="upheld_needs_hoor_en_wederhoor"),
        ForeignKeyConstraint(["reexamination_id"], ["reexaminations.id"], name="reexamination_id"),
        ForeignKeyConstraint(["decided_by_token_id"], ["api_tokens.id"], name="decided_by_token_id"),
        Index("ix_reexamination_results_reexamination_id", "reexamination_id"),
        {"sqlite_autoincrement": True},
    )


class RulingCascadeRow(ChainedRow, Base):
    """A ruling whose cascade ran to its end (revision 0007)."""

    __tablename__ = "ruling_cascades"

    ruling_id: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("ruling_id", name="ruling_id"),
        ForeignKeyConstraint(["ruling_id"], ["unlawful_rulings.id"], name="ruling_id"),
        {"sqlite_autoincrement": True},
    )


BLOCKED: Final[Table] = BlockedVersionRow.__table__  # type: ignore[assignment]
REEXAMINATIONS: Final[Table] = ReexaminationRow.__table__  # type: ignore[assignment]
RESULTS_TABLE: Final[Table] = ReexaminationResultRow.__table__  # type: ignore[assignment]
CASCADES: Final[Table] = RulingCascadeRow.__table__  # type: ignore[assignment]

#: One hash chain per table (:mod:`riskscan.chain`), over every column but ``id`` and the hashes.
BLOCKED_CHAIN: Final = Chain(
    BLOCKED, fields=("ruling_id", "scan", "model_version", "was_champion", "created_at")
)
REEXAMINATION_CHAIN: Final = Chain(REEXAMINATIONS, fields=("ruling_id", "request_id", "kind", "created_at"))
RESULT_CHAIN: Final = Chain(
    RESULTS_TABLE,
    fields=(
        "reexamination_id",
        "result",
        "note",
        "hoor_en_wederhoor",
        "decided_by_token_id",
        "decided_by",
        "created_at",
    ),
)
CASCADE_CHAIN: Final = Chain(CASCADES, fields=("ruling_id", "created_at"))
#: The cascade's chains, as :data:`serving.evidence.EVIDENCE_CHAINS` lists them.
CASCADE_CHAINS: Final = (BLOCKED_CHAIN, REEXAMINATION_CHAIN, RESULT_CHAIN, CASCADE_CHAIN)


@dataclass(frozen=True, slots=True)
class BlockedVersion(Record):
    """A version the cascade of ``ruling_id`` found trained on the ruled column."""

    id: int
    ruling_id: int
    scan: str
    version: str = field(metadata={"column": "model_version"})
    was_champion: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ResultRecord(Record):
    """A re-examination result: ``upheld``, ``revised`` or ``withdrawn``, with a note, whether the client
    was heard (hoor en wederhoor), and the token (id and name) of who recorded it."""

    id: int
    reexamination_id: int
    result: str
    note: str
    hoor_en_wederhoor: bool
    decided_by_token_id: int
    decided_by: str
    created_at: datetime


def halted(request_id: ColumnElement[str]) -> ColumnElement[bool]:
    """True for a logged case whose investigation a ruling halted."""
    return exists().where(REEXAMINATIONS.c.request_id == request_id, REEXAMINATIONS.c.kind == HALTED)


def halted_requests() -> Select[tuple[str]]:
    """The request ids of the logged cases whose investigation a ruling halted (the cases :func:`halted`
    is true for), for a query that reads them once rather than probing per case."""
    return select(REEXAMINATIONS.c.request_id).where(REEXAMINATIONS.c.kind == HALTED)
