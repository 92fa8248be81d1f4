"""The serving side of the governance database: the decision log, investigation outcomes and API tokens.

The tables come from Alembic revision ``0002_serving`` and live in the same database (and on the same
declarative ``Base``) as the committee decisions in :mod:`models.governance`. Like those, they are
evidence, so they are append-only *in the database* (triggers refuse UPDATE, DELETE and, on PostgreSQL,
TRUNCATE).

The decision log is a hash chain
--------------------------------
Every scored case is one row. Rows are numbered 1, 2, 3, ... by the store (last id + 1, under the append
lock, never by a sequence that skips numbers after a rollback), and each row carries the hash of the row
before it::

    row_hash = sha256_hex(utf8(prev_hash + canonical_json(record)))

``prev_hash`` of row 1 is 64 zeros. ``record`` is every column of the row except ``prev_hash`` and
``row_hash`` (so ``id`` is covered too), as a JSON object with sorted keys and no whitespace
(``separators=(",", ":")``), non-ASCII characters as themselves, floats as Python ``repr`` (the shortest
text that reads back as the same double), booleans as ``true``/``false``, ``created_at`` as ISO 8601 in UTC
(``2026-03-01T09:00:00.123456+00:00``; Python's ``isoformat``, which drops ``.000000``). An auditor can
recompute the chain with any JSON library that can be told to do the same. :meth:`ServingStore.verify_chain`
does exactly that, streaming.

What the chain does and does not prove: it detects a row that was changed, removed or inserted by anyone
who did not also recompute every later hash. Someone with write access who drops the triggers *and*
rewrites the tail of the chain is caught only by comparing the head hash (:attr:`ChainReport.head_hash`)
with a copy kept elsewhere; print it in reports and keep it.

Appends are serialised so the chain stays linear: ``BEGIN IMMEDIATE`` on SQLite, a transaction-level
advisory lock on PostgreSQL, and the last hash is read *inside* that transaction each time (one primary-key
lookup), so several processes can append to one database. As a backstop, the ids are assigned as last
id + 1: two appends that somehow raced past the lock would collide on the primary key rather than fork
the chain.

SQLite durability
-----------------
A store on SQLite switches the database file to WAL mode with ``synchronous=NORMAL``: a commit then costs
no fsync (the service appends one row per request and must stay fast), readers never block the writer, and
the file is never corrupted. The trade-off: after a power cut or operating-system crash (not after a crash
of the application), the last transactions before the cut may be lost even though they were reported
committed. Where that window is unacceptable, pass ``sqlite_synchronous="FULL"`` (an fsync per commit)
or use PostgreSQL. WAL needs a local file system (not NFS/SMB). Checkpoints (copying the WAL back into
the database file) make up most of an append's tail latency; the service should pass
``checkpoint_every=1.0`` so that a background thread does them instead of a request.

Batch scoring
-------------
:meth:`ServingStore.append_scores` writes all its rows in one transaction, which holds the write lock for
the whole batch. A batch job uses :meth:`ServingStore.append_batch` instead: the same rows and hashes, given
column by column (:class:`BatchColumns`), written in chunks of its own transaction each so that the
service's requests on the same database are not held up for long, and several times faster, because
nothing is built or checked per row that can be built or checked per column. On SQLite an append of
``INSERT_CHUNK`` rows or more checkpoints its own rows afterwards, so the next API request does not pay
for them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import repeat
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import psycopg
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Connection,
    Double,
    Engine,
    ForeignKeyConstraint,
    Index,
    Integer,
    Row,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    exists,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from riskscan import home
from riskscan.db import Base, UTCDateTime, make_engine, upgrade, write_transaction
from riskscan.errors import InvalidInput, NotFound

GENESIS_HASH: Final = "0" * 64
ROLES: Final = ("handhaving", "committee", "retrain", "admin")
SOURCES: Final = ("api", "batch")
EXPLANATION_KEYS: Final = frozenset({"feature", "label", "value", "contribution"})
TABLES: Final = ("decision_log", "outcomes", "api_tokens", "token_revocations")

STATUS_NO_SIGNAL: Final = "geen signaal"
STATUS_OPEN: Final = "open"
STATUS_VIOLATION: Final = "afgehandeld: overtreding"
STATUS_NO_VIOLATION: Final = "afgehandeld: geen overtreding"

TOKEN_PREFIX: Final = "rs_"
INSERT_CHUNK: Final = 10_000
SQLITE_SYNCHRONOUS: Final = ("NORMAL", "FULL")
SQLITE_CACHE_KIB: Final = 65_536
#: The page cache of the connection a batch job appends with: the partial index of selected cases takes
#: keys in score order, spread over the whole index, and each key that misses the cache costs a page read.
#: (Until revision 0003 the unique index on ``row_hash`` took random SHA-256 keys too, and cost half the time.)
SQLITE_BULK_CACHE_KIB: Final = 262_144
SQLITE_SAFETY_CHECKPOINT_PAGES: Final = 10_000

#: The PostgreSQL advisory lock that serialises appends to the decision log: a constant 64-bit key, the
#: first 8 bytes of sha256("riskscan.decision_log"). Other locks in this database use other keys.
APPEND_LOCK_KEY: Final = int.from_bytes(
    hashlib.sha256(b"riskscan.decision_log").digest()[:8], "big", signed=True
)

_HEX32 = re.compile(r"[0-9a-f]{32}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_KEY_LENGTH: Final = 64
_NAME_LENGTH: Final = 200
_CANONICAL = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"), check_circular=False
).encode


_log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------ ORM

_LOG_ID = BigInteger().with_variant(Integer(), "sqlite")  # INTEGER PRIMARY KEY is the rowid on SQLite


class DecisionLogRow(Base):
    """One scored case (revision 0002). JSON columns are ``json``, not ``jsonb``, on PostgreSQL: see 0002."""

    __tablename__ = "decision_log"

    id: Mapped[int] = mapped_column(_LOG_ID, primary_key=True, autoincrement=False)
    request_id: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[str] = mapped_column(String(_NAME_LENGTH))
    scan: Mapped[str] = mapped_column(String(_KEY_LENGTH))
    model_name: Mapped[str] = mapped_column(String(_NAME_LENGTH))
    model_version: Mapped[str] = mapped_column(String(_KEY_LENGTH))
    audit_sha256: Mapped[str | None] = mapped_column(String(64))
    decision_id: Mapped[int | None] = mapped_column(Integer)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    score: Mapped[float] = mapped_column(Double)
    threshold: Mapped[float] = mapped_column(Double)
    signal: Mapped[bool] = mapped_column(Boolean)
    control: Mapped[bool] = mapped_column(Boolean)
    control_draw: Mapped[float] = mapped_column(Double)
    explanation: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    base_value: Mapped[float | None] = mapped_column(Double)
    margin_scale: Mapped[str] = mapped_column(String(_NAME_LENGTH))
    source: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint("id > 0", name="id_positive"),
        CheckConstraint(f"(id = 1) = (prev_hash = '{GENESIS_HASH}')", name="genesis"),
        CheckConstraint("length(trim(case_id)) > 0", name="case_id"),
        CheckConstraint("length(trim(scan)) > 0", name="scan"),
        CheckConstraint("length(trim(model_name)) > 0", name="model_name"),
        CheckConstraint("length(trim(model_version)) > 0", name="model_version"),
        CheckConstraint("length(trim(margin_scale)) > 0", name="margin_scale"),
        CheckConstraint("control_draw >= 0 AND control_draw < 1", name="control_draw_range"),
        CheckConstraint("source IN ('api', 'batch')", name="source"),
        UniqueConstraint("request_id", name="request_id"),
        # row_hash is not unique by constraint since revision 0003: it hashes the id (the primary key).
        ForeignKeyConstraint(["decision_id"], ["committee_decisions.id"], name="decision_id"),
        Index("ix_decision_log_scan_created_at", "scan", "created_at"),
        Index(
            "ix_decision_log_selected",
            "scan",
            "control",
            "score",
            sqlite_where=text("signal OR control"),
            postgresql_where=text("signal OR control"),
        ),
    )


class OutcomeRow(Base):
    """What an investigation found (revision 0002); the latest row per request counts."""

    __tablename__ = "outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(32))
    violation: Mapped[bool] = mapped_column(Boolean)
    sanction: Mapped[str | None] = mapped_column(Text)
    hoor_en_wederhoor: Mapped[bool] = mapped_column(Boolean)
    investigator: Mapped[str] = mapped_column(String(_NAME_LENGTH))
    notes: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("length(trim(investigator)) > 0", name="investigator"),
        CheckConstraint(
            "sanction IS NULL OR (violation AND length(trim(sanction)) > 0)", name="sanction_needs_violation"
        ),
        CheckConstraint("hoor_en_wederhoor OR NOT violation", name="violation_needs_hoor_en_wederhoor"),
        ForeignKeyConstraint(["request_id"], ["decision_log.request_id"], name="request_id"),
        Index("ix_outcomes_request_id", "request_id"),
        {"sqlite_autoincrement": True},
    )


class ApiTokenRow(Base):
    """An API token, stored as the SHA-256 of the token only (revision 0002)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(_NAME_LENGTH))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("length(trim(name)) > 0", name="name"),
        CheckConstraint("role IN ('handhaving', 'committee', 'retrain', 'admin')", name="role"),
        UniqueConstraint("token_hash", name="token_hash"),
        {"sqlite_autoincrement": True},
    )


class TokenRevocationRow(Base):
    """A token taken out of use: a new row, at most one per token (revision 0002)."""

    __tablename__ = "token_revocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("length(trim(reason)) > 0", name="reason"),
        UniqueConstraint("token_id", name="token_id"),
        ForeignKeyConstraint(["token_id"], ["api_tokens.id"], name="token_id"),
        {"sqlite_autoincrement": True},
    )


_LOG: Final[Table] = Base.metadata.tables["decision_log"]
_OUTCOMES: Final[Table] = Base.metadata.tables["outcomes"]
_TOKENS: Final[Table] = Base.metadata.tables["api_tokens"]
_REVOCATIONS: Final[Table] = Base.metadata.tables["token_revocations"]

_LAST_LINK = select(_LOG.c.id, _LOG.c.row_hash).order_by(_LOG.c.id.desc()).limit(1)
_INSERT_LOG = insert(_LOG)
#: Selected for investigation. Spelled exactly as the predicate of the partial index ix_decision_log_selected
#: (SQLAlchemy would write ``signal = 1 OR control = 1`` on SQLite, which SQLite does not match to it).
_SELECTED = text("(decision_log.signal OR decision_log.control)")
_LOCK_APPENDS = text(f"SELECT pg_advisory_xact_lock({APPEND_LOCK_KEY})")

# ------------------------------------------------------------------------------------------- records


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _new_request_id() -> str:
    return uuid.uuid4().hex


def new_request_ids(count: int) -> list[str]:
    """``count`` new request ids for a batch: version-7 UUIDs (RFC 9562) as 32 hex digits, that is the Unix
    time in milliseconds (48 bits) followed by 74 random bits, from one ``os.urandom`` call.

    Time-ordered on purpose: the ids of one batch chunk go to the right-hand edge of the unique index on
    ``request_id`` instead of onto random pages of it. With random (version-4) ids a million-row log no
    longer fits that index in SQLite's page cache, and the append slowed from ~60 to ~120 us a row
    (benchmarks/bench_batch.py). The random bits keep ids unguessable; the time they show is the
    row's ``created_at`` anyway.
    """
    if count <= 0:
        return []
    raw = np.frombuffer(os.urandom(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    millis = time.time_ns() // 1_000_000
    raw[:, :6] = np.frombuffer((millis & (2**48 - 1)).to_bytes(6, "big"), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x70  # version 7
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # variant RFC 4122/9562
    text = raw.tobytes().hex()
    return [text[start : start + 32] for start in range(0, 32 * count, 32)]


@dataclass(frozen=True, kw_only=True, slots=True)
class LogEntry:
    """One scored case as the service or the batch scorer hands it to the log.

    ``inputs`` are the raw input values (JSON: text, numbers, booleans, null, lists, objects; dates are
    written as ISO text, NaN as null). ``explanation`` is a list of ``{feature, label, value,
    contribution}``, empty for unexplained batch rows. ``control_draw`` is the reproducible random draw in
    [0, 1) that decided ``control`` (the random control sample).
    """

    case_id: str
    scan: str
    model_name: str
    model_version: str
    inputs: Mapping[str, Any]
    score: float
    threshold: float
    signal: bool
    control: bool
    control_draw: float
    margin_scale: str
    source: str = "api"
    explanation: Sequence[Mapping[str, Any]] = ()
    base_value: float | None = None
    audit_sha256: str | None = None
    decision_id: int | None = None
    request_id: str = field(default_factory=_new_request_id)


@dataclass(frozen=True, slots=True)
class LoggedScore:
    """A decision-log row as stored, hashes included."""

    id: int
    request_id: str
    case_id: str
    scan: str
    model_name: str
    model_version: str
    audit_sha256: str | None
    decision_id: int | None
    inputs: Mapping[str, Any]
    score: float
    threshold: float
    signal: bool
    control: bool
    control_draw: float
    explanation: tuple[Mapping[str, Any], ...]
    base_value: float | None
    margin_scale: str
    source: str
    created_at: datetime
    prev_hash: str
    row_hash: str

    @property
    def selected(self) -> bool:
        """Selected for investigation: a signal, or drawn into the random control sample."""
        return self.signal or self.control

    @classmethod
    def _from_record(cls, record: Mapping[Any, Any]) -> LoggedScore:
        explanation = record["explanation"]
        return cls(
            record["id"],
            record["request_id"],
            record["case_id"],
            record["scan"],
            record["model_name"],
            record["model_version"],
            record["audit_sha256"],
            record["decision_id"],
            MappingProxyType(record["inputs"]),
            record["score"],
            record["threshold"],
            record["signal"],
            record["control"],
            record["control_draw"],
            tuple(MappingProxyType(item) for item in explanation) if explanation else (),
            record["base_value"],
            record["margin_scale"],
            record["source"],
            record["created_at"],
            record["prev_hash"],
            record["row_hash"],
        )

    @classmethod
    def from_row(cls, row: Row[Any]) -> LoggedScore:
        return cls._from_record(row._mapping)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: plain dicts and lists, ISO 8601 for ``created_at``."""
        return {
            "id": self.id,
            "request_id": self.request_id,
            "case_id": self.case_id,
            "scan": self.scan,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "audit_sha256": self.audit_sha256,
            "decision_id": self.decision_id,
            "inputs": dict(self.inputs),
            "score": self.score,
            "threshold": self.threshold,
            "signal": self.signal,
            "control": self.control,
            "control_draw": self.control_draw,
            "explanation": [dict(item) for item in self.explanation],
            "base_value": self.base_value,
            "margin_scale": self.margin_scale,
            "source": self.source,
            "created_at": _iso(self.created_at),
            "prev_hash": self.prev_hash,
            "row_hash": self.row_hash,
        }


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The result of :meth:`ServingStore.verify_chain`.

    ``head_id``/``head_hash`` are the last row that checked out (for an intact chain: the last row); keep
    the head hash somewhere else to detect a rewritten tail later.
    """

    ok: bool
    rows_checked: int
    first_broken_id: int | None
    problem: str | None
    head_id: int | None
    head_hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows_checked": self.rows_checked,
            "first_broken_id": self.first_broken_id,
            "problem": self.problem,
            "head_id": self.head_id,
            "head_hash": self.head_hash,
        }


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
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

    @property
    def status(self) -> str:
        return STATUS_VIOLATION if self.violation else STATUS_NO_VIOLATION

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request_id": self.request_id,
            "case_id": self.case_id,
            "scan": self.scan,
            "violation": self.violation,
            "sanction": self.sanction,
            "hoor_en_wederhoor": self.hoor_en_wederhoor,
            "investigator": self.investigator,
            "notes": self.notes,
            "created_at": _iso(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class CaseRow:
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

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request_id": self.request_id,
            "case_id": self.case_id,
            "scan": self.scan,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "score": self.score,
            "threshold": self.threshold,
            "signal": self.signal,
            "control": self.control,
            "source": self.source,
            "created_at": _iso(self.created_at),
            "status": self.status,
            "outcome": None if self.outcome is None else self.outcome.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An API token without its secret: the store keeps only the SHA-256 of the token."""

    id: int
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None = None
    revocation_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "created_at": _iso(self.created_at),
            "active": self.active,
            "revoked_at": _iso(self.revoked_at),
            "revocation_reason": self.revocation_reason,
        }


# ---------------------------------------------------------------------------------------- validation


def _text(field_name: str, value: object, max_length: int | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field_name} must be non-empty text, got {value!r}")
    value = value.strip()
    if max_length is not None and len(value) > max_length:
        raise InvalidInput(f"{field_name} {value!r} is longer than {max_length} characters")
    return value


def _request_id(value: object) -> str:
    """A UUID as 32 lowercase hex digits; other spellings of a UUID are accepted and normalised."""
    if isinstance(value, str) and _HEX32.fullmatch(value):
        return value
    if isinstance(value, str | uuid.UUID):
        try:
            return uuid.UUID(str(value)).hex
        except ValueError:
            pass
    raise InvalidInput(f"request_id must be a UUID (32 hexadecimal digits), got {value!r}")


def _number(field_name: str, value: object) -> float:
    if isinstance(value, float) and math.isfinite(value):
        return float(value)  # also turns numpy.float64 into float
    if isinstance(value, int | np.integer | np.floating) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number):
            return number
    raise InvalidInput(f"{field_name} must be a finite number, got {value!r}")


def _flag(field_name: str, value: object) -> bool:
    if value is True or value is False:
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    raise InvalidInput(f"{field_name} must be True or False, got {value!r}")


def _plain(value: Any, where: str) -> Any:
    """``value`` as plain JSON data that reads back from the database exactly as it went in."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)  # numpy.str_ and other subclasses become plain text
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        if math.isnan(value):
            return None  # a missing value (pandas writes NaN for it); null is what it means
        raise InvalidInput(f"{where} is {value!r}; only finite numbers can be logged")
    if isinstance(value, Mapping):
        plain: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(f"{where} has key {key!r}; keys must be text")
            plain[str(key)] = _plain(item, f"{where}[{key!r}]")
        return plain
    if isinstance(value, list | tuple):
        return [_plain(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas.NA and pandas.NaT: missing values
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return _plain(value.item(), where)
    if isinstance(value, np.ndarray):
        return _plain(value.tolist(), where)
    raise InvalidInput(f"{where} holds {value!r} ({type(value).__name__}), which cannot be logged as JSON")


_SIMPLE: Final = frozenset({str, int, bool, type(None)})


def _inputs(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"inputs must be a mapping of input name to value, got {value!r}")
    # Fast path for the usual flat dict of text, integers and finite floats: a copy, nothing converted.
    for key, item in value.items():
        kind = type(item)
        if type(key) is not str or not (kind in _SIMPLE or (kind is float and math.isfinite(item))):
            result: dict[str, Any] = _plain(value, "inputs")
            return result
    return dict(value)


#: Values whose JSON text depends on the value alone, so a column's repeats can share one encoding. Not
#: floats (0.0 == -0.0) and not datetimes (equal instants in other time zones are written differently).
_CACHEABLE: Final = frozenset({str, int, bool, type(None)})


def _json_column(name: str, values: Sequence[Any] | np.ndarray) -> list[str]:
    """One input column as canonical JSON texts, exactly what ``_CANONICAL(_inputs(row))`` writes for it.

    Numeric numpy arrays are encoded vectorised (floats as ``repr``, NaN as null, infinities refused);
    anything else value by value through :func:`_plain`, repeated text and integers encoded once.
    """
    where = f"inputs[{name!r}]"
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "biuf":
        kind = values.dtype.kind
        if kind == "b":
            return ["true" if flag else "false" for flag in values.tolist()]
        if kind in "iu":
            return list(map(int.__repr__, values.tolist()))
        floats = values.astype(np.float64, copy=False)
        infinite = np.flatnonzero(np.isinf(floats))
        if len(infinite):
            row = int(infinite[0])
            raise InvalidInput(
                f"{where} is {float(floats[row])!r} in row {row}; only finite numbers can be logged"
            )
        texts = list(map(float.__repr__, floats.tolist()))
        for row in np.flatnonzero(np.isnan(floats)).tolist():
            texts[row] = "null"
        return texts
    cache: dict[tuple[type, Any], str] = {}
    texts = []
    for row, value in enumerate(values):
        kind = value.__class__
        key = (kind, value)
        text = cache.get(key) if kind in _CACHEABLE else None
        if text is None:
            try:
                text = _CANONICAL(_plain(value, where))
            except InvalidInput as exc:
                raise InvalidInput(f"{exc} (row {row})") from None
            if kind in _CACHEABLE:
                cache[key] = text
        texts.append(text)
    return texts


def canonical_inputs(columns: Mapping[str, Sequence[Any] | np.ndarray], rows: int) -> list[str]:
    """The ``inputs`` of ``rows`` rows, given column by column, as canonical JSON objects: for every row
    the same text as the canonical JSON of ``{name: column[row] for name in columns}`` after the checks
    and conversions of a :class:`LogEntry` (a test checks both on awkward values).

    This is the batch scorer's path: a million rows are serialised in a few seconds instead of building
    a dict per row and encoding it with ``json``.
    """
    names = sorted(columns)
    for name in names:
        if type(name) is not str:
            raise InvalidInput(f"inputs has key {name!r}; keys must be text")
        if len(columns[name]) != rows:
            raise InvalidInput(f"inputs[{name!r}] has {len(columns[name])} values for {rows} rows")
    if not names:
        return ["{}"] * rows
    template = "{" + ",".join(_json_text(name).replace("%", "%%") + ":%s" for name in names) + "}"
    texts = [_json_column(name, columns[name]) for name in names]
    return [template % row for row in zip(*texts, strict=True)]


def _explanation(value: object) -> list[dict[str, Any]]:
    if type(value) in (list, tuple) and not value:  # the batch scorer's usual case
        return []
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence | np.ndarray):
        raise InvalidInput(
            f"explanation must be a list of {{feature, label, value, contribution}}, got {value!r}"
        )
    items = []
    for index, item in enumerate(value):
        where = f"explanation[{index}]"
        if not isinstance(item, Mapping) or set(item) != EXPLANATION_KEYS:
            raise InvalidInput(f"{where} must have exactly the keys {sorted(EXPLANATION_KEYS)}, got {item!r}")
        items.append(
            {
                "feature": _text(f"{where}.feature", item["feature"]),
                "label": _text(f"{where}.label", item["label"]),
                "value": _plain(item["value"], f"{where}.value"),
                "contribution": _number(f"{where}.contribution", item["contribution"]),
            }
        )
    return items


def _entry_record(entry: LogEntry) -> dict[str, Any]:
    """A validated, JSON-plain decision-log record without id, created_at and hashes."""
    if not isinstance(entry, LogEntry):
        raise InvalidInput(f"a decision-log row must be a LogEntry, got {type(entry).__name__}")
    audit = entry.audit_sha256
    if audit is not None:
        if not isinstance(audit, str) or not _SHA256.fullmatch(audit.strip().lower()):
            raise InvalidInput(f"audit_sha256 must be 64 hexadecimal characters or None, got {audit!r}")
        audit = audit.strip().lower()
    decision_id = entry.decision_id
    if decision_id is not None and (isinstance(decision_id, bool) or not isinstance(decision_id, int)):
        raise InvalidInput(f"decision_id must be an integer or None, got {decision_id!r}")
    control_draw = _number("control_draw", entry.control_draw)
    if not 0.0 <= control_draw < 1.0:
        raise InvalidInput(f"control_draw must lie in [0, 1), got {entry.control_draw!r}")
    if entry.source not in SOURCES:
        raise InvalidInput(f"source must be one of {', '.join(map(repr, SOURCES))}, got {entry.source!r}")
    return {
        "request_id": _request_id(entry.request_id),
        "case_id": _text("case_id", entry.case_id, _NAME_LENGTH),
        "scan": _text("scan", entry.scan, _KEY_LENGTH),
        "model_name": _text("model_name", entry.model_name, _NAME_LENGTH),
        "model_version": _text("model_version", entry.model_version, _KEY_LENGTH),
        "audit_sha256": audit,
        "decision_id": None if decision_id is None else int(decision_id),
        "inputs": _inputs(entry.inputs),
        "score": _number("score", entry.score),
        "threshold": _number("threshold", entry.threshold),
        "signal": _flag("signal", entry.signal),
        "control": _flag("control", entry.control),
        "control_draw": control_draw,
        "explanation": _explanation(entry.explanation),
        "base_value": None if entry.base_value is None else _number("base_value", entry.base_value),
        "margin_scale": _text("margin_scale", entry.margin_scale, _NAME_LENGTH),
        "source": entry.source,
    }


def row_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    """The chain hash of one decision-log row; ``record`` holds every column but the two hashes.

    ``created_at`` may be a datetime (it is written as ISO 8601 UTC) or already that text.
    """
    created_at = record["created_at"]
    if isinstance(created_at, datetime):
        record = {**record, "created_at": created_at.astimezone(UTC).isoformat()}
    return hashlib.sha256((prev_hash + _CANONICAL(record)).encode("utf-8")).hexdigest()


_HASHED_COLUMNS: Final = tuple(
    column.name for column in _LOG.columns if column.name not in ("prev_hash", "row_hash")
)

#: The columns an insert sets besides id, created_at and the two hashes, in the order of the SQL below.
_VALUE_COLUMNS: Final = (
    "request_id",
    "case_id",
    "scan",
    "model_name",
    "model_version",
    "audit_sha256",
    "decision_id",
    "inputs",
    "score",
    "threshold",
    "signal",
    "control",
    "control_draw",
    "explanation",
    "base_value",
    "margin_scale",
    "source",
)
_INSERT_COLUMNS: Final = ("id", "created_at", "prev_hash", "row_hash", *_VALUE_COLUMNS)
_JSON_COLUMNS: Final = frozenset({"inputs", "explanation"})
_json_text: Callable[[str], str] = json.encoder.encode_basestring


def _insert_sql(dialect: str) -> str:
    """The decision-log INSERT in the driver's own parameter style, JSON passed as (canonical) text."""
    columns = _INSERT_COLUMNS
    if dialect == "postgresql":
        marks = ["CAST(%s AS json)" if name in _JSON_COLUMNS else "%s" for name in columns]
    else:
        marks = ["?"] * len(columns)
    return f"INSERT INTO decision_log ({', '.join(columns)}) VALUES ({', '.join(marks)})"


_COPY_SQL: Final = f"COPY decision_log ({', '.join(_INSERT_COLUMNS)}) FROM STDIN"


def _copy_rows(connection: Connection, params: Sequence[tuple[Any, ...]]) -> None:
    """PostgreSQL's bulk path: COPY, inside the caller's transaction (about 3x executemany's rate)."""
    driver = connection.connection.driver_connection
    assert driver is not None
    try:
        with driver.cursor() as cursor, cursor.copy(_COPY_SQL) as copy:
            for row in params:
                copy.write_row(row)
    except psycopg.errors.IntegrityError as exc:  # the same exception the executemany path raises
        raise IntegrityError(_COPY_SQL, None, exc) from exc


def _json_bool(value: bool) -> str:
    return "true" if value else "false"


def _json_float(value: float | None) -> str:
    return "null" if value is None else float.__repr__(value)


def _json_optional(value: str | None) -> str:
    return "null" if value is None else _json_text(value)


@dataclass(slots=True)
class _Prepared:
    """One validated row, serialised up front.

    The canonical JSON of a row is ``head + json(created_at) + middle + str(id) + tail``: with sorted keys,
    ``created_at`` and ``id`` fall between the other fields, and they are the only ones known only under
    the lock. :func:`row_hash` is the plain recipe; the tests check that both give the same hashes.
    """

    record: dict[str, Any]
    head: str
    middle: str
    tail: str
    values: tuple[Any, ...]


def _prepare(entry: LogEntry) -> _Prepared:
    record = _entry_record(entry)
    inputs = _CANONICAL(record["inputs"])
    explanation = _CANONICAL(record["explanation"]) if record["explanation"] else "[]"
    decision_id = record["decision_id"]
    head = (
        f'{{"audit_sha256":{_json_optional(record["audit_sha256"])}'
        f',"base_value":{_json_float(record["base_value"])}'
        f',"case_id":{_json_text(record["case_id"])}'
        f',"control":{_json_bool(record["control"])}'
        f',"control_draw":{_json_float(record["control_draw"])}'
        ',"created_at":'
    )
    middle = (
        f',"decision_id":{"null" if decision_id is None else int.__repr__(decision_id)}'
        f',"explanation":{explanation},"id":'
    )
    tail = (
        f',"inputs":{inputs}'
        f',"margin_scale":{_json_text(record["margin_scale"])}'
        f',"model_name":{_json_text(record["model_name"])}'
        f',"model_version":{_json_text(record["model_version"])}'
        f',"request_id":{_json_text(record["request_id"])}'
        f',"scan":{_json_text(record["scan"])}'
        f',"score":{_json_float(record["score"])}'
        f',"signal":{_json_bool(record["signal"])}'
        f',"source":{_json_text(record["source"])}'
        f',"threshold":{_json_float(record["threshold"])}}}'
    )
    values = (  # in the order of _VALUE_COLUMNS
        record["request_id"],
        record["case_id"],
        record["scan"],
        record["model_name"],
        record["model_version"],
        record["audit_sha256"],
        decision_id,
        inputs,
        record["score"],
        record["threshold"],
        record["signal"],
        record["control"],
        record["control_draw"],
        explanation,
        record["base_value"],
        record["margin_scale"],
        record["source"],
    )
    return _Prepared(record, head, middle, tail, values)


@dataclass(frozen=True, kw_only=True)
class BatchColumns:
    """Many scored cases of one model, column by column: the batch scorer's input to
    :meth:`ServingStore.append_batch`.

    What is the same for every row (scan, model, threshold, ...) is given once. ``inputs`` maps each
    input name to its column (a numpy array or a list of values, see :func:`canonical_inputs`);
    ``explanations`` maps a row position to that row's ``(explanation, base_value)``, for the explained
    rows only. Every row is logged with ``source="batch"``.
    """

    scan: str
    model_name: str
    model_version: str
    threshold: float
    margin_scale: str
    audit_sha256: str | None
    decision_id: int | None
    case_ids: Sequence[str]
    inputs: Mapping[str, Sequence[Any] | np.ndarray]
    scores: np.ndarray
    signal: np.ndarray
    control: np.ndarray
    control_draws: np.ndarray
    explanations: Mapping[int, tuple[Sequence[Mapping[str, Any]], float | None]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.case_ids)


@dataclass(slots=True)
class _Serialised:
    """Rows ready for the chain: ``head``/``middle``/``tail`` of each row's canonical JSON (see
    :class:`_Prepared`) and the 17 value columns in the order of ``_VALUE_COLUMNS`` (a column may be an
    endless ``repeat`` of a constant)."""

    heads: list[str]
    middles: list[str]
    tails: list[str]
    columns: list[Iterable[Any]]


def _column_check(name: str, values: object, rows: int, kind: str) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != (rows,):
        raise InvalidInput(f"{name} must hold one value per row ({rows}), got shape {array.shape}")
    if array.dtype.kind not in kind:
        raise InvalidInput(
            f"{name} must be {'True or False' if kind == 'b' else 'numbers'}, got {array.dtype}"
        )
    return array


def _serialise_batch(columns: BatchColumns, start: int, stop: int) -> tuple[_Serialised, list[str]]:
    """Rows ``start:stop`` of a batch validated and serialised; also returns their new request ids."""
    rows = stop - start
    # What every row shares is checked once, by the same rules as a LogEntry.
    shared = _entry_record(
        LogEntry(
            case_id="-",
            scan=columns.scan,
            model_name=columns.model_name,
            model_version=columns.model_version,
            inputs={},
            score=0.0,
            threshold=columns.threshold,
            signal=False,
            control=False,
            control_draw=0.0,
            margin_scale=columns.margin_scale,
            source="batch",
            audit_sha256=columns.audit_sha256,
            decision_id=columns.decision_id,
        )
    )
    total = len(columns.case_ids)
    scores = _column_check("scores", columns.scores, total, "iuf")[start:stop].astype(np.float64)
    draws = _column_check("control_draws", columns.control_draws, total, "iuf")[start:stop].astype(np.float64)
    signal = _column_check("signal", columns.signal, total, "b")[start:stop]
    control = _column_check("control", columns.control, total, "b")[start:stop]
    bad = np.flatnonzero(~np.isfinite(scores))
    if len(bad):
        row = int(bad[0])
        raise InvalidInput(f"score must be a finite number, got {float(scores[row])!r} (row {start + row})")
    bad = np.flatnonzero(~((draws >= 0.0) & (draws < 1.0)))
    if len(bad):
        row = int(bad[0])
        raise InvalidInput(f"control_draw must lie in [0, 1), got {float(draws[row])!r} (row {start + row})")
    case_ids = [_text("case_id", case_id, _NAME_LENGTH) for case_id in columns.case_ids[start:stop]]
    inputs = canonical_inputs({name: values[start:stop] for name, values in columns.inputs.items()}, rows)
    explanations = ["[]"] * rows
    base_values: list[float | None] = [None] * rows
    for position, (explanation, base_value) in columns.explanations.items():
        if (
            isinstance(position, bool)
            or not isinstance(position, int | np.integer)
            or not 0 <= position < total
        ):
            raise InvalidInput(f"explanations has row {position!r}, which is not a row of this batch")
        if start <= position < stop:
            row = int(position) - start
            items = _explanation(explanation)
            if items:
                explanations[row] = _CANONICAL(items)
            base_values[row] = None if base_value is None else _number("base_value", base_value)
    request_ids = new_request_ids(rows)
    score_list, draw_list = scores.tolist(), draws.tolist()
    signal_list, control_list = signal.tolist(), control.tolist()
    audit, decision_id = shared["audit_sha256"], shared["decision_id"]
    head_start = f'{{"audit_sha256":{_json_optional(audit)},"base_value":'
    middle_start = (
        f',"decision_id":{"null" if decision_id is None else int.__repr__(decision_id)},"explanation":'
    )
    before_request_id = (
        f',"margin_scale":{_json_text(shared["margin_scale"])}'
        f',"model_name":{_json_text(shared["model_name"])}'
        f',"model_version":{_json_text(shared["model_version"])}'
        ',"request_id":"'
    )
    before_score = f'","scan":{_json_text(shared["scan"])},"score":'
    end = f',"source":"batch","threshold":{_json_float(shared["threshold"])}}}'
    heads = [
        f'{head_start}{_json_float(base)},"case_id":{_json_text(case_id)},"control":{_json_bool(flag)}'
        f',"control_draw":{float.__repr__(draw)},"created_at":'
        for base, case_id, flag, draw in zip(base_values, case_ids, control_list, draw_list, strict=True)
    ]
    middles = [f'{middle_start}{explanation},"id":' for explanation in explanations]
    tails = [
        f',"inputs":{text}{before_request_id}{request_id}{before_score}{float.__repr__(score)}'
        f',"signal":{_json_bool(flag)}{end}'
        for text, request_id, score, flag in zip(inputs, request_ids, score_list, signal_list, strict=True)
    ]
    values: list[Iterable[Any]] = [  # in the order of _VALUE_COLUMNS
        request_ids,
        case_ids,
        repeat(shared["scan"]),
        repeat(shared["model_name"]),
        repeat(shared["model_version"]),
        repeat(audit),
        repeat(decision_id),
        inputs,
        score_list,
        repeat(shared["threshold"]),
        signal_list,
        control_list,
        draw_list,
        explanations,
        base_values,
        repeat(shared["margin_scale"]),
        repeat("batch"),
    ]
    return _Serialised(heads, middles, tails, values), request_ids


# ------------------------------------------------------------------------------------------- store


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ServingStore:
    """Append and read decision-log rows, outcomes and API tokens. Opening a store migrates to head.

    There are no update or delete methods, and the database refuses them anyway. ``clock`` exists for
    tests that need to place records in time; it must return aware datetimes.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        sqlite_synchronous: str = "NORMAL",
        checkpoint_every: float | None = None,
    ) -> None:
        """``checkpoint_every`` (seconds, SQLite only) is for the long-running service: a background thread
        then copies the WAL back into the database file, so that no request pays for a checkpoint (they
        make up most of an append's tail latency otherwise). SQLite's automatic checkpoint stays on as a
        safety net, at ``SQLITE_SAFETY_CHECKPOINT_PAGES`` instead of 1,000 pages.
        """
        if sqlite_synchronous not in SQLITE_SYNCHRONOUS:
            raise InvalidInput(
                f"sqlite_synchronous must be one of {', '.join(map(repr, SQLITE_SYNCHRONOUS))}, "
                f"got {sqlite_synchronous!r}"
            )
        if checkpoint_every is not None and (
            isinstance(checkpoint_every, bool)
            or not isinstance(checkpoint_every, int | float)
            or not checkpoint_every > 0
        ):
            raise InvalidInput(
                f"checkpoint_every must be a positive number of seconds, got {checkpoint_every!r}"
            )
        self._engine = make_engine(url or home.database_url())
        self._postgres = self._engine.dialect.name == "postgresql"
        sqlite = self._engine.dialect.name == "sqlite"
        if sqlite:
            autocheckpoint = None if checkpoint_every is None else SQLITE_SAFETY_CHECKPOINT_PAGES
            _use_wal(self._engine, sqlite_synchronous, autocheckpoint)
        upgrade(self._engine)
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        if sqlite and checkpoint_every is not None:
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, args=(float(checkpoint_every),), name="riskscan-wal-checkpoint"
            )
            self._checkpointer.daemon = True
            self._checkpointer.start()
        self._clock = clock or _utcnow
        self._insert_sql = _insert_sql(self._engine.dialect.name)
        dialect = self._engine.dialect
        self._created_at_bind = _LOG.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)

    def _created_at_param(self, created_at: datetime) -> Any:
        """``created_at`` as the driver takes it (naive UTC text on SQLite), by the column's own type."""
        return created_at if self._created_at_bind is None else self._created_at_bind(created_at)

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        return self._engine

    def close(self) -> None:
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
        self._engine.dispose()

    def checkpoint(self) -> None:
        """SQLite: copy what the WAL holds back into the database file, without waiting for readers or
        writers (``PASSIVE``). Nothing to do on PostgreSQL."""
        if self._engine.dialect.name != "sqlite":
            return
        connection = self._engine.raw_connection()  # autocommit (make_engine), so outside any transaction
        try:
            cursor = connection.cursor()
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            cursor.fetchall()
            cursor.close()
        finally:
            connection.close()

    def _checkpoint_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.checkpoint()
            except Exception:  # a failed checkpoint loses nothing; the next one (or SQLite's own) catches up
                _log.warning("WAL checkpoint of %s failed", self.url, exc_info=True)

    def __enter__(self) -> ServingStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ServingStore({self.url!r})"

    def _now(self) -> datetime:
        now = self._clock()
        if not isinstance(now, datetime) or now.tzinfo is None:
            raise InvalidInput(f"clock returned {now!r}, not a datetime with a time zone")
        return now.astimezone(UTC)

    # ------------------------------------------------------------------------------------ decision log

    def append_score(self, entry: LogEntry) -> LoggedScore:
        """Append one row (the service, once per request). Raises if the row cannot be written."""
        return self.append_scores([entry])[0]

    def append_scores(self, rows: Sequence[LogEntry]) -> list[LoggedScore]:
        """Append rows to the chain, in the order given, in one transaction: all are written or none.

        Raises :class:`InvalidInput` for a row that is invalid or whose ``request_id`` is already logged,
        and lets any database error through: the caller must fail when the log cannot be written.

        Everything but ``id`` and ``created_at`` is validated and serialised before the lock is taken;
        under the lock only the chain is computed (string joins and SHA-256) and the rows are inserted,
        ``INSERT_CHUNK`` rows per executemany.
        """
        prepared = [_prepare(entry) for entry in rows]
        if not prepared:
            return []
        request_ids = [item.record["request_id"] for item in prepared]
        if len(set(request_ids)) != len(request_ids):
            seen: set[str] = set()
            for request_id in request_ids:
                if request_id in seen:
                    raise InvalidInput(f"request_id {request_id!r} appears more than once in this append")
                seen.add(request_id)
        serialised = _Serialised(
            [item.head for item in prepared],
            [item.middle for item in prepared],
            [item.tail for item in prepared],
            [list(column) for column in zip(*(item.values for item in prepared), strict=True)],
        )
        try:
            first_id, created_at, prev, digests = self._write_chain(serialised)
        except IntegrityError as exc:
            self._explain_refusal(exc, [item.record for item in prepared])
            raise
        if len(prepared) >= INSERT_CHUNK:
            self.checkpoint()  # a batch pays for checkpointing its own rows, not the next API request
        logged = []
        for row_id, item, digest in zip(
            range(first_id, first_id + len(prepared)), prepared, digests, strict=True
        ):
            record = item.record
            record["id"] = row_id
            record["created_at"] = created_at
            record["prev_hash"] = prev
            record["row_hash"] = prev = digest
            logged.append(LoggedScore._from_record(record))
        return logged

    def append_batch(
        self,
        columns: BatchColumns,
        *,
        chunk_rows: int = INSERT_CHUNK,
        progress: Callable[[int], object] | None = None,
    ) -> list[str]:
        """Append a batch job's rows to the chain, ``chunk_rows`` per transaction; returns their request ids.

        The same rows, checks and hashes as :meth:`append_scores` with one :class:`LogEntry` per row (a
        test checks that), without building an entry and a :class:`LoggedScore` per row: shared fields are
        checked once, the columns vectorised, and ``inputs`` serialised column by column. Each chunk is
        validated and serialised before its write lock is taken, so the lock is held only for the chain
        and the insert; ``progress`` is called with the number of rows after each chunk.

        All rows are written in order, or an exception is raised: the chunks before the failing one stay
        in the log (they are valid, chained rows), and the caller must not release any score.
        """
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise InvalidInput(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
        request_ids: list[str] = []
        total = len(columns)
        for start in range(0, total, chunk_rows):
            stop = min(start + chunk_rows, total)
            serialised, ids = _serialise_batch(columns, start, stop)
            try:
                self._write_chain(serialised, bulk=True)
            except IntegrityError as exc:
                self._explain_refusal(
                    exc, [{"request_id": key, "decision_id": columns.decision_id} for key in ids]
                )
                raise
            if stop - start >= INSERT_CHUNK:
                self.checkpoint()
            request_ids += ids
            if progress is not None:
                progress(stop - start)
        return request_ids

    def _write_chain(self, rows: _Serialised, *, bulk: bool = False) -> tuple[int, datetime, str, list[str]]:
        """Under the append lock: read the last link, hash the rows in order onto it, insert them.

        Returns the first new id, the ``created_at`` of all rows, the ``prev_hash`` of the first row and
        the ``row_hash`` of every row. ``bulk`` (a batch job) gives the SQLite connection a larger page cache.
        """
        with write_transaction(self._engine) as connection:
            if self._postgres:
                connection.execute(_LOCK_APPENDS)
            elif bulk:
                connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_BULK_CACHE_KIB}")
            last = connection.execute(_LAST_LINK).first()
            last_id, prev = (0, GENESIS_HASH) if last is None else (int(last[0]), str(last[1]))
            first_id, first_prev = last_id + 1, prev
            created_at = self._now()
            stamp = _json_text(created_at.isoformat())
            sha256 = hashlib.sha256
            digests = []
            for row_id, head, middle, tail in zip(
                range(first_id, first_id + len(rows.heads)), rows.heads, rows.middles, rows.tails, strict=True
            ):
                prev = sha256(f"{prev}{head}{stamp}{middle}{row_id}{tail}".encode()).hexdigest()
                digests.append(prev)
            count = len(digests)
            params = list(
                zip(
                    range(first_id, first_id + count),
                    repeat(self._created_at_param(created_at), count),
                    [first_prev, *digests[:-1]],
                    digests,
                    *rows.columns,
                    strict=False,  # some columns are an endless repeat of a constant
                )
            )
            if count == 1:
                connection.exec_driver_sql(self._insert_sql, params[0])
            elif self._postgres:
                _copy_rows(connection, params)
            else:
                for start in range(0, count, INSERT_CHUNK):
                    connection.exec_driver_sql(self._insert_sql, params[start : start + INSERT_CHUNK])
        return first_id, created_at, first_prev, digests

    def _explain_refusal(self, exc: IntegrityError, records: Sequence[Mapping[str, Any]]) -> None:
        """Turn the likely integrity errors into a sentence; anything else is re-raised as it was."""
        message = str(exc.orig)
        with self._engine.connect() as connection:
            if "request_id" in message:
                wanted = [record["request_id"] for record in records]
                for start in range(0, len(wanted), INSERT_CHUNK):
                    chunk = wanted[start : start + INSERT_CHUNK]
                    taken = connection.scalars(select(_LOG.c.request_id).where(_LOG.c.request_id.in_(chunk)))
                    first = taken.first()
                    if first is not None:
                        raise InvalidInput(f"request_id {first!r} is already logged") from exc
            if "FOREIGN KEY" in message or "decision_id" in message:
                decisions = Base.metadata.tables["committee_decisions"]
                cited = sorted({record["decision_id"] for record in records} - {None})
                known = set(connection.scalars(select(decisions.c.id).where(decisions.c.id.in_(cited))))
                missing = [decision for decision in cited if decision not in known]
                if missing:
                    raise InvalidInput(f"decision_id {missing[0]} does not exist") from exc

    def get_score(self, request_id: str) -> LoggedScore | None:
        try:
            request_id = _request_id(request_id)
        except InvalidInput:
            return None
        with self._engine.connect() as connection:
            row = connection.execute(select(_LOG).where(_LOG.c.request_id == request_id)).first()
        return None if row is None else LoggedScore.from_row(row)

    def verify_chain(self, *, batch_size: int = 50_000) -> ChainReport:
        """Recompute every row hash in id order, ``batch_size`` rows at a time.

        Checks, per row: the id follows the previous one (a gap means removed rows), ``prev_hash`` is the
        previous row's ``row_hash`` (the link), and ``row_hash`` matches the row's contents. Stops at the
        first problem. Rows appended while it runs are not checked (it stops at the last id it saw first).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInput(f"batch_size must be a positive integer, got {batch_size!r}")
        with self._engine.connect() as connection:
            last_id = connection.scalar(select(func.max(_LOG.c.id)))
        checked, prev_id, prev_hash = 0, 0, GENESIS_HASH

        def report(broken_id: int | None = None, problem: str | None = None) -> ChainReport:
            return ChainReport(
                ok=problem is None,
                rows_checked=checked,
                first_broken_id=broken_id,
                problem=problem,
                head_id=prev_id or None,
                head_hash=prev_hash,
            )

        if last_id is None:
            return report()
        query = select(_LOG).order_by(_LOG.c.id).limit(batch_size)
        while prev_id < last_id:
            with self._engine.connect() as connection:
                rows = connection.execute(query.where(_LOG.c.id > prev_id, _LOG.c.id <= last_id)).all()
            if not rows:
                break
            for row in rows:
                values = row._mapping
                row_id = values["id"]
                if row_id != prev_id + 1:
                    missing = (
                        f"id {prev_id + 1}" if row_id == prev_id + 2 else f"ids {prev_id + 1}..{row_id - 1}"
                    )
                    return report(row_id, f"gap: {missing} missing before id {row_id} (rows were removed)")
                if values["prev_hash"] != prev_hash:
                    return report(
                        row_id,
                        f"link broken: prev_hash {values['prev_hash']} is not the row_hash of "
                        + ("the start of the chain" if prev_id == 0 else f"id {prev_id}")
                        + f" ({prev_hash})",
                    )
                try:
                    expected = row_hash(prev_hash, {name: values[name] for name in _HASHED_COLUMNS})
                except (TypeError, ValueError) as exc:
                    return report(row_id, f"hash mismatch: the row cannot be hashed ({exc})")
                if not hmac.compare_digest(expected, values["row_hash"]):
                    return report(
                        row_id,
                        f"hash mismatch: row_hash {values['row_hash']} does not match the row's contents "
                        f"({expected}); the row was changed after it was written",
                    )
                prev_id, prev_hash = row_id, values["row_hash"]
                checked += 1
        if prev_id != last_id:
            return report(last_id, f"gap: ids after {prev_id} up to {last_id} are missing")
        return report()

    def _case_query(self, scan: str) -> Select[Any]:
        return case_query(scan)

    def cases(
        self,
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
        query = self._case_query(scan)
        if model_version is not None:
            query = query.where(_LOG.c.model_version == model_version)
        for name, moment in (("start", start), ("end", end)):
            if moment is not None and (not isinstance(moment, datetime) or moment.tzinfo is None):
                raise InvalidInput(f"{name} must be a datetime with a time zone, got {moment!r}")
        if start is not None:
            query = query.where(_LOG.c.created_at >= start)
        if end is not None:
            query = query.where(_LOG.c.created_at < end)
        if signal_only:
            query = query.where(_SELECTED)
        query = query.order_by(_LOG.c.created_at, _LOG.c.id)  # created_at is stamped in id order
        if limit is not None:
            query = query.limit(_limit(limit))
        with self._engine.connect() as connection:
            return [_case_row(row) for row in connection.execute(query)]

    def worklist(self, scan: str, limit: int) -> list[CaseRow]:
        """Open cases (selected for investigation, no outcome yet): the control sample first, then signals
        by score, highest first.

        The random control sample comes first because it is only unbiased if *all* of it is investigated;
        ranked by score, its low-scoring cases would fall below the capacity line and never be done.
        """
        has_outcome = exists().where(_OUTCOMES.c.request_id == _LOG.c.request_id)
        query = (
            self._case_query(scan)
            .where(_SELECTED, ~has_outcome)
            .order_by(_LOG.c.control.desc(), _LOG.c.score.desc(), _LOG.c.id.desc())
            .limit(_limit(limit))
        )
        with self._engine.connect() as connection:
            return [_case_row(row) for row in connection.execute(query)]

    # ---------------------------------------------------------------------------------------- outcomes

    def record_outcome(
        self,
        *,
        request_id: str,
        violation: bool,
        sanction: str | None,
        hoor_en_wederhoor: bool,
        investigator: str,
        notes: str = "",
    ) -> OutcomeRecord:
        """Append the result of an investigation; a later outcome for the same request supersedes it."""
        investigator = _text("investigator", investigator, _NAME_LENGTH)
        violation = _flag("violation", violation)
        hoor_en_wederhoor = _flag("hoor_en_wederhoor", hoor_en_wederhoor)
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
                f"sanction {sanction!r} given with violation False; a sanction is recorded only with a "
                "violation"
            )
        try:
            key = _request_id(request_id)
        except InvalidInput:
            raise NotFound(f"no scored case with request_id {request_id!r}") from None
        with write_transaction(self._engine) as connection:
            case = connection.execute(
                select(_LOG.c.case_id, _LOG.c.scan).where(_LOG.c.request_id == key)
            ).first()
            if case is None:
                raise NotFound(f"no scored case with request_id {request_id!r}")
            created_at = self._now()
            values: dict[str, Any] = {
                "request_id": key,
                "violation": violation,
                "sanction": sanction,
                "hoor_en_wederhoor": hoor_en_wederhoor,
                "investigator": investigator,
                "notes": notes,
                "created_at": created_at,
            }
            outcome_id = connection.execute(insert(_OUTCOMES).returning(_OUTCOMES.c.id), values).scalar_one()
        return OutcomeRecord(
            id=outcome_id,
            request_id=key,
            case_id=case.case_id,
            scan=case.scan,
            violation=violation,
            sanction=sanction,
            hoor_en_wederhoor=hoor_en_wederhoor,
            investigator=investigator,
            notes=notes,
            created_at=created_at,
        )

    def outcomes(self, scan: str | None = None, *, latest_only: bool = False) -> list[OutcomeRecord]:
        """Outcomes in the order recorded; ``latest_only`` drops the superseded ones."""
        query = select(_OUTCOMES, _LOG.c.case_id, _LOG.c.scan).join(
            _LOG, _LOG.c.request_id == _OUTCOMES.c.request_id
        )
        if scan is not None:
            query = query.where(_LOG.c.scan == scan)
        if latest_only:
            later = _OUTCOMES.alias("later")
            query = query.where(
                ~exists().where(later.c.request_id == _OUTCOMES.c.request_id, later.c.id > _OUTCOMES.c.id)
            )
        with self._engine.connect() as connection:
            return [
                OutcomeRecord(**row._mapping) for row in connection.execute(query.order_by(_OUTCOMES.c.id))
            ]

    # ------------------------------------------------------------------------------------------ tokens

    def create_token(self, *, name: str, role: str) -> tuple[str, TokenRecord]:
        """A new token for ``role``. The plain token is returned here, once; the store keeps its SHA-256."""
        name = _text("name", name, _NAME_LENGTH)
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(map(repr, ROLES))}, got {role!r}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with write_transaction(self._engine) as connection:
            created_at = self._now()
            token_id = connection.execute(
                insert(_TOKENS).returning(_TOKENS.c.id),
                {"name": name, "role": role, "token_hash": _token_hash(token), "created_at": created_at},
            ).scalar_one()
        return token, TokenRecord(id=token_id, name=name, role=role, created_at=created_at)

    def authenticate(self, token: str) -> TokenRecord | None:
        """The token's record, or None for an unknown or revoked token."""
        if not isinstance(token, str) or not token:
            return None
        digest = _token_hash(token)
        query = _token_query().where(_TOKENS.c.token_hash == digest)
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        record = _token_record(row)
        return record if record.active else None

    def revoke_token(self, token_id: int, reason: str) -> None:
        """Take a token out of use, for good: a revocation row, never an edit."""
        if isinstance(token_id, bool) or not isinstance(token_id, int):
            raise InvalidInput(f"token_id must be an integer, got {token_id!r}")
        reason = _text("reason", reason)
        with write_transaction(self._engine) as connection:
            row = connection.execute(_token_query().where(_TOKENS.c.id == token_id)).first()
            if row is None:
                raise InvalidInput(f"no API token with id {token_id}")
            if row.revoked_at is not None:
                raise InvalidInput(f"API token {token_id} ({row.name!r}) is already revoked")
            connection.execute(
                insert(_REVOCATIONS), {"token_id": token_id, "reason": reason, "created_at": self._now()}
            )

    def tokens(self) -> list[TokenRecord]:
        """Every token ever made, revoked ones included, oldest first."""
        with self._engine.connect() as connection:
            return [_token_record(row) for row in connection.execute(_token_query().order_by(_TOKENS.c.id))]


# ------------------------------------------------------------------------------------------- helpers


def _use_wal(engine: Engine, synchronous: str, autocheckpoint: int | None) -> None:
    """WAL and ``synchronous`` for every new connection (after make_engine's own connect hook)."""

    @event.listens_for(engine, "connect")
    def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode = WAL")  # persistent in the file; a no-op for :memory:
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        # Bulk appends insert keys all over some indexes (the partial index by score); the default 2 MiB
        # page cache makes that thrash once the log has a few hundred thousand rows. Pages are only
        # allocated when used, so an idle pooled connection stays small.
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        if autocheckpoint is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint = {autocheckpoint}")
        cursor.close()


def _limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(f"limit must be a positive integer, got {limit!r}")
    return limit


def _case_row(row: Row[Any]) -> CaseRow:
    values = row._mapping
    outcome = None
    if values["outcome_id"] is not None:
        outcome = OutcomeRecord(
            id=values["outcome_id"],
            request_id=values["request_id"],
            case_id=values["case_id"],
            scan=values["scan"],
            violation=values["violation"],
            sanction=values["sanction"],
            hoor_en_wederhoor=values["hoor_en_wederhoor"],
            investigator=values["investigator"],
            notes=values["notes"],
            created_at=values["outcome_created_at"],
        )
    if outcome is not None:
        status = outcome.status
    elif values["signal"] or values["control"]:
        status = STATUS_OPEN
    else:
        status = STATUS_NO_SIGNAL
    return CaseRow(
        id=values["id"],
        request_id=values["request_id"],
        case_id=values["case_id"],
        scan=values["scan"],
        model_name=values["model_name"],
        model_version=values["model_version"],
        score=values["score"],
        threshold=values["threshold"],
        signal=values["signal"],
        control=values["control"],
        source=values["source"],
        created_at=values["created_at"],
        status=status,
        outcome=outcome,
    )


def _outcome_record(row: Row[Any]) -> OutcomeRecord:
    return OutcomeRecord(
        id=row.id,
        request_id=row.request_id,
        case_id=row.case_id,
        scan=row.scan,
        violation=row.violation,
        sanction=row.sanction,
        hoor_en_wederhoor=row.hoor_en_wederhoor,
        investigator=row.investigator,
        notes=row.notes,
        created_at=row.created_at,
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _token_query() -> Select[Any]:
    return select(
        _TOKENS.c.id,
        _TOKENS.c.name,
        _TOKENS.c.role,
        _TOKENS.c.token_hash,
        _TOKENS.c.created_at,
        _REVOCATIONS.c.created_at.label("revoked_at"),
        _REVOCATIONS.c.reason.label("revocation_reason"),
    ).select_from(_TOKENS.outerjoin(_REVOCATIONS, _REVOCATIONS.c.token_id == _TOKENS.c.id))


def _token_record(row: Row[Any]) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        name=row.name,
        role=row.role,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        revocation_reason=row.revocation_reason,
    )


__all__ = [
    "GENESIS_HASH",
    "ROLES",
    "BatchColumns",
    "CaseRow",
    "ChainReport",
    "LogEntry",
    "LoggedScore",
    "OutcomeRecord",
    "ServingStore",
    "TokenRecord",
    "canonical_inputs",
    "new_request_ids",
    "row_hash",
]


def case_query(scan: str, *, with_inputs: bool = False) -> Select[Any]:
    """Every logged case of ``scan`` with its latest outcome (a later outcome for the same request
    supersedes an earlier one): the query behind the case list, the worklist and ``serving.history``."""
    latest = _OUTCOMES.alias("latest")
    later = _OUTCOMES.alias("later")
    newest_only = ~exists().where(later.c.request_id == latest.c.request_id, later.c.id > latest.c.id)
    columns: list[Any] = [
        _LOG.c.id,
        _LOG.c.request_id,
        _LOG.c.case_id,
        _LOG.c.scan,
        _LOG.c.model_name,
        _LOG.c.model_version,
        _LOG.c.score,
        _LOG.c.threshold,
        _LOG.c.signal,
        _LOG.c.control,
        _LOG.c.source,
        _LOG.c.created_at,
        latest.c.id.label("outcome_id"),
        latest.c.violation,
        latest.c.sanction,
        latest.c.hoor_en_wederhoor,
        latest.c.investigator,
        latest.c.notes,
        latest.c.created_at.label("outcome_created_at"),
    ]
    if with_inputs:
        columns.append(_LOG.c.inputs)
    return (
        select(*columns)
        .select_from(_LOG.outerjoin(latest, (latest.c.request_id == _LOG.c.request_id) & newest_only))
        .where(_LOG.c.scan == scan)
    )
