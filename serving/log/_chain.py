"""The chain: appending rows under the append lock, reading them, and verifying every hash.

Appends are serialised so the chain stays linear: ``BEGIN IMMEDIATE`` on SQLite, a transaction-level
advisory lock on PostgreSQL, and the last hash is read *inside* that transaction each time (one primary-key
lookup), so several processes can append to one database. As a backstop, the ids are assigned as last
id + 1: two appends that somehow raced past the lock would collide on the primary key rather than fork
the chain.

Batch scoring
-------------
:meth:`DecisionLog.append` writes all its rows in one transaction, which holds the write lock for the whole
append. A batch job uses :meth:`DecisionLog.append_batch` instead: the same rows and hashes, given column
by column (:class:`BatchColumns`), written in chunks of its own transaction each so that the service's
requests on the same database are not held up for long, and several times faster, because nothing is
built or checked per row that can be built or checked per column. Either way the rows are checked and
encoded before the lock is taken; under the lock only the chain is computed (string joins and SHA-256)
and the rows are inserted.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from itertools import repeat
from typing import Any, Final

import psycopg
from sqlalchemy import Connection, Engine, PoolProxiedConnection, column, literal, select, table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError

from riskscan.chain import GENESIS_HASH, Chain, ChainReport
from riskscan.db import SQLITE_WRITE_BEGIN, WRITE_OPTIONS
from riskscan.errors import Conflict, InvalidInput, NotFound
from serving.log import _encode
from serving.log._batch import BatchColumns, CheckedBatch
from serving.log._encode import Columns, Encoded, json_text, logged_scores, row_hash
from serving.log._fields import INSERT_COLUMNS, LogEntry, LoggedScore
from serving.log._recipe import RECIPE_FIELDS
from serving.log._tables import LOG
from serving.log._values import positive_int_field, request_id_field
from serving.log._verify import RecipeChecks

INSERT_CHUNK: Final = 10_000
#: A batch job checkpoints SQLite's WAL once per this many rows (and after its last chunk) instead of at
#: every chunk's commit: SQLite's automatic checkpoint would copy the pages back into the database file,
#: and fsync it, after almost every 5,000-row chunk, writing the same index pages again each time.
#: Durability is the same: a chunk is durable at its commit, in the WAL; a checkpoint only moves pages.
BULK_CHECKPOINT_ROWS: Final = 50_000
#: The page cache of the connection a batch job appends with: the partial index of selected cases takes
#: keys in score order, spread over the whole index, and each key that misses the cache costs a page read.
#: (Until revision 0003 the unique index on ``row_hash`` took random SHA-256 keys too, and cost half the time.)
SQLITE_BULK_CACHE_KIB: Final = 262_144

#: The PostgreSQL advisory lock that serialises appends to the decision log: a constant 64-bit key, the
#: first 8 bytes of sha256("riskscan.decision_log"). Other locks in this database use other keys.
APPEND_LOCK_KEY: Final = int.from_bytes(
    hashlib.sha256(b"riskscan.decision_log").digest()[:8], "big", signed=True
)

#: The decision log as a chain of :mod:`riskscan.chain`: its own recipe (the row's ``id`` is hashed too, see
#: the package docstring; :func:`row_hash` picks recipe 1 or 2 by the row's ``hash_recipe``, so ``fields``
#: are those of both), dense ids, so a gap in the ids is reported as removed rows, and the checks of the
#: recipes, seals and erasures (:class:`serving.log._verify.RecipeChecks`).
LOG_CHAIN: Final = Chain(
    LOG,
    fields=tuple(dict.fromkeys((*RECIPE_FIELDS[1], *RECIPE_FIELDS[2]))),
    recipe=row_hash,
    dense_ids=True,
    row_checks=RecipeChecks.read,
)

_LAST_LINK = select(LOG.c.id, LOG.c.row_hash).order_by(LOG.c.id.desc()).limit(1)
_LOCK_APPENDS = text(f"SELECT pg_advisory_xact_lock({APPEND_LOCK_KEY})")
#: The same, as the driver takes them (the service's path, :meth:`DecisionLog._chain_on_driver`).
_LAST_LINK_SQL: Final = "SELECT id, row_hash FROM decision_log ORDER BY id DESC LIMIT 1"
_DECISIONS = table("committee_decisions", column("id"))
_JSON_COLUMNS: Final = frozenset(_encode.JSON_FIELDS)
_SQLITE: Final = sqlite.dialect()
_COPY_SQL: Final = f"COPY decision_log ({', '.join(INSERT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
#: PostgreSQL's binary COPY needs each column's type. Text and JSON (canonical text, which ``json``
#: stores as it is) are sent as text; the rest in their binary form.
_PG_BINARY_TYPES: Final = {
    "BIGINT": "int8",
    "INTEGER": "int4",
    "SMALLINT": "int2",
    "DOUBLE PRECISION": "float8",
    "BOOLEAN": "bool",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "JSON": "text",
}


def _copy_types() -> list[str]:
    types = []
    for name in INSERT_COLUMNS:
        compiled = LOG.c[name].type.compile(dialect=postgresql.dialect())
        types.append("text" if compiled.startswith("VARCHAR") else _PG_BINARY_TYPES[compiled])
    return types


_COPY_TYPES: Final = _copy_types()


def _insert_sql(dialect: str) -> str:
    """The decision-log INSERT in the driver's own parameter style, JSON passed as (canonical) text."""
    if dialect == "postgresql":
        marks = ["CAST(%s AS json)" if name in _JSON_COLUMNS else "%s" for name in INSERT_COLUMNS]
    else:
        marks = ["?"] * len(INSERT_COLUMNS)
    return f"INSERT INTO decision_log ({', '.join(INSERT_COLUMNS)}) VALUES ({', '.join(marks)})"


@functools.lru_cache(maxsize=16)
def _sqlite_bulk_insert(shared: tuple[tuple[str, Any], ...]) -> tuple[str, tuple[int, ...]]:
    """SQLite's bulk INSERT with the values every row shares written into the statement, and the positions
    (in ``INSERT_COLUMNS``) of the values still bound per row.

    Binding costs per value and per row; a batch chunk shares ten of its 24 values (scan, model, moment,
    ...). Only text, integers and NULL are written in, as SQLAlchemy renders literals; numbers with a
    fraction stay bound, so that SQLite never parses a decimal text into a double (the hash covers the
    exact value), and text with a NUL character stays bound too (the driver refuses it in a statement).
    """
    literals = {
        name: str(literal(value).compile(dialect=_SQLITE, compile_kwargs={"literal_binds": True}))
        if value is not None
        else "NULL"
        for name, value in shared
        if value is None or type(value) is int or (type(value) is str and "\x00" not in value)
    }
    marks = [literals.get(name, "?") for name in INSERT_COLUMNS]
    bound = tuple(index for index, name in enumerate(INSERT_COLUMNS) if name not in literals)
    sql = f"INSERT INTO decision_log ({', '.join(INSERT_COLUMNS)}) VALUES ({', '.join(marks)})"
    return sql, bound


def _copy_rows(driver: Any, params: Sequence[tuple[Any, ...]]) -> None:
    """PostgreSQL's bulk path: COPY on the driver's connection, inside the caller's transaction (about 3x
    executemany's rate), in binary, which costs this process a quarter of the CPU of text (bench: 1.5-1.8
    against 5.7-6.0 us a row): numbers, flags and the moment are sent as they are instead of formatted as
    text."""
    try:
        with driver.cursor() as cursor, cursor.copy(_COPY_SQL) as copy:
            copy.set_types(_COPY_TYPES)
            for row in params:
                copy.write_row(row)
    except psycopg.errors.IntegrityError as exc:  # the same exception the executemany path raises
        raise IntegrityError(_COPY_SQL, None, exc) from exc


@contextlib.contextmanager
def _no_autocheckpoint(connection: Connection) -> Iterator[None]:
    """SQLite: no automatic checkpoint at the commits on this connection (a batch job checkpoints every
    ``BULK_CHECKPOINT_ROWS`` rows instead); set back once they are done, before the connection returns to
    the pool. Set on the driver's connection, which is in autocommit mode, so outside any transaction."""
    driver = connection.connection.driver_connection
    assert driver is not None
    automatic = int(driver.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
    driver.execute("PRAGMA wal_autocheckpoint = 0")
    try:
        yield
    finally:
        driver.execute(f"PRAGMA wal_autocheckpoint = {automatic}")


class DecisionLog:
    """Append to, read and verify the decision log of one database.

    ``now`` gives the moment of an append (aware UTC); ``after_bulk_write`` is called after an append of
    ``INSERT_CHUNK`` rows or more, and by a batch every ``BULK_CHECKPOINT_ROWS`` rows and at its end (the
    store checkpoints SQLite's WAL there, so that the next API request does not pay for the batch's rows).
    """

    def __init__(
        self, engine: Engine, now: Callable[[], datetime], after_bulk_write: Callable[[], None] | None = None
    ) -> None:
        self._engine = engine
        self._now = now
        self._after_bulk_write = after_bulk_write
        dialect = engine.dialect
        self._postgres = dialect.name == "postgresql"
        self._insert_sql = _insert_sql(dialect.name)
        # What opens an append's transaction on the driver's connection, with the write lock: SQLite's
        # connections are in autocommit mode (riskscan.db.make_engine), so the transaction is begun here.
        self._begin_sql = str(_LOCK_APPENDS) if self._postgres else SQLITE_WRITE_BEGIN
        self._created_at_bind = LOG.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        # SQLite: the one connection the service's appends use, kept out of the pool (see _chain_on_driver).
        self._held: PoolProxiedConnection | None = None
        self._held_lock = threading.Lock()

    def close(self) -> None:
        """Hand the connection kept for appends back to the pool (before the engine is disposed)."""
        with self._held_lock:
            held, self._held = self._held, None
        if held is not None:
            held.close()

    def append(self, entries: Sequence[LogEntry]) -> list[LoggedScore]:
        """Append rows to the chain, in the order given, in one transaction: all are written or none.

        Raises :class:`InvalidInput` for an invalid row or a request id given twice, :class:`Conflict` for
        a request id already logged, :class:`NotFound` for a ``decision_id`` that does not exist, and lets
        any other database error through: the caller must fail when the log cannot be written.
        """
        records, written = self._append(entries)
        return logged_scores(records, *written) if records else []

    def append_request_ids(self, entries: Sequence[LogEntry]) -> list[str]:
        """:meth:`append`, returning only the rows' request ids: the service answers with them and needs
        no row read back as a :class:`LoggedScore` (0.02 ms of CPU a row)."""
        records, _ = self._append(entries)
        return [record["request_id"] for record in records]

    def _append(
        self, entries: Sequence[LogEntry]
    ) -> tuple[list[dict[str, Any]], tuple[int, datetime, str, list[str]]]:
        """What :meth:`append` does: the checked records and what :meth:`_chain` returns."""
        columns, records = _encode.entry_columns(entries)  # on the module, so a profiler can wrap it
        if not records:
            return [], (0, self._now(), GENESIS_HASH, [])
        request_ids = [record["request_id"] for record in records]
        if len(set(request_ids)) != len(request_ids):
            seen: set[str] = set()
            for request_id in request_ids:
                if request_id in seen:
                    raise InvalidInput(f"request_id {request_id!r} appears more than once in this append")
                seen.add(request_id)
        return records, self._write(columns, request_ids)

    def append_batch(
        self,
        batch: BatchColumns,
        *,
        chunk_rows: int = INSERT_CHUNK,
        progress: Callable[[int], object] | None = None,
    ) -> list[str]:
        """Append a batch job's rows to the chain, ``chunk_rows`` per transaction; returns their request ids.

        Each chunk is checked and encoded before its write lock is taken; ``progress`` is called with the
        number of rows after each chunk. All rows are written in order, or an exception is raised: the
        chunks before the failing one stay in the log (they are valid, chained rows), and the caller must
        not release any score.
        """
        positive_int_field("chunk_rows", chunk_rows)
        request_ids: list[str] = []
        total = len(batch)
        checked = CheckedBatch(batch)
        unsaved = 0  # rows written since the last checkpoint
        for start in range(0, total, chunk_rows):
            stop = min(start + chunk_rows, total)
            columns = checked.columns(start, stop)
            ids = columns.values["request_id"]
            assert isinstance(ids, list)
            self._write(columns, ids, bulk=True)
            request_ids += ids
            unsaved += stop - start
            if unsaved >= BULK_CHECKPOINT_ROWS or stop == total:
                self._checkpoint()
                unsaved = 0
            if progress is not None:
                progress(stop - start)
        return request_ids

    def _checkpoint(self) -> None:
        if self._after_bulk_write is not None:
            self._after_bulk_write()

    def _write(
        self, columns: Columns, request_ids: list[str], *, bulk: bool = False
    ) -> tuple[int, datetime, str, list[str]]:
        """Encode checked rows, chain them and insert them; explain a refusal by the database."""
        encoded = _encode.encode(columns)  # on the module, so a profiler can wrap it
        try:
            written = self._chain(encoded, bulk=bulk)
        except IntegrityError as exc:
            self._explain_refusal(exc, request_ids, columns)
            raise
        if columns.rows >= INSERT_CHUNK and not bulk:
            self._checkpoint()
        return written

    def _chain(self, rows: Encoded, *, bulk: bool) -> tuple[int, datetime, str, list[str]]:
        """Under the append lock: read the last link, hash the rows in order onto it, insert them.

        Returns the first new id, the ``created_at`` of all rows, the ``prev_hash`` of the first row and
        the ``row_hash`` of every row. ``bulk`` (a batch job) gives the SQLite connection a larger page cache.
        """
        if not bulk:
            return self._chain_on_driver(rows)
        with self._engine.connect() as connection:
            if not self._postgres:
                with _no_autocheckpoint(connection):
                    return self._chain_on(connection, rows)
            return self._chain_on(connection, rows)

    def _chain_on_driver(self, rows: Encoded) -> tuple[int, datetime, str, list[str]]:
        """:meth:`_chain` for an append that is not a batch (the service: one row a request), on the
        driver's connection without SQLAlchemy's ``Connection``: the same statements in the same transaction
        (take the write lock, read the last link, insert, commit), for 0.15 ms of CPU less a request
        (benchmarks/bench_online_cpu.py). A driver error is raised as SQLAlchemy's wrapper of it, as the
        ``Connection`` would raise it, so a refusal is explained the same way; a connection the error shows
        to be lost is invalidated, so it is not used again.

        PostgreSQL: a connection from the pool for each append, pinged on checkout, so that one the server
        dropped meanwhile is replaced instead of failing the request. SQLite: one connection kept for the
        appends of this log, taken in turn under a lock: a local file's connection cannot go stale, SQLite
        lets one writer at a time in anyway, and a checkout and check-in of the pool cost 0.02-0.04 ms of
        CPU a request (benchmarks/bench_online_cpu.py)."""
        if self._postgres:
            raw = self._engine.raw_connection()
            try:
                return self._chain_on_raw(raw, rows)
            finally:
                raw.close()  # back to the pool
        with self._held_lock:
            held = self._held
            if held is None or not held.is_valid:  # invalidated by a lost connection: open another
                if held is not None:
                    held.close()
                held = self._held = self._engine.raw_connection()
            return self._chain_on_raw(held, rows)

    def _chain_on_raw(
        self, raw: PoolProxiedConnection, rows: Encoded
    ) -> tuple[int, datetime, str, list[str]]:
        """:meth:`_chain_on_driver`'s transaction on ``raw``."""
        driver = raw.driver_connection
        cursor = raw.cursor()
        statement = self._begin_sql
        try:
            # SQLite: BEGIN IMMEDIATE; PostgreSQL: the advisory lock, in the driver's own transaction.
            cursor.execute(self._begin_sql)
            statement = _LAST_LINK_SQL
            cursor.execute(_LAST_LINK_SQL)
            written, sql, params = self._linked(rows, cursor.fetchone())
            statement = sql
            self._insert(sql, params, cursor.execute, cursor.executemany, driver)
            statement = "COMMIT"
            raw.commit()  # sqlite3 commits the transaction BEGIN IMMEDIATE opened, as PostgreSQL's
        except self._engine.dialect.loaded_dbapi.Error as exc:
            with contextlib.suppress(Exception):
                raw.rollback()
            lost = self._engine.dialect.is_disconnect(exc, driver, cursor)
            if lost:
                raw.invalidate(exc)
            raise DBAPIError.instance(
                statement, None, exc, self._engine.dialect.loaded_dbapi.Error, connection_invalidated=lost
            ) from exc
        except BaseException:
            with contextlib.suppress(Exception):
                raw.rollback()
            raise
        finally:
            with contextlib.suppress(Exception):
                cursor.close()
        return written

    def _chain_on(self, connection: Connection, rows: Encoded) -> tuple[int, datetime, str, list[str]]:
        """:meth:`_chain` for a batch's chunk on a connection: its own transaction, which takes the write lock
        up front; on SQLite with a larger page cache."""
        with connection.execution_options(**WRITE_OPTIONS).begin():
            if self._postgres:
                connection.execute(_LOCK_APPENDS)
            else:
                connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_BULK_CACHE_KIB}")
            written, sql, params = self._linked(rows, connection.execute(_LAST_LINK).first())
            # exec_driver_sql takes one row or many, and raises SQLAlchemy's wrapper of a driver error
            execute = connection.exec_driver_sql
            self._insert(sql, params, execute, execute, connection.connection.driver_connection)
        return written

    def _insert(
        self,
        sql: str,
        params: list[tuple[Any, ...]],
        execute: Callable[[str, tuple[Any, ...]], object],
        execute_many: Callable[[str, list[tuple[Any, ...]]], object],
        driver: Any,
    ) -> None:
        """Insert the chained rows inside the caller's transaction: one row by ``execute``, a batch by
        binary COPY on PostgreSQL's ``driver`` connection (:func:`_copy_rows`), or by ``execute_many`` on
        SQLite, ``INSERT_CHUNK`` rows a call."""
        if len(params) == 1:
            execute(sql, params[0])
        elif self._postgres:
            _copy_rows(driver, params)
        else:
            for start in range(0, len(params), INSERT_CHUNK):
                execute_many(sql, params[start : start + INSERT_CHUNK])

    def _linked(
        self, rows: Encoded, last: Any
    ) -> tuple[tuple[int, datetime, str, list[str]], str, list[tuple[Any, ...]]]:
        """Under the append lock, after reading ``last`` (the last row's id and hash, or None): the rows
        hashed in order onto it. Returns what :meth:`_chain` returns, the INSERT and its parameters."""
        last_id, prev = (0, GENESIS_HASH) if last is None else (int(last[0]), str(last[1]))
        first_id, first_prev = last_id + 1, prev
        created_at = self._now()
        stamp = json_text(created_at.isoformat())
        sha256 = hashlib.sha256
        digests = []
        for row_id, head, middle, tail in zip(
            range(first_id, first_id + len(rows.heads)), rows.heads, rows.middles, rows.tails, strict=True
        ):
            prev = sha256(f"{prev}{head}{stamp}{middle}{row_id}{tail}".encode()).hexdigest()
            digests.append(prev)
        count = len(digests)
        stored_at = created_at if self._created_at_bind is None else self._created_at_bind(created_at)
        columns = [
            range(first_id, first_id + count),
            repeat(stored_at, count),
            [first_prev, *digests[:-1]],
            digests,
            *rows.values,
        ]
        if count > 1 and not self._postgres:
            shared = {"created_at": stored_at, **rows.shared}
            sql, bound = _sqlite_bulk_insert(tuple(sorted(shared.items())))
            columns = [columns[index] for index in bound]
        else:
            sql = self._insert_sql
        # strict=False: some columns are an endless repeat of a shared value
        params = list(zip(*columns, strict=False))
        return (first_id, created_at, first_prev, digests), sql, params

    def _explain_refusal(self, exc: IntegrityError, request_ids: Sequence[str], columns: Columns) -> None:
        """Turn the likely integrity errors into a sentence; anything else is re-raised as it was."""
        message = str(exc.orig)
        with self._engine.connect() as connection:
            if "request_id" in message:
                for start in range(0, len(request_ids), INSERT_CHUNK):
                    chunk = request_ids[start : start + INSERT_CHUNK]
                    taken = connection.scalars(select(LOG.c.request_id).where(LOG.c.request_id.in_(chunk)))
                    first = taken.first()
                    if first is not None:
                        raise Conflict(f"request_id {first!r} is already logged") from exc
            if "FOREIGN KEY" in message or "decision_id" in message:
                cited = columns.values["decision_id"]
                wanted = sorted({*([cited.value] if isinstance(cited, _encode.Shared) else cited)} - {None})
                known = set(connection.scalars(select(_DECISIONS.c.id).where(_DECISIONS.c.id.in_(wanted))))
                missing = [decision for decision in wanted if decision not in known]
                if missing:
                    raise NotFound(f"decision_id {missing[0]} does not exist") from exc

    def get(self, request_id: str) -> LoggedScore | None:
        """The row logged under ``request_id``, or None (also for text that is no request id)."""
        try:
            request_id = request_id_field("request_id", request_id)
        except InvalidInput:
            return None
        with self._engine.connect() as connection:
            row = connection.execute(select(LOG).where(LOG.c.request_id == request_id)).first()
        return None if row is None else LoggedScore.from_row(row)

    def verify(self, *, batch_size: int = 50_000) -> ChainReport:
        """Recompute every row hash in id order, ``batch_size`` rows at a time (:meth:`riskscan.chain.Chain.verify`).

        Checks, per row: the id follows the previous one (a gap means removed rows), ``prev_hash`` is the
        previous row's ``row_hash`` (the link), the row's hash recipe, seal or erasure
        (:class:`serving.log._verify.RecipeChecks`), and ``row_hash`` matches the row's contents; then that
        the log still reaches revision 0008's checkpoint. Stops at the first problem. Rows appended while it
        runs are not checked (it stops at the last id it saw first). ``facts`` holds ``erased_rows`` and
        ``recipe_2_from``.
        """
        positive_int_field("batch_size", batch_size)
        return LOG_CHAIN.verify(self._engine, batch_size=batch_size)
