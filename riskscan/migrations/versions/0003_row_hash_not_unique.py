"""Drop the UNIQUE constraint on ``decision_log.row_hash``: it guarded nothing, and it cost the batch job half
its time.

Revision ID: 0003_row_hash_not_unique
Revises: 0002_serving
Create Date: 2026-11-22

Why it guarded nothing: ``row_hash`` is the SHA-256 of the previous hash and the row's record, which
includes the row's ``id``, and ``id`` is the primary key; two rows with one hash would need a SHA-256
collision. Tamper-evidence never came from the constraint either: anyone who can rewrite rows can drop a
constraint, and ``riskscan log verify`` recomputes the chain whatever the schema says.

What it cost: a random 64-character key per row in a B-tree index. Every 5,000-row chunk of a batch
dirtied about as many index pages spread over the whole index, and each was written to the WAL and
checkpointed again: at a million rows the append took 61 µs a row with the index and 37 µs without
(measured with ``ServingStore.append_batch``, same chunking).

The rows are not touched. PostgreSQL drops the constraint in place. SQLite cannot, so the table is rebuilt
by SQLite's own procedure (https://www.sqlite.org/lang_altertable.html, "other kinds of table schema
changes"): a new table from the stored DDL minus the constraint, every row copied as it is, the old table
dropped, the new one renamed, its indexes and append-only triggers recreated from their stored DDL. The
migration runs with foreign keys off and ``PRAGMA foreign_key_check`` before the commit
(``models.governance._migration_transaction``). ``downgrade`` puts the constraint back the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_row_hash_not_unique"
down_revision: str | Sequence[str] | None = "0002_serving"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINT = "uq_decision_log_row_hash"
# How 0002 spelled it in SQLite's stored DDL, and the clause it stood before.
SQLITE_CLAUSE = f"CONSTRAINT {CONSTRAINT} UNIQUE (row_hash), "
SQLITE_NEXT = "CONSTRAINT fk_decision_log_decision_id"


def _rebuild_sqlite(change: str) -> None:
    bind = op.get_bind()
    stored = bind.execute(
        sa.text("SELECT type, sql FROM sqlite_master WHERE tbl_name = 'decision_log' AND sql IS NOT NULL")
    ).all()
    table_sql = next(sql for kind, sql in stored if kind == "table")
    dependents = [sql for kind, sql in stored if kind in ("index", "trigger")]
    if change == "drop":
        if SQLITE_CLAUSE not in table_sql:
            raise RuntimeError(f"decision_log's stored DDL has no '{SQLITE_CLAUSE.strip(', ')}' to drop")
        rebuilt = table_sql.replace(SQLITE_CLAUSE, "")
    else:
        if SQLITE_NEXT not in table_sql:
            raise RuntimeError(
                f"decision_log's stored DDL has no '{SQLITE_NEXT}' to put the constraint before"
            )
        rebuilt = table_sql.replace(SQLITE_NEXT, SQLITE_CLAUSE + SQLITE_NEXT)
    # 0002 stored 'CREATE TABLE decision_log ('; after a rebuild SQLite's RENAME stores the name quoted.
    head = re.match(r'CREATE TABLE\s+"?decision_log"?\s*\(', rebuilt)
    if head is None:
        raise RuntimeError("decision_log's stored DDL does not start as revision 0002 wrote it")
    op.execute("CREATE TABLE decision_log_rebuilt (" + rebuilt[head.end() :])
    op.execute("INSERT INTO decision_log_rebuilt SELECT * FROM decision_log")
    op.execute("DROP TABLE decision_log")  # drops its indexes and triggers; recreated below, as stored
    op.execute("ALTER TABLE decision_log_rebuilt RENAME TO decision_log")
    for sql in dependents:
        op.execute(sql)


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.drop_constraint(op.f(CONSTRAINT), "decision_log", type_="unique")
    else:
        _rebuild_sqlite("drop")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.create_unique_constraint(op.f(CONSTRAINT), "decision_log", ["row_hash"])
    else:
        _rebuild_sqlite("add")
