"""The governance database: committee decisions, promotions and withdrawals.

Why it is built the way it is:

- **The rows are evidence.** A committee decision, a promotion and a withdrawal are what an auditor, a
  court or the Autoriteit Persoonsgegevens will ask for when a risk scan is questioned. So the tables are
  append-only, and that is enforced *in the database* (triggers that refuse UPDATE, DELETE and, on
  PostgreSQL, TRUNCATE), not merely by this class having no update methods: a hand-typed SQL statement
  or another program must not be able to rewrite history either. (The owner of a table can still drop a
  trigger; on PostgreSQL in production, migrate as the owner and run the application as a role that may
  only SELECT and INSERT.)
- **Supersede, never edit.** A committee that changes its mind records a new decision; it points at the
  one it replaces (``supersedes_id``), and the database keeps that chain linear (each decision is
  superseded at most once, by a later decision about the same scan and model version).
- **Constraints live in the database too.** The checks in :class:`GovernanceStore` give clear messages;
  CHECK constraints and composite foreign keys in the migration make sure a row that skipped this class
  still cannot cite a decision about another model, or carry an empty rationale.
- **The schema changes only through Alembic revisions** in ``models/migrations/versions`` (``0001_…``,
  ``0002_…``). The ORM classes below mirror revision 0001 for querying and for future ``autogenerate``;
  the dialect-specific parts (JSON checks, triggers) exist only in the migrations.

Every timestamp is timezone-aware UTC. SQLite has no time zones, so it stores naive UTC and
:class:`UTCDateTime` puts ``tzinfo=UTC`` back on read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any, Final

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Engine,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    exists,
    func,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column, sessionmaker

from riskscan import home
from riskscan.db import (
    KEY_LENGTH,
    NAME_LENGTH,
    WRITE_OPTIONS,
    Base,
    JSONDocument,
    UTCDateTime,
    iso,
    make_engine,
    sha256_field,
    text_field,
    upgrade,
    utcnow,
)
from riskscan.errors import InvalidInput

DECISIONS: Final = ("approve", "reject", "approve-with-conditions")
APPROVALS: Final = frozenset({"approve", "approve-with-conditions"})

#: The assessment checklist the committee answers for every decision, rejections included: a rejection
#: needs its reasons on record as much as an approval does.
CHECKLIST_KEYS: Final = (
    "purpose_legal_basis",
    "necessity_proportionality",
    "data_source_lawfulness",
    "fairness_results_reviewed",
    "human_oversight_hoor_en_wederhoor",
    "transparency_register_entry",
    "rereview_date",
)

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

    __table_args__ = (
        CheckConstraint("length(trim(reason)) > 0", name="reason"),
        CheckConstraint("length(trim(withdrawn_by)) > 0", name="withdrawn_by"),
        Index("ix_withdrawals_scan", "scan"),
        {"sqlite_autoincrement": True},
    )


# --------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class DecisionRecord:
    id: int
    scan: str
    version: str
    audit_sha256: str
    decision: str
    decided_by: tuple[str, ...]
    rationale: str
    conditions: tuple[str, ...]
    valid_until: date | None
    checklist: Mapping[str, str]
    demo: bool
    created_at: datetime
    supersedes_id: int | None

    @property
    def approves(self) -> bool:
        """True for ``approve`` and ``approve-with-conditions``."""
        return self.decision in APPROVALS

    @classmethod
    def from_row(cls, row: CommitteeDecision) -> DecisionRecord:
        return cls(
            id=row.id,
            scan=row.scan,
            version=row.model_version,
            audit_sha256=row.audit_sha256,
            decision=row.decision,
            decided_by=tuple(row.decided_by),
            rationale=row.rationale,
            conditions=tuple(row.conditions),
            valid_until=row.valid_until,
            checklist=MappingProxyType(
                {key: row.checklist[key] for key in CHECKLIST_KEYS if key in row.checklist}
            ),
            demo=row.demo,
            created_at=row.created_at,
            supersedes_id=row.supersedes_id,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: lists, a plain dict and ISO 8601 strings for the dates."""
        return {
            "id": self.id,
            "scan": self.scan,
            "version": self.version,
            "audit_sha256": self.audit_sha256,
            "decision": self.decision,
            "decided_by": list(self.decided_by),
            "rationale": self.rationale,
            "conditions": list(self.conditions),
            "valid_until": iso(self.valid_until),
            "checklist": dict(self.checklist),
            "demo": self.demo,
            "created_at": iso(self.created_at),
            "supersedes_id": self.supersedes_id,
        }


@dataclass(frozen=True)
class PromotionRecord:
    id: int
    scan: str
    version: str
    previous_version: str | None
    decision_id: int
    audit_sha256: str
    promoted_by: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: Promotion) -> PromotionRecord:
        return cls(
            id=row.id,
            scan=row.scan,
            version=row.model_version,
            previous_version=row.previous_version,
            decision_id=row.decision_id,
            audit_sha256=row.audit_sha256,
            promoted_by=row.promoted_by,
            created_at=row.created_at,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scan": self.scan,
            "version": self.version,
            "previous_version": self.previous_version,
            "decision_id": self.decision_id,
            "audit_sha256": self.audit_sha256,
            "promoted_by": self.promoted_by,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True)
class WithdrawalRecord:
    id: int
    scan: str
    version: str | None
    reason: str
    withdrawn_by: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: Withdrawal) -> WithdrawalRecord:
        return cls(
            id=row.id,
            scan=row.scan,
            version=row.model_version,
            reason=row.reason,
            withdrawn_by=row.withdrawn_by,
            created_at=row.created_at,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scan": self.scan,
            "version": self.version,
            "reason": self.reason,
            "withdrawn_by": self.withdrawn_by,
            "created_at": iso(self.created_at),
        }


# ------------------------------------------------------------------------------------------ validation


def _text_list(field: str, value: object) -> list[str]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InvalidInput(f"{field} must be a list of texts, got {value!r}")
    items = [text_field(f"{field}[{index}]", item) for index, item in enumerate(value)]
    return items


def _names(value: object) -> list[str]:
    names = _text_list("decided_by", value)
    if not names:
        raise InvalidInput(f"decided_by must name at least one committee member, got {value!r}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidInput(f"decided_by names {duplicates!r} more than once")
    for name in names:
        text_field("decided_by", name, max_length=NAME_LENGTH)
    return names


def _checklist(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"checklist must map each of {list(CHECKLIST_KEYS)} to an answer, got {value!r}")
    unknown = sorted(str(key) for key in value if key not in CHECKLIST_KEYS)
    if unknown:
        raise InvalidInput(f"checklist has unknown key {unknown[0]!r} (known: {list(CHECKLIST_KEYS)})")
    missing = [key for key in CHECKLIST_KEYS if key not in value]
    if missing:
        raise InvalidInput(f"checklist is missing {missing[0]!r}: every decision answers all seven items")
    return {key: text_field(f"checklist[{key!r}]", value[key]) for key in CHECKLIST_KEYS}


# ----------------------------------------------------------------------------------------------- store


class GovernanceStore:
    """Read and append governance records. Opening a store migrates the database to head.

    There are no update or delete methods, and the database would refuse them anyway (see the module
    docstring). ``clock`` exists for tests that need to place records in time; it must return aware
    datetimes.
    """

    def __init__(self, url: str | None = None, *, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = make_engine(url or home.database_url())
        upgrade(self._engine)
        self._read = sessionmaker(self._engine, expire_on_commit=False)
        self._write = sessionmaker(self._engine.execution_options(**WRITE_OPTIONS), expire_on_commit=False)
        self._clock = clock or utcnow

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> GovernanceStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GovernanceStore({self.url!r})"

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise InvalidInput(f"clock returned {now!r}, a datetime without time zone")
        return now.astimezone(UTC)

    def _lock_scan_version(self, session: Session, scan: str, version: str) -> None:
        """Serialise decisions and promotions about one scan version (SQLite already has BEGIN IMMEDIATE)."""
        if self._engine.dialect.name == "postgresql":
            session.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": f"riskscan.governance:{scan}:{version}"},
            )

    # ---------------------------------------------------------------------------------------- decisions

    def record_decision(
        self,
        *,
        scan: str,
        version: str,
        audit_sha256: str,
        decision: str,
        decided_by: Sequence[str],
        rationale: str,
        conditions: Sequence[str] = (),
        valid_until: date | None = None,
        checklist: Mapping[str, str],
        demo: bool = False,
    ) -> DecisionRecord:
        """Append a committee decision; it supersedes the current decision for this scan and version.

        Conditions belong to ``approve-with-conditions`` only (at least one), so that an ``approve`` can
        never carry conditions nobody is bound to check.
        """
        scan = text_field("scan", scan, max_length=KEY_LENGTH)
        version = text_field("version", version, max_length=KEY_LENGTH)
        audit_sha256 = sha256_field("audit_sha256", audit_sha256)
        if decision not in DECISIONS:
            raise InvalidInput(f"decision must be one of {', '.join(map(repr, DECISIONS))}, got {decision!r}")
        names = _names(decided_by)
        rationale = text_field("rationale", rationale)
        condition_list = _text_list("conditions", conditions)
        if decision == "approve-with-conditions" and not condition_list:
            raise InvalidInput(
                "conditions must list at least one condition for 'approve-with-conditions', "
                f"got {conditions!r}"
            )
        if decision != "approve-with-conditions" and condition_list:
            raise InvalidInput(
                f"conditions {condition_list!r} given with decision {decision!r}; "
                "conditions are recorded only with 'approve-with-conditions'"
            )
        if valid_until is not None and (
            isinstance(valid_until, datetime) or not isinstance(valid_until, date)
        ):
            raise InvalidInput(f"valid_until must be a date or None, got {valid_until!r}")
        answers = _checklist(checklist)
        if not isinstance(demo, bool):
            raise InvalidInput(f"demo must be True or False, got {demo!r}")

        with self._write.begin() as session:
            self._lock_scan_version(session, scan, version)
            current = self._current(session, scan, version)
            row = CommitteeDecision(
                scan=scan,
                model_version=version,
                audit_sha256=audit_sha256,
                decision=decision,
                decided_by=names,
                rationale=rationale,
                conditions=condition_list,
                valid_until=valid_until,
                checklist=answers,
                demo=demo,
                created_at=self._now(),
                supersedes_id=None if current is None else current.id,
            )
            session.add(row)
            session.flush()
            return DecisionRecord.from_row(row)

    def decisions(self, scan: str, version: str | None = None) -> list[DecisionRecord]:
        """All decisions about a scan (or one version of it) in the order recorded, superseded ones included.

        Recording order is the id order; the database keeps every supersession pointing to a lower id.
        """
        query = select(CommitteeDecision).where(CommitteeDecision.scan == scan)
        if version is not None:
            query = query.where(CommitteeDecision.model_version == version)
        query = query.order_by(CommitteeDecision.id)
        with self._read() as session:
            return [DecisionRecord.from_row(row) for row in session.scalars(query)]

    @staticmethod
    def _current(session: Session, scan: str, version: str) -> CommitteeDecision | None:
        later = aliased(CommitteeDecision)
        query = select(CommitteeDecision).where(
            CommitteeDecision.scan == scan,
            CommitteeDecision.model_version == version,
            ~exists().where(later.supersedes_id == CommitteeDecision.id),
        )
        return session.scalars(query).one_or_none()

    def current_decision(self, scan: str, version: str) -> DecisionRecord | None:
        """The decision nothing supersedes (the latest), or None if the committee never decided."""
        with self._read() as session:
            row = self._current(session, scan, version)
            return None if row is None else DecisionRecord.from_row(row)

    def decision(self, decision_id: int) -> DecisionRecord | None:
        with self._read() as session:
            row = session.get(CommitteeDecision, decision_id)
            return None if row is None else DecisionRecord.from_row(row)

    # --------------------------------------------------------------------------------------- promotions

    def record_promotion(
        self,
        *,
        scan: str,
        version: str,
        previous_version: str | None,
        decision_id: int,
        audit_sha256: str,
        promoted_by: str,
    ) -> PromotionRecord:
        """Append a promotion. It must cite the *current* decision about this very scan, version and audit,
        and that decision must approve.

        The rest of the gate (fairness, expiry of ``valid_until``, withdrawn versions) is the promotion
        gate's business; this check only keeps the evidence trail coherent.
        """
        scan = text_field("scan", scan, max_length=KEY_LENGTH)
        version = text_field("version", version, max_length=KEY_LENGTH)
        if previous_version is not None:
            previous_version = text_field("previous_version", previous_version, max_length=KEY_LENGTH)
        if isinstance(decision_id, bool) or not isinstance(decision_id, int):
            raise InvalidInput(f"decision_id must be an integer, got {decision_id!r}")
        audit_sha256 = sha256_field("audit_sha256", audit_sha256)
        promoted_by = text_field("promoted_by", promoted_by, max_length=NAME_LENGTH)

        with self._write.begin() as session:
            self._lock_scan_version(session, scan, version)
            cited = session.get(CommitteeDecision, decision_id)
            if cited is None:
                raise InvalidInput(f"decision_id {decision_id} does not exist")
            if (cited.scan, cited.model_version) != (scan, version):
                raise InvalidInput(
                    f"decision_id {decision_id} is about scan {cited.scan!r} version "
                    f"{cited.model_version!r}, not scan {scan!r} version {version!r}"
                )
            if cited.audit_sha256 != audit_sha256:
                raise InvalidInput(
                    f"audit_sha256 {audit_sha256!r} is not the audit the committee reviewed in decision "
                    f"{decision_id} ({cited.audit_sha256!r})"
                )
            current = self._current(session, scan, version)
            if current is not None and current.id != cited.id:
                raise InvalidInput(
                    f"decision_id {decision_id} is superseded by decision {current.id} "
                    f"({current.decision!r}); cite the current decision"
                )
            if cited.decision not in APPROVALS:
                raise InvalidInput(
                    f"decision_id {decision_id} is {cited.decision!r}: scan {scan!r} version {version!r} "
                    "is not approved"
                )
            row = Promotion(
                scan=scan,
                model_version=version,
                previous_version=previous_version,
                decision_id=decision_id,
                audit_sha256=audit_sha256,
                promoted_by=promoted_by,
                created_at=self._now(),
            )
            session.add(row)
            session.flush()
            return PromotionRecord.from_row(row)

    def promotions(self, scan: str) -> list[PromotionRecord]:
        """All promotions of a scan, in the order recorded (oldest first)."""
        query = select(Promotion).where(Promotion.scan == scan).order_by(Promotion.id)
        with self._read() as session:
            return [PromotionRecord.from_row(row) for row in session.scalars(query)]

    # -------------------------------------------------------------------------------------- withdrawals

    def record_withdrawal(
        self, *, scan: str, version: str | None, reason: str, withdrawn_by: str
    ) -> WithdrawalRecord:
        """Append a withdrawal: the scan stops serving until a later promotion."""
        scan = text_field("scan", scan, max_length=KEY_LENGTH)
        if version is not None:
            version = text_field("version", version, max_length=KEY_LENGTH)
        reason = text_field("reason", reason)
        withdrawn_by = text_field("withdrawn_by", withdrawn_by, max_length=NAME_LENGTH)
        with self._write.begin() as session:
            row = Withdrawal(
                scan=scan,
                model_version=version,
                reason=reason,
                withdrawn_by=withdrawn_by,
                created_at=self._now(),
            )
            session.add(row)
            session.flush()
            return WithdrawalRecord.from_row(row)

    def withdrawals(self, scan: str) -> list[WithdrawalRecord]:
        """All withdrawals of a scan, in the order recorded (oldest first)."""
        query = select(Withdrawal).where(Withdrawal.scan == scan).order_by(Withdrawal.id)
        with self._read() as session:
            return [WithdrawalRecord.from_row(row) for row in session.scalars(query)]

    def active_withdrawal(self, scan: str) -> WithdrawalRecord | None:
        """The latest withdrawal, unless a promotion came after it (a new promotion lifts a withdrawal).

        Withdrawals and promotions live in different tables, so "after" means a later ``created_at``. A
        withdrawal and a promotion with the same timestamp count as withdrawn: when in doubt, stop.
        """
        with self._read() as session:
            withdrawal = session.scalars(
                select(Withdrawal).where(Withdrawal.scan == scan).order_by(Withdrawal.id.desc()).limit(1)
            ).first()
            if withdrawal is None:
                return None
            promoted_at = session.scalar(select(func.max(Promotion.created_at)).where(Promotion.scan == scan))
            if promoted_at is not None and promoted_at > withdrawal.created_at:
                return None
            return WithdrawalRecord.from_row(withdrawal)

    def is_version_withdrawn(self, scan: str, version: str) -> bool:
        """Whether any withdrawal names this exact version (a later promotion does not clear that)."""
        query = select(exists().where(Withdrawal.scan == scan, Withdrawal.model_version == version))
        with self._read() as session:
            return bool(session.scalar(query))
