"""The governance tables as the ORM sees them: committee decisions, promotions and withdrawals.

Why they are built the way they are:

- **The rows are evidence.** A committee decision, a promotion and a withdrawal are what an auditor, a
  court or the Autoriteit Persoonsgegevens will ask for when a risk scan is questioned. So the tables are
  append-only, and that is enforced *in the database* (triggers that refuse UPDATE, DELETE and, on
  PostgreSQL, TRUNCATE), not merely by the store having no update methods: a hand-typed SQL statement
  or another program must not be able to rewrite history either. (The owner of a table can still drop a
  trigger; on PostgreSQL in production, migrate as the owner and run the application as a role that may
  only SELECT and INSERT.)
- **Constraints live in the database too.** The checks in :class:`GovernanceStore` give clear messages;
  CHECK constraints and composite foreign keys in the migration make sure a row that skipped the store
  still cannot cite a decision about another model, or carry an empty rationale.
- **The rows are hash-chained**, one chain per table (revision ``0004_evidence_chains``,
  :mod:`riskscan.chain`): with the triggers dropped, a changed or removed row still shows in ``riskscan log
  verify``, and a removed newest row against an anchor. :data:`CHAINS` names the fields each row commits to.
- **The schema changes only through Alembic revisions** in ``riskscan/migrations/versions``. The classes
  below mirror revision ``0001_governance`` for querying; the dialect-specific parts (JSON checks,
  triggers) exist only in the migration.

Every timestamp is timezone-aware UTC (:class:`riskscan.db.UTCDateTime`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from riskscan.chain import Chain
from riskscan.db import KEY_LENGTH, NAME_LENGTH, Base, JSONDocument, UTCDateTime

TABLES: Final = ("committee_decisions", "promotions", "withdrawals")


class CommitteeDecision(Base):
    """One decision of the ethics committee about one model version of one scan (revision 0001)."""

    __tablename__ = "committee_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan: Mapped[str] = mapped_column(String(KEY_LENGTH))
    model_version: Mapped[str] = mapped_column(String(KEY_LENGTH))
    audit_sha256: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(32))
    decided_by: Mapped[list[str]] = mapped_column(JSONDocument)
    rationale: Mapped[str] = mapped_column(Text)
    conditions: Mapped[list[str]] = mapped_column(JSONDocument)
    valid_until: Mapped[date | None] = mapped_column(Date)
    checklist: Mapped[dict[str, str]] = mapped_column(JSONDocument)
    demo: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    supersedes_id: Mapped[int | None] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64), server_default="")
    row_hash: Mapped[str] = mapped_column(String(64), server_default="")

    __table_args__ = (
        CheckConstraint("decision IN ('approve', 'reject', 'approve-with-conditions')", name="decision"),
        CheckConstraint("length(trim(rationale)) > 0", name="rationale"),
        CheckConstraint("length(audit_sha256) = 64", name="audit_sha256_length"),
        CheckConstraint("supersedes_id IS NULL OR supersedes_id < id", name="supersedes_earlier"),
        # (id, scan, model_version[, audit]) are unique because id is; they exist as targets for the
        # composite foreign keys that tie a supersession and a promotion to the same scan and version.
        UniqueConstraint("id", "scan", "model_version", name="id_scan_version"),
        UniqueConstraint("id", "scan", "model_version", "audit_sha256", name="id_scan_version_audit"),
        UniqueConstraint("supersedes_id", name="supersedes_once"),
        ForeignKeyConstraint(
            ["supersedes_id", "scan", "model_version"],
            ["committee_decisions.id", "committee_decisions.scan", "committee_decisions.model_version"],
            name="supersedes_same_scan_version",
        ),
        Index("ix_committee_decisions_scan_model_version", "scan", "model_version"),
        Index(
            "uq_committee_decisions_first_decision",
            "scan",
            "model_version",
            unique=True,
            sqlite_where=text("supersedes_id IS NULL"),
            postgresql_where=text("supersedes_id IS NULL"),
        ),
        {"sqlite_autoincrement": True},
    )


class Promotion(Base):
    """A model version made champion, citing the committee decision that allowed it (revision 0001)."""

    __tablename__ = "promotions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan: Mapped[str] = mapped_column(String(KEY_LENGTH))
    model_version: Mapped[str] = mapped_column(String(KEY_LENGTH))
    previous_version: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
    decision_id: Mapped[int] = mapped_column(Integer)
    audit_sha256: Mapped[str] = mapped_column(String(64))
    promoted_by: Mapped[str] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    prev_hash: Mapped[str] = mapped_column(String(64), server_default="")
    row_hash: Mapped[str] = mapped_column(String(64), server_default="")

    __table_args__ = (
        CheckConstraint("length(trim(promoted_by)) > 0", name="promoted_by"),
        CheckConstraint("length(audit_sha256) = 64", name="audit_sha256_length"),
        ForeignKeyConstraint(
            ["decision_id", "scan", "model_version", "audit_sha256"],
            [
                "committee_decisions.id",
                "committee_decisions.scan",
                "committee_decisions.model_version",
                "committee_decisions.audit_sha256",
            ],
            name="decision_same_scan_version_audit",
        ),
        Index("ix_promotions_scan", "scan"),
        {"sqlite_autoincrement": True},
    )


class Withdrawal(Base):
    """A scan taken out of service; ``model_version`` is the champion at the time, if there was one."""

    __tablename__ = "withdrawals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan: Mapped[str] = mapped_column(String(KEY_LENGTH))
    model_version: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
    reason: Mapped[str] = mapped_column(Text)
    withdrawn_by: Mapped[str] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    prev_hash: Mapped[str] = mapped_column(String(64), server_default="")
    row_hash: Mapped[str] = mapped_column(String(64), server_default="")

    __table_args__ = (
        CheckConstraint("length(trim(reason)) > 0", name="reason"),
        CheckConstraint("length(trim(withdrawn_by)) > 0", name="withdrawn_by"),
        Index("ix_withdrawals_scan", "scan"),
        {"sqlite_autoincrement": True},
    )


#: One chain per table, by ORM class: the fields each row commits to. Revision ``0004_evidence_chains``
#: chained the existing rows over these same fields; a column added later joins a chain only through a
#: new revision that re-chains the table, never by editing this list.
CHAINS: Final[dict[type[Base], Chain]] = {
    CommitteeDecision: Chain(
        CommitteeDecision.__table__,  # type: ignore[arg-type]
        fields=(
            "scan",
            "model_version",
            "audit_sha256",
            "decision",
            "decided_by",
            "rationale",
            "conditions",
            "valid_until",
            "checklist",
            "demo",
            "created_at",
            "supersedes_id",
        ),
    ),
    Promotion: Chain(
        Promotion.__table__,  # type: ignore[arg-type]
        fields=(
            "scan",
            "model_version",
            "previous_version",
            "decision_id",
            "audit_sha256",
            "promoted_by",
            "created_at",
        ),
    ),
    Withdrawal: Chain(
        Withdrawal.__table__,  # type: ignore[arg-type]
        fields=("scan", "model_version", "reason", "withdrawn_by", "created_at"),
    ),
}
