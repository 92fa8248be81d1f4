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
- **Four eyes.** A decision takes effect only with the signatures of two different committee tokens
  (``decision_signatures``, revision ``0006_committee_signatures``); an approval with conditions names its
  monitoring obligations (``decision_obligations``), one per undecided audit check.
- **The rows are hash-chained**, one chain per table (revision ``0004_evidence_chains``,
  :mod:`riskscan.chain`): with the triggers dropped, a changed or removed row still shows in ``riskscan log
  verify``, and a removed newest row against an anchor. :data:`CHAINS` names the fields each row commits to.
- **The schema changes only through Alembic revisions** in ``riskscan/migrations/versions``. The classes
  below mirror revisions ``0001_governance`` and ``0006_committee_signatures`` for querying; the
  dialect-specific parts (JSON checks, triggers) exist only in the migration.

Every timestamp is timezone-aware UTC (:class:`riskscan.db.UTCDateTime`).
"""

from __future__ import annotations

from datetime import date
from typing import Final

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.governance._rulings import RULING_CHAIN, UnlawfulRuling
from riskscan.chain import Chain, ChainedRow
from riskscan.db import KEY_LENGTH, NAME_LENGTH, Base, JSONDocument

TABLES: Final = (
    "committee_decisions",
    "promotions",
    "withdrawals",
    "decision_signatures",
    "decision_obligations",
    "obligation_reviews",
)
#: What a follow-up of an obligation found (``riskscan monitor``).
REVIEW_STATES: Final = ("pass", "fail", "open", "overdue", "not_followed")


class CommitteeDecision(ChainedRow, Base):
    """One decision of the ethics committee about one model version of one scan (revision 0001)."""

    __tablename__ = "committee_decisions"

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
    supersedes_id: Mapped[int | None] = mapped_column(Integer)

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


class Promotion(ChainedRow, Base):
    """A model version made champion, citing the committee decision that allowed it (revision 0001)."""

    __tablename__ = "promotions"

    scan: Mapped[str] = mapped_column(String(KEY_LENGTH))
    model_version: Mapped[str] = mapped_column(String(KEY_LENGTH))
    previous_version: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
    decision_id: Mapped[int] = mapped_column(Integer)
    audit_sha256: Mapped[str] = mapped_column(String(64))
    promoted_by: Mapped[str] = mapped_column(String(NAME_LENGTH))

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


class Withdrawal(ChainedRow, Base):
    """A scan taken out of service; ``model_version`` is the champion at the time, if there was one."""

    __tablename__ = "withdrawals"

    scan: Mapped[str] = mapped_column(String(KEY_LENGTH))
    model_version: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
    reason: Mapped[str] = mapped_column(Text)
    withdrawn_by: Mapped[str] = mapped_column(String(NAME_LENGTH))

    __table_args__ = (
        CheckConstraint("length(trim(reason)) > 0", name="reason"),
        CheckConstraint("length(trim(withdrawn_by)) > 0", name="withdrawn_by"),
        Index("ix_withdrawals_scan", "scan"),
        {"sqlite_autoincrement": True},
    )


class DecisionSignature(ChainedRow, Base):
    """One committee member's signature on a decision, as an API token's identity (revision 0006)."""

    __tablename__ = "decision_signatures"

    decision_id: Mapped[int] = mapped_column(Integer)
    scan: Mapped[str] = mapped_column(String(KEY_LENGTH))
    model_version: Mapped[str] = mapped_column(String(KEY_LENGTH))
    audit_sha256: Mapped[str] = mapped_column(String(64))
    token_id: Mapped[int] = mapped_column(Integer)
    signer_name: Mapped[str] = mapped_column(String(NAME_LENGTH))

    __table_args__ = (
        CheckConstraint("length(trim(signer_name)) > 0", name="signer_name"),
        UniqueConstraint("decision_id", "token_id", name="once_per_token"),
        ForeignKeyConstraint(
            ["decision_id", "scan", "model_version", "audit_sha256"],
            [
                "committee_decisions.id",
                "committee_decisions.scan",
                "committee_decisions.model_version",
                "committee_decisions.audit_sha256",
            ],
            name="decision_same_audit",
        ),
        ForeignKeyConstraint(["token_id"], ["api_tokens.id"], name="token_id"),
        Index("ix_decision_signatures_decision_id", "decision_id"),
        {"sqlite_autoincrement": True},
    )


class DecisionObligation(ChainedRow, Base):
    """A monitoring obligation of an approval with conditions: one undecided check, followed up (0006)."""

    __tablename__ = "decision_obligations"

    decision_id: Mapped[int] = mapped_column(Integer)
    check_id: Mapped[str] = mapped_column(Text)
    text_nl: Mapped[str] = mapped_column(Text)
    cases_needed: Mapped[int | None] = mapped_column(Integer)
    due: Mapped[date] = mapped_column(Date)

    __table_args__ = (
        CheckConstraint("length(trim(check_id)) > 0", name="check_id"),
        CheckConstraint("length(trim(text_nl)) > 0", name="text_nl"),
        CheckConstraint("cases_needed IS NULL OR cases_needed >= 0", name="cases_needed"),
        UniqueConstraint("decision_id", "check_id", name="once_per_check"),
        ForeignKeyConstraint(["decision_id"], ["committee_decisions.id"], name="decision_id"),
        Index("ix_decision_obligations_decision_id", "decision_id"),
        {"sqlite_autoincrement": True},
    )


class ObligationReview(ChainedRow, Base):
    """One follow-up of an obligation by ``riskscan monitor``: the state found and its evidence (0006)."""

    __tablename__ = "obligation_reviews"

    obligation_id: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    cases: Mapped[int] = mapped_column(Integer)
    ratio_low: Mapped[float | None] = mapped_column(Float)
    ratio_high: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text)
    as_of: Mapped[date] = mapped_column(Date)

    __table_args__ = (
        CheckConstraint("state IN ('pass', 'fail', 'open', 'overdue', 'not_followed')", name="state"),
        CheckConstraint("cases >= 0", name="cases"),
        CheckConstraint("length(trim(detail)) > 0", name="detail"),
        ForeignKeyConstraint(["obligation_id"], ["decision_obligations.id"], name="obligation_id"),
        Index("ix_obligation_reviews_obligation_id", "obligation_id"),
        {"sqlite_autoincrement": True},
    )


#: One chain per table, by ORM class: the fields each row commits to (every column but ``id`` and the
#: hashes). Revision ``0004_evidence_chains`` chained the existing rows of the first three over these same
#: fields; revisions ``0006_committee_signatures`` and ``0007_unlawful_rulings`` created theirs chained. A
#: column added later joins a chain only through a new revision that re-chains the table, never by
#: editing this list.
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
    DecisionSignature: Chain(
        DecisionSignature.__table__,  # type: ignore[arg-type]
        fields=(
            "decision_id",
            "scan",
            "model_version",
            "audit_sha256",
            "token_id",
            "signer_name",
            "created_at",
        ),
    ),
    DecisionObligation: Chain(
        DecisionObligation.__table__,  # type: ignore[arg-type]
        fields=("decision_id", "check_id", "text_nl", "cases_needed", "due", "created_at"),
    ),
    ObligationReview: Chain(
        ObligationReview.__table__,  # type: ignore[arg-type]
        fields=(
            "obligation_id",
            "state",
            "cases",
            "ratio_low",
            "ratio_high",
            "detail",
            "as_of",
            "created_at",
        ),
    ),
    UnlawfulRuling: RULING_CHAIN,
}
