"""Rulings that a source column is unlawful, and the re-examination of every case scored with it.

Revision ID: 0007_unlawful_rulings
Revises: 0004_evidence_chains
Create Date: 2026-12-02

- ``unlawful_rulings``: a committee or admin token's ruling that a register column may no longer be used
  (the column, the reason, the token's id and name, when). At most one ruling per column.
- ``ruling_blocked_versions``: the registered model versions the cascade found using the column, and
  whether each was the champion then (blocking itself is re-derived by the promotion gate every time).
- ``reexaminations``: one row per logged case of a blocked version that was selected for investigation:
  ``halted`` (an investigation still open: it stops and leaves the worklist) or ``task`` (an outcome was
  recorded: its sanction is re-examined). At most one per ruling and case.
- ``reexamination_results``: staff's result for a task: ``upheld`` (on lawful grounds only, which needs
  hoor en wederhoor), ``revised`` or ``withdrawn``, with a note and the token's identity. A later result
  for the same task supersedes an earlier one; nothing is edited.
- ``ruling_cascades``: written once the cascade of a ruling has run to its end, so a second run of the
  same ruling knows whether to resume or to refuse.

All five are evidence: as in 0001 and 0002, triggers refuse UPDATE and DELETE (and TRUNCATE on
PostgreSQL, through ``riskscan_refuse_change()`` from 0001), and ``downgrade`` refuses to drop tables that
hold records unless ``-x drop-evidence=yes`` is given. Each table is also hash-chained (:mod:`riskscan.chain`,
columns ``prev_hash`` and ``row_hash``, as ``0004_evidence_chains`` did for the older evidence), so that an
edit made with the triggers dropped still shows in ``riskscan log verify``. This file is frozen once released.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import context, op

revision: str = "0007_unlawful_rulings"
down_revision: str | Sequence[str] | None = "0004_evidence_chains"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Children first: the order in which downgrade drops them.
TABLES = (
    "ruling_cascades",
    "reexamination_results",
    "reexaminations",
    "ruling_blocked_versions",
    "unlawful_rulings",
)
KINDS = ("halted", "task")
RESULTS = ("upheld", "revised", "withdrawn")


def _not_blank(table: str, column: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"length(trim({column})) > 0", name=op.f(f"ck_{table}_{column}"))


def _chain_columns() -> tuple[sa.Column[str], sa.Column[str]]:
    """The row's place in its table's hash chain (:mod:`riskscan.chain`); '' if an insert skipped it."""
    return (
        sa.Column("prev_hash", sa.String(64), nullable=False, server_default=""),
        sa.Column("row_hash", sa.String(64), nullable=False, server_default=""),
    )


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True)


def _created_at() -> sa.Column[datetime]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "unlawful_rulings",
        _id(),
        sa.Column("column_name", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ruled_by_token_id", sa.Integer(), nullable=False),
        sa.Column("ruled_by", sa.String(200), nullable=False),
        _created_at(),
        *_chain_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unlawful_rulings")),
        _not_blank("unlawful_rulings", "column_name"),
        _not_blank("unlawful_rulings", "reason"),
        _not_blank("unlawful_rulings", "ruled_by"),
        sa.UniqueConstraint("column_name", name=op.f("uq_unlawful_rulings_column_name")),
        sa.ForeignKeyConstraint(
            ["ruled_by_token_id"], ["api_tokens.id"], name=op.f("fk_unlawful_rulings_ruled_by_token_id")
        ),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "ruling_blocked_versions",
        _id(),
        sa.Column("ruling_id", sa.Integer(), nullable=False),
        sa.Column("scan", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("was_champion", sa.Boolean(), nullable=False),
        _created_at(),
        *_chain_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ruling_blocked_versions")),
        sa.UniqueConstraint(
            "ruling_id", "scan", "model_version", name=op.f("uq_ruling_blocked_versions_ruling_version")
        ),
        sa.ForeignKeyConstraint(
            ["ruling_id"], ["unlawful_rulings.id"], name=op.f("fk_ruling_blocked_versions_ruling_id")
        ),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "reexaminations",
        _id(),
        sa.Column("ruling_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        _created_at(),
        *_chain_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reexaminations")),
        sa.CheckConstraint(_in("kind", KINDS), name=op.f("ck_reexaminations_kind")),
        sa.UniqueConstraint("ruling_id", "request_id", name=op.f("uq_reexaminations_ruling_request")),
        sa.ForeignKeyConstraint(["ruling_id"], ["unlawful_rulings.id"], name=op.f("fk_reexaminations_ruling_id")),
        sa.ForeignKeyConstraint(
            ["request_id"], ["decision_log.request_id"], name=op.f("fk_reexaminations_request_id")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_reexaminations_request_id"), "reexaminations", ["request_id"])
    op.create_table(
        "reexamination_results",
        _id(),
        sa.Column("reexamination_id", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("hoor_en_wederhoor", sa.Boolean(), nullable=False),
        sa.Column("decided_by_token_id", sa.Integer(), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=False),
        _created_at(),
        *_chain_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reexamination_results")),
        sa.CheckConstraint(_in("result", RESULTS), name=op.f("ck_reexamination_results_result")),
        sa.CheckConstraint(
            "hoor_en_wederhoor OR result <> 'upheld'",
            name=op.f("ck_reexamination_results_upheld_needs_hoor_en_wederhoor"),
        ),
        _not_blank("reexamination_results", "note"),
        _not_blank("reexamination_results", "decided_by"),
        sa.ForeignKeyConstraint(
            ["reexamination_id"],
            ["reexaminations.id"],
            name=op.f("fk_reexamination_results_reexamination_id"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_token_id"],
            ["api_tokens.id"],
            name=op.f("fk_reexamination_results_decided_by_token_id"),
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_reexamination_results_reexamination_id"), "reexamination_results", ["reexamination_id"]
    )
    op.create_table(
        "ruling_cascades",
        _id(),
        sa.Column("ruling_id", sa.Integer(), nullable=False),
        _created_at(),
        *_chain_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ruling_cascades")),
        sa.UniqueConstraint("ruling_id", name=op.f("uq_ruling_cascades_ruling_id")),
        sa.ForeignKeyConstraint(["ruling_id"], ["unlawful_rulings.id"], name=op.f("fk_ruling_cascades_ruling_id")),
        sqlite_autoincrement=True,
    )
    _append_only(op.get_context().dialect.name)


def _append_only(dialect: str) -> None:
    for table in TABLES:
        if dialect == "postgresql":
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION riskscan_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION riskscan_refuse_change()"
            )
        else:
            for operation in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} refused'); END"
                )


def _refuse_to_destroy_evidence() -> None:
    if context.is_offline_mode():
        return
    if context.get_x_argument(as_dictionary=True).get("drop-evidence") == "yes":
        return
    bind = op.get_bind()
    holding = [table for table in TABLES if bind.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first()]
    if holding:
        raise RuntimeError(
            f"refusing to downgrade below 0007_unlawful_rulings: {', '.join(holding)} hold records, which are "
            "evidence; on a throwaway database pass -x drop-evidence=yes"
        )


def downgrade() -> None:
    _refuse_to_destroy_evidence()
    for table in TABLES:  # dropping a table drops its triggers and indexes
        op.drop_table(table)
