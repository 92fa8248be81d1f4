"""The decision log: every scored case, hash-chained, append-only.

This package owns the ``decision_log`` table, the one definition of its row (:class:`LogEntry` in,
:class:`LoggedScore` out), the canonical encoding that is hashed, and the chain (:class:`DecisionLog`:
append, read, verify). It imports only the platform (:mod:`riskscan`); the outcomes, the case queries and
the store (:mod:`serving.outcomes`, :mod:`serving.cases`, :mod:`serving.store`) build on it.

The rows are evidence, so the table is append-only *in the database* (triggers refuse UPDATE, DELETE and,
on PostgreSQL, TRUNCATE; see revision ``0002_serving``).

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
recompute the chain with any JSON library that can be told to do the same. :func:`row_hash` is that
recipe in a few lines, and :meth:`DecisionLog.verify` does exactly that, streaming.

What the chain does and does not prove: it detects a row that was changed, removed or inserted by anyone
who did not also recompute every later hash. Someone with write access who drops the triggers *and*
rewrites the tail of the chain is caught only by comparing the head hash (:attr:`ChainReport.head_hash`)
with a copy kept elsewhere: the anchors (:mod:`riskscan.anchors`, written by :mod:`serving.evidence`).

The chain is declared as :data:`LOG_CHAIN` (:mod:`riskscan.chain`, with this recipe and dense ids), so
``riskscan log verify`` checks it like every other evidence table.
"""

from riskscan.chain import GENESIS_HASH, ChainReport
from serving.log._batch import BatchColumns
from serving.log._chain import APPEND_LOCK_KEY, INSERT_CHUNK, LOG_CHAIN, SQLITE_BULK_CACHE_KIB, DecisionLog
from serving.log._encode import canonical_inputs, row_hash
from serving.log._fields import ENTRY_FIELDS, ROW_FIELDS, LogEntry, LoggedScore, new_request_ids
from serving.log._tables import LOG, SELECTED, DecisionLogRow
from serving.log._values import (
    EXPLANATION_KEYS,
    SOURCES,
    flag_field,
    positive_int_field,
    request_id_field,
)

__all__ = [
    "APPEND_LOCK_KEY",
    "ENTRY_FIELDS",
    "EXPLANATION_KEYS",
    "GENESIS_HASH",
    "INSERT_CHUNK",
    "LOG",
    "LOG_CHAIN",
    "ROW_FIELDS",
    "SELECTED",
    "SOURCES",
    "SQLITE_BULK_CACHE_KIB",
    "BatchColumns",
    "ChainReport",
    "DecisionLog",
    "DecisionLogRow",
    "LogEntry",
    "LoggedScore",
    "canonical_inputs",
    "flag_field",
    "new_request_ids",
    "positive_int_field",
    "request_id_field",
    "row_hash",
]
