"""A decision-log row, defined once.

:class:`LogEntry` lists the fields a scorer hands to the log, in the order of the table; each field names
the check its value must pass (``check`` in the field's metadata). :class:`LoggedScore` is the row as
stored: the entry, the seal the encoder adds (``hash_recipe``, ``personal_sha256``, ``personal_salt``; see
:mod:`serving.log._recipe`), the four fields the chain adds (``id``, ``created_at``, ``prev_hash``,
``row_hash``) and ``erased_at``, set by a purge. Everything else is read off these two classes: the
validation of an entry, the columns of an insert and their order, the canonical JSON that is hashed
(:mod:`serving.log._encode`), the dict form and the mapping from a database row
(:class:`riskscan.db.Record`). The ORM table (:mod:`serving.log._tables`) mirrors the migrations, and a
test checks it has exactly these columns.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import numpy as np

from riskscan.db import KEY_LENGTH, NAME_LENGTH, Record, text_field
from riskscan.errors import InvalidInput
from serving.log._values import (
    draw_field,
    explanation_field,
    flag_field,
    inputs_field,
    number_field,
    optional_id_field,
    optional_number_field,
    optional_sha256_field,
    request_id_field,
    source_field,
)

Check = Callable[[str, Any], Any]


def _checked(check: Check) -> dict[str, Check]:
    return {"check": check}


def _name(field: str, value: object) -> str:
    """Text naming a person, a model or a case (at most NAME_LENGTH characters)."""
    return text_field(field, value, NAME_LENGTH)


def _key(field: str, value: object) -> str:
    """A short key such as a scan id or a model version (at most KEY_LENGTH characters)."""
    return text_field(field, value, KEY_LENGTH)


def _new_request_id() -> str:
    """One new request id (the service: one a scored case), as :func:`new_request_ids` makes them and for
    the same reason: each append's key goes to the right-hand edge of the unique index on ``request_id``,
    a page SQLite has in hand, instead of a random page it may have to read first; a random (version-4) id
    cost the service's append 0.01-0.02 ms of CPU more (benchmarks/bench_online_cpu.py), and its random
    pages more work for the WAL checkpoints."""
    raw = bytearray(os.urandom(16))
    raw[:6] = (time.time_ns() // 1_000_000 & (2**48 - 1)).to_bytes(6, "big")
    raw[6] = (raw[6] & 0x0F) | 0x70  # version 7
    raw[8] = (raw[8] & 0x3F) | 0x80  # variant RFC 4122/9562
    return raw.hex()


def new_request_ids(count: int) -> list[str]:
    """``count`` new request ids for a batch: version-7 UUIDs (RFC 9562) as 32 hex digits, that is the Unix
    time in milliseconds (48 bits) followed by 74 random bits, from one ``os.urandom`` call.

    Time-ordered on purpose: the ids of one batch chunk go to the right-hand edge of the unique index on
    ``request_id`` instead of onto random pages of it. With random (version-4) ids a million-row log no
    longer fits that index in SQLite's page cache, and the append slowed from ~60 to ~120 us a row
    (benchmarks/bench_batch.py). The random bits keep ids unguessable; the time they show is the
    row's ``created_at`` anyway. (:func:`_new_request_id` makes one the same way, without numpy.)
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
    [0, 1) that decided ``control`` (the random control sample). ``margin_scale`` says what the
    explanation's contributions are measured in.
    """

    request_id: str = field(default_factory=_new_request_id, metadata=_checked(request_id_field))
    case_id: str = field(metadata=_checked(_name))
    scan: str = field(metadata=_checked(_key))
    model_name: str = field(metadata=_checked(_name))
    model_version: str = field(metadata=_checked(_key))
    audit_sha256: str | None = field(default=None, metadata=_checked(optional_sha256_field))
    decision_id: int | None = field(default=None, metadata=_checked(optional_id_field))
    inputs: Mapping[str, Any] = field(metadata=_checked(inputs_field))
    score: float = field(metadata=_checked(number_field))
    threshold: float = field(metadata=_checked(number_field))
    signal: bool = field(metadata=_checked(flag_field))
    control: bool = field(metadata=_checked(flag_field))
    control_draw: float = field(metadata=_checked(draw_field))
    explanation: Sequence[Mapping[str, Any]] = field(default=(), metadata=_checked(explanation_field))
    base_value: float | None = field(default=None, metadata=_checked(optional_number_field))
    margin_scale: str = field(metadata=_checked(_name))
    source: str = field(default="api", metadata=_checked(source_field))


@dataclass(frozen=True, kw_only=True, slots=True)
class LoggedScore(Record, LogEntry):
    """A decision-log row as stored: the entry as checked, and its place in the chain.

    Read back, ``inputs`` is a read-only mapping and ``explanation`` a tuple of read-only mappings. After a
    purge (``erased_at`` set) they are empty and ``personal_salt`` is None: the values are gone, their
    digest ``personal_sha256`` stays in the chain.
    """

    explanation: tuple[Mapping[str, Any], ...] = ()
    hash_recipe: int
    personal_sha256: str | None
    personal_salt: str | None
    id: int
    created_at: datetime
    prev_hash: str
    row_hash: str
    erased_at: datetime | None = None

    @property
    def selected(self) -> bool:
        """Selected for investigation: a signal, or drawn into the random control sample."""
        return self.signal or self.control


#: What a scorer supplies, in the order of the table (and of every insert).
ENTRY_FIELDS: Final = tuple(item.name for item in dataclasses.fields(LogEntry))
#: The personal values of a row: erased by a purge once the scan's retention period has passed.
PERSONAL_FIELDS: Final = ("inputs", "explanation")
#: What the encoder adds to an entry: the recipe of the row hash, and (recipe 2) the salted digest of the
#: personal values with its salt.
SEAL_FIELDS: Final = ("hash_recipe", "personal_sha256", "personal_salt")
#: Set by a purge, never by an append, and not hashed: the moment the personal values were erased.
ERASED_AT: Final = "erased_at"
#: Every column of a row.
ROW_FIELDS: Final = tuple(item.name for item in dataclasses.fields(LoggedScore))
#: What the chain adds to an entry: the id and the moment, known only under the append lock, and the hashes.
CHAIN_FIELDS: Final = ("id", "created_at", "prev_hash", "row_hash")
#: The columns of an insert, in order.
INSERT_COLUMNS: Final = ("id", "created_at", "prev_hash", "row_hash", *ENTRY_FIELDS, *SEAL_FIELDS)
if set(ROW_FIELDS) != {*INSERT_COLUMNS, ERASED_AT}:
    raise AssertionError(f"the row fields {ROW_FIELDS} are not the entry, seal, chain and erasure fields")

_CHECKS: Final[Mapping[str, Check]] = {
    item.name: item.metadata["check"] for item in dataclasses.fields(LogEntry)
}


def checked(entry: LogEntry) -> dict[str, Any]:
    """The entry's fields after their checks: validated, plain JSON data, in table order."""
    if not isinstance(entry, LogEntry):
        raise InvalidInput(f"a decision-log row must be a LogEntry, got {type(entry).__name__}")
    return {name: check(name, getattr(entry, name)) for name, check in _CHECKS.items()}


def field_check(name: str) -> Check:
    """The check of the entry field ``name``, called with the field's name and the value (a batch checks
    what its rows share once, and its case ids one by one, as an entry's are checked)."""
    return _CHECKS[name]
