"""PostgreSQL: the hex checks say the same thing at a fifteenth of the cost.

Revision ID: 0010_postgres_hex_checks
Revises: 0009_worklist_covering_index
Create Date: 2026-12-02

Revisions 0001 and 0002 check a hex column on PostgreSQL as ``x ~ '^[0-9a-f]{64}$'``. PostgreSQL's regex
engine expands the bounded repeat ``{64}`` into 64 states and walks them for every row: measured on 300,000
SHA-256 texts, 7.5 µs a value against 0.6 µs for ``length(x) = 64 AND x !~ '[^0-9a-f]'`` (same machine,
same run; ``ltrim``/``translate`` with the sixteen characters cost 3 and 6 µs). The decision log checks four
such columns on every row, so a batch job's append spent about 25 µs a row of the database's CPU on them:
half of its 55 µs a row on PostgreSQL (``bench_batch.py --database postgresql``; without these four checks
31 µs).

The new spelling is the one SQLite has used since 0001 (``length(x) = n AND x NOT GLOB '*[^0-9a-f]*'``) and
accepts exactly the same texts: n characters, none outside ``0-9a-f`` (so no capitals, no trailing newline,
nothing empty). A test inserts the same bad values on both databases and expects the same constraint to refuse
them. The constraints keep their names. SQLite's checks are unchanged (its GLOB has no cheaper exact
equivalent in SQLite 3.40), so this revision does nothing there.

Existing rows are checked again when the constraint is added (one scan of each table, at 0.6 µs a row), so a
table that somehow holds a bad value stops the upgrade instead of being carried over unchecked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from alembic import op

revision: str = "0010_postgres_hex_checks"
down_revision: str | Sequence[str] | None = "0009_worklist_covering_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, constraint, column, length, nullable): every hex check 0001 and 0002 wrote with ``{n}``.
HEX_CHECKS: Final = (
    ("committee_decisions", "ck_committee_decisions_audit_sha256_hex", "audit_sha256", 64, False),
    ("promotions", "ck_promotions_audit_sha256_hex", "audit_sha256", 64, False),
    ("decision_log", "ck_decision_log_request_id_hex", "request_id", 32, False),
    ("decision_log", "ck_decision_log_audit_sha256_hex", "audit_sha256", 64, True),
    ("decision_log", "ck_decision_log_prev_hash_hex", "prev_hash", 64, False),
    ("decision_log", "ck_decision_log_row_hash_hex", "row_hash", 64, False),
    ("api_tokens", "ck_api_tokens_token_hash_hex", "token_hash", 64, False),
)


def _regex_bound(column: str, length: int) -> str:
    """0001's and 0002's spelling."""
    return f"{column} ~ '^[0-9a-f]{{{length}}}$'"


def _length_and_class(column: str, length: int) -> str:
    """This revision's: the length, then no character outside the class (one pass, no bounded repeat)."""
    return f"length({column}) = {length} AND {column} !~ '[^0-9a-f]'"


def _replace(spell: Callable[[str, int], str]) -> None:
    for table, name, column, length, nullable in HEX_CHECKS:
        check = spell(column, length)
        # op.f: the names are final already (the metadata's naming convention would prefix them again).
        op.drop_constraint(op.f(name), table, type_="check")
        op.create_check_constraint(op.f(name), table, f"{column} IS NULL OR ({check})" if nullable else check)


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        _replace(_length_and_class)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        _replace(_regex_bound)
