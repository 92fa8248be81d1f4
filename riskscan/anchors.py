"""Anchors: the heads of the evidence chains, written outside the database, so a cut or rewritten tail shows.

A hash chain (:mod:`riskscan.chain`) exposes a changed row, but not the newest rows deleted, nor the last
rows rewritten with their hashes recomputed by someone who dropped the triggers: what is left is still a
valid chain. An *anchor* is a promise kept elsewhere: "at this time, table T had R rows and its newest row
hashed H". Later the chain must still have at least R rows, and its R-th row must still hash to H.

Where anchors are written: one JSON line per table and moment, appended to
``$RISKSCAN_HOME/anchors/anchors.jsonl``, opened with ``O_APPEND`` and ``fsync``-ed after every write (the
folder too, when the file is new), by every batch job (``score-batch``, ``retrain``, ``simulate``) and by
the service every :data:`SERVICE_ANCHOR_SECONDS` when a head moved. A line::

    {"at": "2026-12-02T04:30:00.123456+00:00", "head_hash": "9f2c...", "head_id": 1200, "rows": 1200,
     "source": "score-batch", "table": "decision_log"}

The file is append-only by convention only, and on the same machine as the database: it protects against
an edit of the database alone. Copy it off the machine (the README's security section says how: a cron'd
``rsync`` to a host the database's administrators cannot write, an object store with a retention lock, or
the head printed into a ticket) and check against the copy: ``riskscan log verify --anchors COPY``.

:func:`check` compares anchors with the chains as they are now and returns one sentence per problem.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from riskscan import home
from riskscan.chain import GENESIS_HASH, Head
from riskscan.db import Record
from riskscan.errors import InvalidInput

ANCHOR_FILE: Final = "anchors.jsonl"
SERVICE_ANCHOR_SECONDS: Final = 60.0
_FIELDS: Final = ("at", "head_hash", "head_id", "rows", "source", "table")


def default_directory() -> Path:
    """``$RISKSCAN_HOME/anchors``: where this machine's jobs and service write their anchors."""
    return home.home() / "anchors"


@dataclass(frozen=True, slots=True)
class Anchor(Record):
    """One table's head at one moment, as written by ``source`` (a job's name, or ``service``)."""

    table: str
    rows: int
    head_id: int | None
    head_hash: str
    at: datetime
    source: str

    def line(self) -> str:
        """The JSON line written to the anchor file (sorted keys, one line)."""
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":")) + "\n"


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write(
    heads: Iterable[Head], source: str, directory: Path | None = None, *, at: datetime | None = None
) -> list[Anchor]:
    """Append an anchor per head to the anchor file in ``directory`` and fsync it; returns the anchors.

    All lines go out in one ``write`` on an ``O_APPEND`` descriptor, so two processes anchoring at once
    interleave whole lines, never parts of one.
    """
    folder = default_directory() if directory is None else directory
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    anchors = [
        Anchor(table=h.table, rows=h.rows, head_id=h.head_id, head_hash=h.head_hash, at=moment, source=source)
        for h in heads
    ]
    if not anchors:
        return anchors
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ANCHOR_FILE
    new_file = not path.exists()
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(descriptor, "".join(anchor.line() for anchor in anchors).encode("utf-8"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    if new_file:
        _fsync_directory(folder)
    if created:
        _fsync_directory(folder.parent)
    return anchors


def _anchor_from(value: object, where: str) -> Anchor:
    if not isinstance(value, dict) or sorted(value) != sorted(_FIELDS):
        raise InvalidInput(
            f"anchor {where} must be an object with exactly {', '.join(_FIELDS)}, got {value!r}"
        )
    rows, head_id, head_hash = value["rows"], value["head_id"], value["head_hash"]
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise InvalidInput(f"anchor {where}: rows must be a whole number of at least 0, got {rows!r}")
    if head_id is not None and (isinstance(head_id, bool) or not isinstance(head_id, int)):
        raise InvalidInput(f"anchor {where}: head_id must be a whole number or null, got {head_id!r}")
    if not isinstance(head_hash, str) or len(head_hash) != len(GENESIS_HASH):
        raise InvalidInput(f"anchor {where}: head_hash must be 64 hexadecimal characters, got {head_hash!r}")
    try:
        at = datetime.fromisoformat(str(value["at"]))
    except ValueError:
        raise InvalidInput(f"anchor {where}: at must be an ISO 8601 time, got {value['at']!r}") from None
    return Anchor(
        table=str(value["table"]),
        rows=rows,
        head_id=head_id,
        head_hash=head_hash,
        at=at,
        source=str(value["source"]),
    )


def read(directory: Path) -> list[Anchor]:
    """Every anchor in the ``*.jsonl`` files of ``directory`` (a copy may hold several), oldest file first.

    A line that is not an anchor is refused, naming the file and line: an anchor file is evidence too.
    """
    if not directory.is_dir():
        raise InvalidInput(f"anchor directory {directory} does not exist or is not a directory")
    anchors: list[Anchor] = []
    for path in sorted(directory.glob("*.jsonl")):
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not text.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"anchor {where} is not JSON ({exc.msg})") from None
            anchors.append(_anchor_from(value, where))
    return anchors


#: What :func:`check` asks of the database: a table's current head, and the id and hash of its n-th row.
HeadOf = Callable[[str], Head | None]
HashAt = Callable[[str, int], tuple[int, str] | None]


def check(anchors: Sequence[Anchor], head_of: HeadOf, hash_at: HashAt) -> list[str]:
    """One sentence per anchor the chains no longer honour (none: every anchor agrees).

    For each anchor of a table with rows: the table must still have that many rows, and its row at that
    position must still hash to the anchored head. Anchors of a table this database does not know are
    reported too (a copy from another database, or a table dropped). Each (table, rows, hash) is checked
    once, however often it was anchored.
    """
    problems: list[str] = []
    seen: set[tuple[str, int, str]] = set()
    for anchor in anchors:
        key = (anchor.table, anchor.rows, anchor.head_hash)
        if key in seen or anchor.rows == 0:
            continue
        seen.add(key)
        when = f"anchored at {anchor.at.isoformat()} by {anchor.source}"
        current = head_of(anchor.table)
        if current is None:
            problems.append(
                f"{anchor.table} is not a chained table of this database, but an anchor {when} names it"
            )
            continue
        if current.rows < anchor.rows:
            problems.append(
                f"{anchor.table} has {current.rows} row(s), fewer than the {anchor.rows} {when}: "
                "its newest rows were removed"
            )
            continue
        found = hash_at(anchor.table, anchor.rows)
        if found is None or found[1] != anchor.head_hash:
            place = "no row" if found is None else f"row id {found[0]} hashes {found[1]}"
            problems.append(
                f"{anchor.table}: at position {anchor.rows} {place}, not the head {anchor.head_hash} {when}: "
                "rows up to it were rewritten"
            )
    return problems
