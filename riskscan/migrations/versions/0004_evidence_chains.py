"""Hash-chain every evidence table, and record which token recorded an outcome.

Revision ID: 0004_evidence_chains
Revises: 0003_row_hash_not_unique
Create Date: 2026-12-02

Until now only the decision log was chained. With the append-only triggers dropped, an outcome (a
retraining label), a committee decision, a promotion or a withdrawal could be edited or deleted and nothing
would show it. This revision gives ``outcomes``, ``committee_decisions``, ``promotions`` and
``withdrawals`` a chain each (:mod:`riskscan.chain`): columns ``prev_hash`` and ``row_hash``, and the rows
that exist already are chained here, in id order, with the recipe of :func:`riskscan.chain.link_hash` over
the fields listed in :data:`CHAINED_FIELDS` (copied, not imported: this file is frozen once released).

Outcomes also get the identity of the token that recorded them (``token_id``, a foreign key to
``api_tokens``, and ``token_name`` as it was then). Rows from before this revision have neither: nobody
knows who recorded them, and the migration does not pretend to. ``investigator`` stays as the name shown.

Backfilling is the one UPDATE these tables ever see: the migration switches the append-only trigger off for
it (PostgreSQL: ``DISABLE TRIGGER``; SQLite: drops ``<table>_no_update`` and recreates it from its stored
DDL), inside the migration's single transaction, so a failure leaves the tables as they were.

The new columns are NOT NULL with an empty default, on both backends (SQLite cannot add a NOT NULL column
without one): an insert that skips the chain gets ``''``, which ``riskscan log verify`` reports as a
broken link, and the CHECK constraints still answer first for a row that breaks a rule. ``downgrade`` drops the columns: the hashes can be recomputed, but the token identities of
outcomes recorded since are lost, so it refuses while any outcome has one unless
``-x drop-evidence=yes`` is given.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from riskscan.chain import link_hash

revision: str = "0004_evidence_chains"
down_revision: str | Sequence[str] | None = "0003_row_hash_not_unique"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
# Parents first: the order does not matter for the chains (one per table), only for readability.
CHAINED_FIELDS: dict[str, tuple[str, ...]] = {
    "committee_decisions": (
        "scan",
        "model_version",
        "audit_sha256",
        "decision",
        "decided_by",
        "rationale",
        "conditions",
        "valid_until",
        "checklist",
        "demo",
        "created_at",
        "supersedes_id",
    ),
    "promotions": (
        "scan",
        "model_version",
        "previous_version",
        "decision_id",
        "audit_sha256",
        "promoted_by",
        "created_at",
    ),
    "withdrawals": ("scan", "model_version", "reason", "withdrawn_by", "created_at"),
    "outcomes": (
        "request_id",
        "violation",
        "sanction",
        "hoor_en_wederhoor",
        "investigator",
        "notes",
        "created_at",
        "token_id",
        "token_name",
    ),
}
# How SQLite is told about token_id: the text is kept in the stored DDL (ALTER TABLE ADD COLUMN appends it).
SQLITE_TOKEN_ID = "token_id INTEGER REFERENCES api_tokens (id)"


def _add_identity(dialect: str) -> None:
    if dialect == "sqlite":
        op.execute(f"ALTER TABLE outcomes ADD COLUMN {SQLITE_TOKEN_ID}")
    else:
        op.add_column("outcomes", sa.Column("token_id", sa.Integer(), nullable=True))
        op.create_foreign_key(op.f("fk_outcomes_token_id"), "outcomes", "api_tokens", ["token_id"], ["id"])
    op.add_column("outcomes", sa.Column("token_name", sa.String(200), nullable=True))
    op.create_index(op.f("ix_outcomes_token_id"), "outcomes", ["token_id"])


def _add_chain_columns(table: str) -> None:
    for name in ("prev_hash", "row_hash"):
        op.add_column(table, sa.Column(name, sa.String(64), nullable=False, server_default=""))


def _backfill(table: str) -> None:
    """Chain the rows already in ``table``, in id order, with the UPDATE trigger off."""
    bind = op.get_bind()
    reflected = sa.Table(table, sa.MetaData(), autoload_with=bind)
    fields = CHAINED_FIELDS[table]
    rows = bind.execute(sa.select(reflected).order_by(reflected.c.id)).all()
    if not rows:
        return
    prev_hash, links = GENESIS, []
    for row in rows:
        values = row._mapping
        row_hash = link_hash(prev_hash, {name: values[name] for name in fields})
        links.append({"key": values["id"], "prev": prev_hash, "hash": row_hash})
        prev_hash = row_hash
    update = (
        sa.update(reflected)
        .where(reflected.c.id == sa.bindparam("key"))
        .values(prev_hash=sa.bindparam("prev"), row_hash=sa.bindparam("hash"))
    )
    if bind.dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
        bind.execute(update, links)
        op.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")
        return
    trigger = f"{table}_no_update"
    stored = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :name"), {"name": trigger}
    ).scalar_one()
    op.execute(f"DROP TRIGGER {trigger}")
    bind.execute(update, links)
    op.execute(stored)


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    _add_identity(dialect)
    for table in CHAINED_FIELDS:
        _add_chain_columns(table)
        _backfill(table)


def _refuse_to_lose_identities() -> None:
    if context.is_offline_mode():
        return
    if context.get_x_argument(as_dictionary=True).get("drop-evidence") == "yes":
        return
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM outcomes WHERE token_id IS NOT NULL LIMIT 1")).first():
        raise RuntimeError(
            "refusing to downgrade below 0004_evidence_chains: outcomes hold the identity of the token that "
            "recorded them, which is evidence; on a throwaway database pass -x drop-evidence=yes"
        )


def downgrade() -> None:
    _refuse_to_lose_identities()
    dialect = op.get_context().dialect.name
    op.drop_index(op.f("ix_outcomes_token_id"), "outcomes")
    if dialect == "postgresql":
        op.drop_constraint(op.f("fk_outcomes_token_id"), "outcomes", type_="foreignkey")
    # SQLite (3.35+) drops a column in place when nothing but its own definition refers to it.
    for table in CHAINED_FIELDS:
        for name in ("row_hash", "prev_hash"):
            op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
    op.execute("ALTER TABLE outcomes DROP COLUMN token_name")
    op.execute("ALTER TABLE outcomes DROP COLUMN token_id")
