"""Server-side page sessions (``web_sessions``) and the ``systeem`` role for the case-management system.

Revision ID: 0005_web_sessions
Revises: 0006_committee_signatures
Create Date: 2026-12-02

- ``web_sessions``: one row per signed-in browser. The cookie holds a random session id; the row holds its
  SHA-256 (``session_hash``), the id of the API token used to log in (never the token), the session's CSRF
  token, and when it was made, expires and was last used (``serving/sessions.py``). Sessions are not
  evidence: logout, revoking the token and expiry delete the row, and each page view moves ``last_used_at``,
  so this table has no append-only triggers.
- ``api_tokens.role`` also accepts ``systeem``: the case-management system calling ``POST /score``, the one
  caller besides ``admin`` that gets the score, the threshold and the control flag.

PostgreSQL changes the role check in place. SQLite cannot, so ``api_tokens`` is rebuilt by SQLite's own
procedure, as revision 0003 rebuilds ``decision_log``: a new table from the stored DDL with the new check,
every row copied as it is, the old table dropped, the new one renamed, its append-only triggers recreated
from their stored DDL (``token_revocations`` refers to ``api_tokens`` by name, so its foreign key follows
the rename). The migration runs with foreign keys off and ``PRAGMA foreign_key_check`` before the commit
(``riskscan.db.migration_transaction``).

``downgrade`` drops the sessions (everyone logs in again) and puts the old role check back; it refuses
while a ``systeem`` token exists, because tokens are evidence and are never deleted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_web_sessions"
down_revision: str | Sequence[str] | None = "0006_committee_signatures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ROLES = ("handhaving", "committee", "retrain", "admin")
NEW_ROLES = (*OLD_ROLES, "systeem")
ROLE_CHECK = "ck_api_tokens_role"


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _rebuild_sqlite_tokens(old: Sequence[str], new: Sequence[str]) -> None:
    bind = op.get_bind()
    stored = bind.execute(
        sa.text("SELECT type, sql FROM sqlite_master WHERE tbl_name = 'api_tokens' AND sql IS NOT NULL")
    ).all()
    table_sql = next(sql for kind, sql in stored if kind == "table")
    dependents = [sql for kind, sql in stored if kind in ("index", "trigger")]
    old_clause = f"CONSTRAINT {ROLE_CHECK} CHECK ({_in('role', old)})"
    if old_clause not in table_sql:
        raise RuntimeError(f"api_tokens' stored DDL has no '{old_clause}' to replace")
    rebuilt = table_sql.replace(old_clause, f"CONSTRAINT {ROLE_CHECK} CHECK ({_in('role', new)})")
    head = re.match(r'CREATE TABLE\s+"?api_tokens"?\s*\(', rebuilt)
    if head is None:
        raise RuntimeError("api_tokens' stored DDL does not start as revision 0002 wrote it")
    op.execute("CREATE TABLE api_tokens_rebuilt (" + rebuilt[head.end() :])
    op.execute("INSERT INTO api_tokens_rebuilt SELECT * FROM api_tokens")
    op.execute("DROP TABLE api_tokens")  # drops its triggers; recreated below, as stored
    op.execute("ALTER TABLE api_tokens_rebuilt RENAME TO api_tokens")
    for sql in dependents:
        op.execute(sql)


def _set_roles(old: Sequence[str], new: Sequence[str]) -> None:
    if op.get_context().dialect.name == "postgresql":
        op.drop_constraint(op.f(ROLE_CHECK), "api_tokens", type_="check")
        op.create_check_constraint(op.f(ROLE_CHECK), "api_tokens", _in("role", new))
    else:
        _rebuild_sqlite_tokens(old, new)


def upgrade() -> None:
    _set_roles(OLD_ROLES, NEW_ROLES)
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("session_hash", sa.String(64), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("session_hash", name=op.f("uq_web_sessions_session_hash")),
        sa.ForeignKeyConstraint(["token_id"], ["api_tokens.id"], name=op.f("fk_web_sessions_token_id")),
        sa.CheckConstraint("length(csrf) >= 32", name=op.f("ck_web_sessions_csrf_length")),
        sa.CheckConstraint("expires_at > created_at", name=op.f("ck_web_sessions_expires_after_created")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_web_sessions_token_id"), "web_sessions", ["token_id"])


def downgrade() -> None:
    systeem = op.get_bind().execute(sa.text("SELECT count(*) FROM api_tokens WHERE role = 'systeem'")).scalar()
    if systeem:
        raise RuntimeError(
            f"refusing to downgrade below 0005_web_sessions: {systeem} API token(s) have role 'systeem'; "
            "tokens are evidence and are never deleted"
        )
    op.drop_table("web_sessions")  # before the rebuild of api_tokens, which it refers to
    _set_roles(NEW_ROLES, OLD_ROLES)
