"""The database platform every stage shares: engines, transactions, the UTC column type, the declarative
``Base``, the migration runner and the validators that every evidence record uses.

Why it is built the way it is:

- **One database, one Base.** Committee decisions, promotions and withdrawals (``models/``) and the
  decision log, outcomes and tokens (``serving/``) live in one database, so that a decision log row can
  cite the committee decision it was served under with a real foreign key. Each stage declares its own
  tables on the :class:`Base` defined here, so no stage imports another stage's store to get at it.
- **The schema changes only through Alembic revisions** in ``riskscan/migrations/versions`` (``0001_…``,
  ``0002_…``). The ORM classes in the stages mirror the revisions for querying; the dialect-specific parts
  (JSON checks, triggers) exist only in the migrations. Revisions are written by hand: the migration
  environment does not import the stages, so ``alembic revision --autogenerate`` sees no tables.
- **Every timestamp is timezone-aware UTC.** SQLite has no time zones, so it stores naive UTC and
  :class:`UTCDateTime` puts ``tzinfo=UTC`` back on read; a naive timestamp is refused on write.
- **The validators raise** :class:`~riskscan.errors.InvalidInput` naming the field and the value, the
  same way for every record, so a committee decision and a decision-log row refuse an empty name alike.
- **A record is its dataclass.** Every evidence record (a committee decision, a logged score, an outcome,
  a token) derives from :class:`Record`, which reads the record's fields to give its dict form and to
  read it from a database row, so neither is written out by hand next to the field list.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from types import MappingProxyType, NoneType, UnionType
from typing import Any, ClassVar, Final, Self

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, Connection, DateTime, Dialect, Engine, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from riskscan import home
from riskscan.errors import InvalidInput

MIGRATIONS_DIR: Final = Path(__file__).with_name("migrations")

SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
_SQLITE_BEGIN: Final = "riskscan_sqlite_begin"  # execution option read by the "begin" hook in make_engine
#: How a write transaction begins on SQLite: with the write lock, so read-check-insert sequences serialise.
SQLITE_WRITE_BEGIN: Final = "BEGIN IMMEDIATE"
WRITE_OPTIONS: Final = {_SQLITE_BEGIN: SQLITE_WRITE_BEGIN}

#: Lengths shared by every table: names of people, models and cases; short keys such as scan ids.
NAME_LENGTH: Final = 200
KEY_LENGTH: Final = 64
_SHA256 = re.compile(r"[0-9a-f]{64}")


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

    A pooled PostgreSQL connection is pinged before use, so one the server closed meanwhile is replaced
    instead of failing a request. A SQLite connection is a file opened in this process and cannot go stale:
    the ping would be a ``SELECT 1`` before every append of the service for nothing (0.01 ms of CPU).
    """
    parsed = normalise_url(url or home.database_url())
    engine = create_engine(parsed, pool_pre_ping=parsed.get_backend_name() != "sqlite")
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
    with engine.execution_options(**WRITE_OPTIONS).begin() as connection:
        yield connection


class Store:
    """What every evidence store shares: the engine of one database, its clock, and closing.

    A subclass makes the engine (:func:`make_engine`, plus any settings of its own), migrates it
    (:func:`upgrade`) and hands it here. ``clock`` exists for tests that need to place records in time; it
    must return aware datetimes, and :meth:`_now` gives its reading in UTC.
    """

    def __init__(self, engine: Engine, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def _now(self) -> datetime:
        now = self._clock()
        if not isinstance(now, datetime) or now.tzinfo is None:
            raise InvalidInput(f"clock returned {now!r}, not a datetime with a time zone")
        return now.astimezone(UTC)


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
    assert head is not None, "riskscan/migrations/versions holds no revision"
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
def migration_transaction(engine: Engine) -> Iterator[Connection]:
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
            with connection.execution_options(**WRITE_OPTIONS).begin():
                yield connection
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(
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
    with _engine_for(url) as engine, migration_transaction(engine) as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(url: str | URL | Engine | None, revision: str) -> None:
    """For developers and tests. Revision 0001 refuses to drop tables that still hold records."""
    with _engine_for(url) as engine, migration_transaction(engine) as connection:
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
            raise InvalidInput(f"timestamp {value!r} has no time zone")
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


# ------------------------------------------------------------------------------------------ validators


def utcnow() -> datetime:
    """Now, timezone-aware UTC: the default clock of every store."""
    return datetime.now(UTC)


def iso(value: date | datetime | None) -> str | None:
    """ISO 8601 text for JSON, or None."""
    return None if value is None else value.isoformat()


def text_field(field: str, value: object, max_length: int | None = None) -> str:
    """Non-empty text, stripped of surrounding space; refused naming ``field`` and the value otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must be non-empty text, got {value!r}")
    value = value.strip()
    if max_length is not None and len(value) > max_length:
        raise InvalidInput(f"{field} {value!r} is longer than {max_length} characters")
    return value


def sha256_field(field: str, value: object) -> str:
    """A SHA-256 digest as 64 lowercase hexadecimal characters (upper case and surrounding space accepted)."""
    if not isinstance(value, str) or not _SHA256.fullmatch(value.strip().lower()):
        raise InvalidInput(f"{field} must be 64 hexadecimal characters, got {value!r}")
    return value.strip().lower()


# --------------------------------------------------------------------------------------------- records


class Record:
    """The base of every evidence record: a frozen dataclass whose dict form and row mapping are read off
    its fields.

    - :meth:`as_dict` is JSON-ready: dates and datetimes as ISO 8601 text, tuples and lists as lists,
      mappings as plain dicts, nested records as their own dicts.
    - :meth:`from_row` reads a database row (a SQLAlchemy ``Row``, a mapping or an ORM object). Each field
      reads the column of its own name, or the one named by ``column`` in the field's metadata. A field
      annotated as a tuple gets a tuple, one annotated as a ``Mapping`` a read-only mapping, and so do
      the mappings a tuple holds (one level deep: the record is evidence, and should not be edited by
      accident; the values inside stay as the database gave them). ``read`` in the metadata replaces
      that conversion with a function of its own.

    >>> from dataclasses import dataclass, field
    >>> @dataclass(frozen=True)
    ... class Example(Record):
    ...     id: int
    ...     version: str = field(metadata={"column": "model_version"})
    ...     names: tuple[str, ...]
    ...     valid_until: date
    >>> row = {"id": 1, "model_version": "3", "names": ["A"], "valid_until": date(2026, 9, 1)}
    >>> Example.from_row(row)
    Example(id=1, version='3', names=('A',), valid_until=datetime.date(2026, 9, 1))
    >>> Example.from_row(row).as_dict()
    {'id': 1, 'version': '3', 'names': ['A'], 'valid_until': '2026-09-01'}
    """

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ISO 8601 dates, lists for tuples, plain dicts for mappings and nested records."""
        return {name: _json_ready(getattr(self, name)) for name in _field_names(type(self))}

    @classmethod
    def from_row(cls, row: Any, /, **values: Any) -> Self:
        """The record held by ``row``; fields given in ``values`` are taken as they are instead."""
        mapping = getattr(row, "_mapping", row)
        get = mapping.__getitem__ if isinstance(mapping, dict | Mapping) else functools.partial(getattr, row)
        fields = {}
        for name, column, convert in _reading_plan(cls):
            if name in values:
                fields[name] = values[name]
            else:
                value = get(column)
                fields[name] = value if convert is None else convert(value)
        return cls(**fields)


def _json_ready(value: Any) -> Any:
    if isinstance(value, Record):
        return value.as_dict()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_json_ready(item) for item in value]
    return value


_Plan = tuple[tuple[str, str, Callable[[Any], Any] | None], ...]
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}  # worked out once per record class
_READING_PLANS: dict[type, _Plan] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(item.name for item in dataclasses.fields(cls))
    return names


def _read_only(value: Any) -> Any:
    return MappingProxyType(value) if isinstance(value, Mapping) else value


def _read_only_items(value: Any) -> Any:
    return value if value is None else tuple(map(_read_only, value))


def _converter(annotation: Any) -> Callable[[Any], Any] | None:
    """How a column value becomes a field value of this type (``X | None`` as ``X``; None stays None);
    None where it is taken as it is."""
    if isinstance(annotation, UnionType) or typing.get_origin(annotation) is typing.Union:
        kinds = [kind for kind in typing.get_args(annotation) if kind is not NoneType]
        annotation = kinds[0] if len(kinds) == 1 else Any
    origin = typing.get_origin(annotation) or annotation
    if origin is tuple:
        return _read_only_items
    if isinstance(origin, type) and issubclass(origin, Mapping):
        return _read_only
    return None


def _reading_plan(cls: type) -> _Plan:
    """Per field: its name, the column it reads and the conversion."""
    plan = _READING_PLANS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = _READING_PLANS[cls] = tuple(
            (
                item.name,
                item.metadata.get("column", item.name),
                item.metadata.get("read") or _converter(hints[item.name]),
            )
            for item in dataclasses.fields(cls)
        )
    return plan
