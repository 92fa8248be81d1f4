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

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Connection,
    Date,
    DateTime,
    Dialect,
    Engine,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    exists,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, aliased, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from models import home

MIGRATIONS_DIR: Final = Path(__file__).with_name("migrations")

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

SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
_SQLITE_BEGIN: Final = "riskscan_sqlite_begin"  # execution option read by the "begin" hook in make_engine
_WRITE_OPTIONS: Final = {_SQLITE_BEGIN: "BEGIN IMMEDIATE"}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAME_LENGTH: Final = 200
_KEY_LENGTH: Final = 64


class GovernanceError(ValueError):
    """A governance record was refused; the message names the field and the value."""


# --------------------------------------------------------------------------------------------- engine


def normalise_url(url: str | URL) -> URL:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 here, the only PostgreSQL driver installed."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL | None = None) -> Engine:
    """The one place engines are made, so every connection gets the same guarantees.

    SQLite: foreign keys on (off by default, and the composite keys below matter), a busy timeout so two
    processes wait for each other instead of failing, and real transactions: the sqlite3 driver's legacy
    mode would run DDL outside any transaction, so a failed migration could leave half a schema behind.
    Writes use ``BEGIN IMMEDIATE`` so that read-check-insert sequences (supersession) are serialised.
    """
    engine = create_engine(normalise_url(url or home.database_url()), pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see _sqlite_begin
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Connection) -> None:
            connection.exec_driver_sql(connection.get_execution_options().get(_SQLITE_BEGIN, "BEGIN"))

    return engine


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that takes the write lock up front (SQLite) and commits on success."""
    with engine.execution_options(**_WRITE_OPTIONS).begin() as connection:
        yield connection


# ------------------------------------------------------------------------------------------ migrations


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configured in code, so migrations run from an installed package without an alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(rev)s")  # revision ids are the file names: 0002_decision_log
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "models/migrations/versions holds no revision"
    return head


@contextmanager
def _engine_for(url: str | URL | Engine | None) -> Iterator[Engine]:
    if isinstance(url, Engine):
        yield url
        return
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _migration_transaction(engine: Engine) -> Iterator[Connection]:
    """``write_transaction`` for migrations. On SQLite, foreign keys are off around it and checked before
    the commit: SQLite cannot drop a constraint in place, so a migration rebuilds the table (revision
    0003), and with foreign keys on, dropping the old table counts as deleting every row the outcomes
    refer to. This is SQLite's own recipe (https://www.sqlite.org/lang_altertable.html): the pragma only
    works outside a transaction, and ``PRAGMA foreign_key_check`` must find nothing before the commit.
    """
    if engine.dialect.name != "sqlite":
        with write_transaction(engine) as connection:
            yield connection
        return
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.execute("PRAGMA foreign_keys = OFF")  # on the driver: no transaction is open yet
        try:
            with connection.execution_options(**_WRITE_OPTIONS).begin():
                yield connection
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise GovernanceError(
                        f"a migration left rows whose foreign keys point nowhere: {broken[:3]}"
                    )
        finally:
            driver.execute("PRAGMA foreign_keys = ON")


def upgrade(url: str | URL | Engine | None = None, revision: str = "head") -> None:
    """Bring the database to ``revision``. A database already there is left alone.

    The whole upgrade is one transaction. Concurrent callers wait for each other: SQLite through
    ``BEGIN IMMEDIATE``, PostgreSQL through an advisory lock taken in env.py, so the second one finds the
    work done.
    """
    with _engine_for(url) as engine, _migration_transaction(engine) as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(url: str | URL | Engine | None, revision: str) -> None:
    """For developers and tests. Revision 0001 refuses to drop tables that still hold records."""
    with _engine_for(url) as engine, _migration_transaction(engine) as connection:
        command.downgrade(alembic_config(connection), revision)


def current_revision(url: str | URL | Engine | None = None) -> str | None:
    """The revision the database is at, or None for a database that was never migrated."""
    with _engine_for(url) as engine, engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


# ------------------------------------------------------------------------------------------ ORM types


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on every dialect.

    Naive datetimes are refused on write: a timestamp without a zone is ambiguous evidence.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise GovernanceError(f"timestamp {value!r} has no time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONDocument = JSON().with_variant(JSONB(), "postgresql")

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(constraint_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CommitteeDecision(Base):
    """One decision of the ethics committee about one model version of one scan (revision 0001)."""

    __tablename__ = "committee_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan: Mapped[str] = mapped_column(String(_KEY_LENGTH))
    model_version: Mapped[str] = mapped_column(String(_KEY_LENGTH))
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
    scan: Mapped[str] = mapped_column(String(_KEY_LENGTH))
    model_version: Mapped[str] = mapped_column(String(_KEY_LENGTH))
    previous_version: Mapped[str | None] = mapped_column(String(_KEY_LENGTH))
    decision_id: Mapped[int] = mapped_column(Integer)
    audit_sha256: Mapped[str] = mapped_column(String(64))
    promoted_by: Mapped[str] = mapped_column(String(_NAME_LENGTH))
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
    scan: Mapped[str] = mapped_column(String(_KEY_LENGTH))
    model_version: Mapped[str | None] = mapped_column(String(_KEY_LENGTH))
    reason: Mapped[str] = mapped_column(Text)
    withdrawn_by: Mapped[str] = mapped_column(String(_NAME_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("length(trim(reason)) > 0", name="reason"),
        CheckConstraint("length(trim(withdrawn_by)) > 0", name="withdrawn_by"),
        Index("ix_withdrawals_scan", "scan"),
        {"sqlite_autoincrement": True},
    )


# --------------------------------------------------------------------------------------------- records


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


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
            "valid_until": _iso(self.valid_until),
            "checklist": dict(self.checklist),
            "demo": self.demo,
            "created_at": _iso(self.created_at),
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
            "created_at": _iso(self.created_at),
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
            "created_at": _iso(self.created_at),
        }


# ------------------------------------------------------------------------------------------ validation


def _text(field: str, value: object, *, max_length: int | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise GovernanceError(f"{field} must be non-empty text, got {value!r}")
    if max_length is not None and len(value.strip()) > max_length:
        raise GovernanceError(f"{field} {value!r} is longer than {max_length} characters")
    return value.strip()


def _sha256(value: object) -> str:
    if not isinstance(value, str) or not _SHA256.fullmatch(value.strip().lower()):
        raise GovernanceError(f"audit_sha256 must be 64 hexadecimal characters, got {value!r}")
    return value.strip().lower()


def _text_list(field: str, value: object) -> list[str]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise GovernanceError(f"{field} must be a list of texts, got {value!r}")
    items = [_text(f"{field}[{index}]", item) for index, item in enumerate(value)]
    return items


def _names(value: object) -> list[str]:
    names = _text_list("decided_by", value)
    if not names:
        raise GovernanceError(f"decided_by must name at least one committee member, got {value!r}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise GovernanceError(f"decided_by names {duplicates!r} more than once")
    for name in names:
        _text("decided_by", name, max_length=_NAME_LENGTH)
    return names


def _checklist(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise GovernanceError(
            f"checklist must map each of {list(CHECKLIST_KEYS)} to an answer, got {value!r}"
        )
    unknown = sorted(str(key) for key in value if key not in CHECKLIST_KEYS)
    if unknown:
        raise GovernanceError(f"checklist has unknown key {unknown[0]!r} (known: {list(CHECKLIST_KEYS)})")
    missing = [key for key in CHECKLIST_KEYS if key not in value]
    if missing:
        raise GovernanceError(f"checklist is missing {missing[0]!r}: every decision answers all seven items")
    return {key: _text(f"checklist[{key!r}]", value[key]) for key in CHECKLIST_KEYS}


# ----------------------------------------------------------------------------------------------- store


def _utcnow() -> datetime:
    return datetime.now(UTC)


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
        self._write = sessionmaker(self._engine.execution_options(**_WRITE_OPTIONS), expire_on_commit=False)
        self._clock = clock or _utcnow

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
            raise GovernanceError(f"clock returned {now!r}, a datetime without time zone")
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
        scan = _text("scan", scan, max_length=_KEY_LENGTH)
        version = _text("version", version, max_length=_KEY_LENGTH)
        audit_sha256 = _sha256(audit_sha256)
        if decision not in DECISIONS:
            raise GovernanceError(
                f"decision must be one of {', '.join(map(repr, DECISIONS))}, got {decision!r}"
            )
        names = _names(decided_by)
        rationale = _text("rationale", rationale)
        condition_list = _text_list("conditions", conditions)
        if decision == "approve-with-conditions" and not condition_list:
            raise GovernanceError(
                "conditions must list at least one condition for 'approve-with-conditions', "
                f"got {conditions!r}"
            )
        if decision != "approve-with-conditions" and condition_list:
            raise GovernanceError(
                f"conditions {condition_list!r} given with decision {decision!r}; "
                "conditions are recorded only with 'approve-with-conditions'"
            )
        if valid_until is not None and (
            isinstance(valid_until, datetime) or not isinstance(valid_until, date)
        ):
            raise GovernanceError(f"valid_until must be a date or None, got {valid_until!r}")
        answers = _checklist(checklist)
        if not isinstance(demo, bool):
            raise GovernanceError(f"demo must be True or False, got {demo!r}")

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
        scan = _text("scan", scan, max_length=_KEY_LENGTH)
        version = _text("version", version, max_length=_KEY_LENGTH)
        if previous_version is not None:
            previous_version = _text("previous_version", previous_version, max_length=_KEY_LENGTH)
        if isinstance(decision_id, bool) or not isinstance(decision_id, int):
            raise GovernanceError(f"decision_id must be an integer, got {decision_id!r}")
        audit_sha256 = _sha256(audit_sha256)
        promoted_by = _text("promoted_by", promoted_by, max_length=_NAME_LENGTH)

        with self._write.begin() as session:
            self._lock_scan_version(session, scan, version)
            cited = session.get(CommitteeDecision, decision_id)
            if cited is None:
                raise GovernanceError(f"decision_id {decision_id} does not exist")
            if (cited.scan, cited.model_version) != (scan, version):
                raise GovernanceError(
                    f"decision_id {decision_id} is about scan {cited.scan!r} version "
                    f"{cited.model_version!r}, not scan {scan!r} version {version!r}"
                )
            if cited.audit_sha256 != audit_sha256:
                raise GovernanceError(
                    f"audit_sha256 {audit_sha256!r} is not the audit the committee reviewed in decision "
                    f"{decision_id} ({cited.audit_sha256!r})"
                )
            current = self._current(session, scan, version)
            if current is not None and current.id != cited.id:
                raise GovernanceError(
                    f"decision_id {decision_id} is superseded by decision {current.id} "
                    f"({current.decision!r}); cite the current decision"
                )
            if cited.decision not in APPROVALS:
                raise GovernanceError(
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
        scan = _text("scan", scan, max_length=_KEY_LENGTH)
        if version is not None:
            version = _text("version", version, max_length=_KEY_LENGTH)
        reason = _text("reason", reason)
        withdrawn_by = _text("withdrawn_by", withdrawn_by, max_length=_NAME_LENGTH)
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
