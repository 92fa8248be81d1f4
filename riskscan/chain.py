"""Hash chains for evidence tables: every row commits to its own fields and to the row before it.

Evidence (the decision log, outcomes, committee decisions, promotions, withdrawals, and whatever evidence
table comes next) is append-only in the database, by triggers. A trigger can be dropped by the table's
owner; the chain is what still shows afterwards that a row was changed, removed or slipped in. One chain
per table, linked in ``id`` order::

    row_hash = sha256_hex(utf8(prev_hash + canonical_json({field: value for field in chain.fields})))

``prev_hash`` of the first row is 64 zeros (:data:`GENESIS_HASH`). ``canonical_json`` is JSON with sorted
keys, no whitespace, non-ASCII characters as themselves, floats as Python ``repr``, NaN refused; a
datetime is ISO 8601 in UTC (``2026-03-01T09:00:00.123456+00:00``, Python's ``isoformat``; SQLite hands
stored UTC back without a zone, which is read as UTC), a date ISO 8601. ``id`` is not hashed (a
PostgreSQL sequence assigns it only at INSERT); the *link* is what proves that no row is missing between
two others, and a row removed at the end is caught only by an anchor (:mod:`riskscan.anchors`).

Using it for a new evidence table
---------------------------------
1. The Alembic revision gives the table ``prev_hash`` and ``row_hash`` (``String(64)``, NOT NULL) and
   backfills rows that exist already with :func:`link_hash`, in id order (see ``0004_evidence_chains``:
   it copies the field list, because a released revision is frozen). Mirror both columns in the ORM class.
2. Declare the chain next to the table: ``CHAIN = Chain(TABLE, fields=(...))``, naming every column the
   row commits to (normally all but ``id`` and the two hashes). Changing ``fields`` later breaks every
   existing row: it is a new revision with a re-chaining, never an edit.
3. Append *inside the transaction that writes the row* (:func:`riskscan.db.write_transaction`, or a
   session on ``WRITE_OPTIONS``), through one of:

   - ``CHAIN.append(connection, values)`` -> :class:`Link` with the new ``id``: it takes the append lock,
     reads the head, computes the hashes and inserts the row (SQLAlchemy Core);
   - ``CHAIN.extend(connection, rows)`` -> one :class:`Link` per row: many rows in one lock and one
     multi-row INSERT, chained in list order;
   - ``CHAIN.link(connection, values)`` -> :class:`Link` without an id: lock, head and hashes only; the
     caller inserts the row with ``prev_hash``/``row_hash`` in the same transaction (the ORM does that in
     ``models/governance``). ``values`` must be what the database will hand back (stripped text, UTC).
4. Add it to ``serving.evidence.EVIDENCE_CHAINS``: ``riskscan log verify`` then checks it and the anchors
   cover its head.

Appends are serialised per table so the chain stays linear when several processes write: on PostgreSQL a
transaction-level advisory lock whose 64-bit key is the first 8 bytes of ``sha256("riskscan.chain." +
table)`` (held to the commit, so the next append reads this one's hash); on SQLite the writer's
``BEGIN IMMEDIATE``, which already excludes every other writer. Under the lock the head is one
primary-key lookup.

:meth:`Chain.verify` walks the table in id order and reports the first row whose ``prev_hash`` is not the
previous row's ``row_hash`` (a row removed or inserted before it) or whose ``row_hash`` does not match its
fields (the row was changed). A chain with ``dense_ids`` (the decision log, whose ids are last id + 1) also
reports a gap in the ids. A chain may bring its own ``recipe`` (the decision log hashes its ``id`` too), and
its own ``row_checks``: a factory called once per verification with a connection (to read what the checks
need, such as the decision log's recipe checkpoint), returning :class:`RowChecks`. Their ``problem`` runs on
each row after its link is checked and before its hash is, ``passed`` sees each row that verified, ``end``
checks the chain as a whole after the last row (a tail removed before a checkpoint), and ``facts`` become
:attr:`ChainReport.facts` (the decision log: how many rows a purge erased, where recipe 2 starts).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final, Protocol

from sqlalchemy import Connection, Engine, Integer, String, Table, func, insert, select, text
from sqlalchemy.orm import Mapped, mapped_column

from riskscan.db import Record, UTCDateTime
from riskscan.errors import InvalidInput

GENESIS_HASH: Final = "0" * 64
VERIFY_BATCH: Final = 50_000

Recipe = Callable[[str, Mapping[str, Any]], str]


class ChainedRow:
    """The columns every hash-chained evidence table has, for its ORM class (``class X(ChainedRow, Base)``).

    ``id`` orders the chain; the revision declares the table ``sqlite_autoincrement`` (so mirror that in
    ``__table_args__``) because SQLite would otherwise hand a removed last row's id to the next row, and the
    link, not the id, has to show the removal. ``created_at`` is UTC. ``prev_hash`` and ``row_hash`` are
    written in the same transaction as the row (step 3 above); the server default only lets the revision
    that added them backfill old rows.
    """

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    prev_hash: Mapped[str] = mapped_column(String(64), server_default="")
    row_hash: Mapped[str] = mapped_column(String(64), server_default="")


class RowChecks(Protocol):
    """What a table checks beyond its links and hashes, during one :meth:`Chain.verify` (module docstring)."""

    def problem(self, values: Mapping[Any, Any], prev_id: int, prev_hash: str) -> str | None:
        """What is wrong with this row besides its link and hash, or None."""

    def passed(self, values: Mapping[Any, Any]) -> None:
        """This row verified (link, checks and hash)."""

    def end(self, head_id: int | None) -> str | None:
        """What is wrong with a chain whose last verified row is ``head_id`` (None: empty), or None."""

    def facts(self) -> dict[str, int | None]:
        """The counts to report with the result."""


RowChecksFactory = Callable[[Connection], RowChecks]


def _plain(value: Any) -> Any:
    """Datetimes and dates as the recipe spells them; anything else JSON does not know is refused."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # SQLite: stored UTC
        return moment.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} {value!r} has no canonical JSON form")


_CANONICAL: Final = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"), default=_plain
).encode


def canonical_json(record: Mapping[str, Any]) -> str:
    """The text a row commits to: sorted keys, no whitespace, UTC ISO 8601 datetimes (module docstring)."""
    return _CANONICAL(dict(record))


def link_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    """``sha256_hex(utf8(prev_hash + canonical_json(record)))``: the hash of one row of a generic chain."""
    return hashlib.sha256((prev_hash + canonical_json(record)).encode("utf-8")).hexdigest()


def lock_key(table: str) -> int:
    """The PostgreSQL advisory-lock key that serialises appends to ``table``."""
    return int.from_bytes(hashlib.sha256(f"riskscan.chain.{table}".encode()).digest()[:8], "big", signed=True)


@dataclass(frozen=True, slots=True)
class Link(Record):
    """A new row's place in its chain; ``id`` is None from :meth:`Chain.link` (the caller inserts)."""

    prev_hash: str
    row_hash: str
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Head(Record):
    """The newest row of a chain: what an anchor records. ``rows`` is the number of rows, ``head_id`` the
    id of the newest (None and :data:`GENESIS_HASH` for an empty table)."""

    table: str
    rows: int
    head_id: int | None
    head_hash: str


@dataclass(frozen=True, slots=True)
class ChainReport(Record):
    """The result of :meth:`Chain.verify`.

    ``head_id``/``head_hash`` are the last row that checked out (for an intact chain: the last row);
    ``rows_checked`` rows verified before ``first_broken_id``, where ``problem`` says what is wrong.
    """

    table: str
    ok: bool
    rows_checked: int
    first_broken_id: int | None
    problem: str | None
    head_id: int | None
    head_hash: str
    #: What the chain's :class:`RowChecks` counted (empty for a chain without them).
    facts: Mapping[str, int | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Chain:
    """One evidence table's chain: the table, the fields each row commits to, and how they are hashed."""

    table: Table
    fields: tuple[str, ...]
    recipe: Recipe = field(default=link_hash)
    dense_ids: bool = False
    row_checks: RowChecksFactory | None = None

    def __post_init__(self) -> None:
        missing = [name for name in (*self.fields, "id", "prev_hash", "row_hash") if name not in self.table.c]
        if missing:
            raise ValueError(f"{self.table.name} has no column {missing[0]!r} for its hash chain")
        if {"prev_hash", "row_hash"} & set(self.fields):
            raise ValueError(f"{self.table.name}: a row cannot commit to its own hashes")

    @property
    def name(self) -> str:
        return self.table.name

    def row_hash(self, prev_hash: str, values: Mapping[str, Any]) -> str:
        """The ``row_hash`` of a row with these values after a row hashed ``prev_hash``."""
        return self.recipe(prev_hash, {name: values[name] for name in self.fields})

    def _locked_head(self, connection: Connection) -> tuple[int | None, str]:
        """Take the append lock (PostgreSQL; SQLite's writer already holds it) and read the newest link."""
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({lock_key(self.name)})"))
        last = connection.execute(
            select(self.table.c.id, self.table.c.row_hash).order_by(self.table.c.id.desc()).limit(1)
        ).first()
        return (None, GENESIS_HASH) if last is None else (int(last[0]), str(last[1]))

    def lock(self, connection: Connection) -> None:
        """Take the append lock now, before reading what to append (held to the commit; taking it again
        in the same transaction is free)."""
        self._locked_head(connection)

    def link(self, connection: Connection, values: Mapping[str, Any]) -> Link:
        """Lock appends and hash a row onto the head; the caller inserts it in this same transaction."""
        _, prev_hash = self._locked_head(connection)
        return Link(prev_hash=prev_hash, row_hash=self.row_hash(prev_hash, values))

    def append(self, connection: Connection, values: Mapping[str, Any]) -> Link:
        """Lock appends, hash the row onto the head and insert it; returns its link and new id."""
        link = self.link(connection, values)
        row = {**values, "prev_hash": link.prev_hash, "row_hash": link.row_hash}
        new_id = connection.execute(insert(self.table).returning(self.table.c.id), row).scalar_one()
        return Link(prev_hash=link.prev_hash, row_hash=link.row_hash, id=int(new_id))

    def extend(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Link]:
        """Lock appends once and insert ``rows`` in this order, each hashed onto the one before.

        For many rows in one transaction (a cascade opening thousands of re-examinations): one lock, one
        head lookup and one multi-row INSERT instead of a round trip per row. The rows take ids in list
        order (no other append can interleave while the lock is held), which is the order they are
        chained in. Returns their links, without ids.
        """
        if not rows:
            return []
        _, prev_hash = self._locked_head(connection)
        links: list[Link] = []
        chained: list[dict[str, Any]] = []
        for values in rows:
            link = Link(prev_hash=prev_hash, row_hash=self.row_hash(prev_hash, values))
            links.append(link)
            chained.append({**values, "prev_hash": link.prev_hash, "row_hash": link.row_hash})
            prev_hash = link.row_hash
        connection.execute(insert(self.table), chained)
        return links

    def head(self, connection: Connection) -> Head:
        """The row count and the newest row's hash, as committed now (no lock: a reading, not an append)."""
        rows = int(connection.scalar(select(func.count()).select_from(self.table)) or 0)
        last = connection.execute(
            select(self.table.c.id, self.table.c.row_hash).order_by(self.table.c.id.desc()).limit(1)
        ).first()
        if last is None:
            return Head(table=self.name, rows=0, head_id=None, head_hash=GENESIS_HASH)
        return Head(table=self.name, rows=rows, head_id=int(last[0]), head_hash=str(last[1]))

    def hash_at(self, connection: Connection, position: int) -> tuple[int, str] | None:
        """The id and ``row_hash`` of the ``position``-th row (1-based) in id order, or None past the end."""
        if position < 1:
            raise ValueError(f"position must be at least 1, got {position}")
        query = select(self.table.c.id, self.table.c.row_hash)
        if self.dense_ids:  # id n is the n-th row: a primary-key lookup
            found = connection.execute(query.where(self.table.c.id == position)).first()
        else:
            found = connection.execute(query.order_by(self.table.c.id).offset(position - 1).limit(1)).first()
        return None if found is None else (int(found[0]), str(found[1]))

    def verify(self, engine: Engine, *, batch_size: int = VERIFY_BATCH) -> ChainReport:
        """Recompute every link in id order, ``batch_size`` rows at a time; stop at the first problem.

        Rows appended while it runs are not checked: it stops at the last id it saw when it started.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInput(f"batch_size must be a positive integer, got {batch_size!r}")
        with engine.connect() as connection:
            last_id = connection.scalar(select(func.max(self.table.c.id)))
            checks = None if self.row_checks is None else self.row_checks(connection)
        checked, prev_id, prev_hash = 0, 0, GENESIS_HASH

        def report(broken_id: int | None = None, problem: str | None = None) -> ChainReport:
            return ChainReport(
                table=self.name,
                ok=problem is None,
                rows_checked=checked,
                first_broken_id=broken_id,
                problem=problem,
                head_id=prev_id or None,
                head_hash=prev_hash,
                facts={} if checks is None else checks.facts(),
            )

        query = select(self.table).order_by(self.table.c.id).limit(batch_size)
        while last_id is not None and prev_id < last_id:
            with engine.connect() as connection:
                rows = connection.execute(query.where(self.table.c.id > prev_id, self.table.c.id <= last_id))
                batch = [row._mapping for row in rows]
            if not batch:
                break
            for values in batch:
                problem = self._broken_link(values, prev_id, prev_hash, checks)
                if problem is not None:
                    return report(values["id"], problem)
                if checks is not None:
                    checks.passed(values)
                prev_id, prev_hash = values["id"], values["row_hash"]
                checked += 1
        if self.dense_ids and last_id is not None and prev_id != last_id:
            return report(last_id, f"gap: ids after {prev_id} up to {last_id} are missing")
        problem = None if checks is None else checks.end(prev_id or None)
        return report(None if problem is None else prev_id + 1, problem)

    def _broken_link(
        self, values: Mapping[Any, Any], prev_id: int, prev_hash: str, checks: RowChecks | None
    ) -> str | None:
        """What is wrong with a row that follows row ``prev_id`` (hash ``prev_hash``), or None."""
        row_id = values["id"]
        if self.dense_ids and row_id != prev_id + 1:
            missing = f"id {prev_id + 1}" if row_id == prev_id + 2 else f"ids {prev_id + 1}..{row_id - 1}"
            return f"gap: {missing} missing before id {row_id} (rows were removed)"
        if values["prev_hash"] != prev_hash:
            before = "the start of the chain" if prev_id == 0 else f"id {prev_id}"
            return (
                f"link broken: prev_hash {values['prev_hash']} is not the row_hash of {before} ({prev_hash}); "
                "a row before it was removed or inserted, or this row's prev_hash was changed"
            )
        problem = None if checks is None else checks.problem(values, prev_id, prev_hash)
        if problem is not None:
            return problem
        try:
            expected = self.row_hash(prev_hash, values)
        except (TypeError, ValueError, KeyError) as exc:
            return f"hash mismatch: the row cannot be hashed ({exc})"
        if not hmac.compare_digest(expected, str(values["row_hash"])):
            return (
                f"hash mismatch: row_hash {values['row_hash']} does not match the row's contents "
                f"({expected}); the row was changed after it was written"
            )
        return None
