"""Serving tables: the hash-chained decision log, investigation outcomes and API tokens, append-only.

Revision ID: 0002_serving
Revises: 0001_governance
Create Date: 2026-05-10

- ``decision_log``: every scored case, with the inputs, the explanation and the model that scored it. The
  rows form a hash chain (``prev_hash`` -> ``row_hash``, see ``serving/store.py`` for the exact recipe);
  ``id`` is assigned by the store, under a lock, as last id + 1, so a gap in the ids means a missing row,
  and two appends that raced past the lock would collide on the primary key instead of forking the chain.
- ``outcomes``: what an investigation found, recorded by staff against a ``request_id``. A later outcome
  for the same request supersedes an earlier one; nothing is edited. A violation cannot be recorded
  without hoor en wederhoor (the client was heard), and a sanction only with a violation.
- ``api_tokens`` and ``token_revocations``: tokens are stored as SHA-256 hashes only; revoking is a new
  row (at most one per token), never an edit.

The JSON columns of ``decision_log`` are ``json`` on PostgreSQL, not ``jsonb``: ``jsonb`` rewrites numbers
(``1e+16`` comes back as the integer ``10000000000000000``), which would change what the row hash covers.
``json`` keeps the text as written.

As in 0001, triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL, through
``riskscan_refuse_change()`` from 0001), and ``downgrade`` refuses to drop tables that hold records unless
``-x drop-evidence=yes`` is given. This file is frozen once released.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0002_serving"
down_revision: str | Sequence[str] | None = "0001_governance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Children first: the order in which downgrade drops them.
TABLES = ("token_revocations", "api_tokens", "outcomes", "decision_log")
ROLES = ("handhaving", "committee", "retrain", "admin")
SOURCES = ("api", "batch")
GENESIS = "0" * 64


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _dialect_checks(dialect: str) -> dict[str, dict[str, str]]:
    """Checks SQLite and PostgreSQL spell differently: constraint name -> SQL, per table."""
    if dialect == "sqlite":

        def hex_of(column: str, length: int) -> str:
            return f"length({column}) = {length} AND {column} NOT GLOB '*[^0-9a-f]*'"

        json_type = "COALESCE(json_type({0}) = '{1}', 0)"
    elif dialect == "postgresql":

        def hex_of(column: str, length: int) -> str:
            return f"{column} ~ '^[0-9a-f]{{{length}}}$'"

        json_type = "COALESCE(json_typeof({0}) = '{1}', false)"
    else:
        raise NotImplementedError(f"the governance database supports SQLite and PostgreSQL, not {dialect}")
    return {
        "decision_log": {
            "ck_decision_log_request_id_hex": hex_of("request_id", 32),
            "ck_decision_log_audit_sha256_hex": f"audit_sha256 IS NULL OR ({hex_of('audit_sha256', 64)})",
            "ck_decision_log_prev_hash_hex": hex_of("prev_hash", 64),
            "ck_decision_log_row_hash_hex": hex_of("row_hash", 64),
            "ck_decision_log_inputs_object": json_type.format("inputs", "object"),
            "ck_decision_log_explanation_array": json_type.format("explanation", "array"),
        },
        "outcomes": {},
        "api_tokens": {"ck_api_tokens_token_hash_hex": hex_of("token_hash", 64)},
        "token_revocations": {},
    }


def _checks(checks: dict[str, str]) -> list[sa.CheckConstraint]:
    return [sa.CheckConstraint(sql, name=op.f(name)) for name, sql in checks.items()]


def _not_blank(table: str, column: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"length(trim({column})) > 0", name=op.f(f"ck_{table}_{column}"))


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    checks = _dialect_checks(dialect)

    op.create_table(
        "decision_log",
        # Assigned by the store (last id + 1 under the append lock), never by a sequence: a sequence skips
        # numbers after a rollback, and then a gap would no longer mean a missing row.
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False),
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("case_id", sa.String(200), nullable=False),
        sa.Column("scan", sa.String(64), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("audit_sha256", sa.String(64), nullable=True),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("threshold", sa.Double(), nullable=False),
        sa.Column("signal", sa.Boolean(), nullable=False),
        sa.Column("control", sa.Boolean(), nullable=False),
        sa.Column("control_draw", sa.Double(), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("base_value", sa.Double(), nullable=True),
        sa.Column("margin_scale", sa.String(200), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_log")),
        sa.CheckConstraint("id > 0", name=op.f("ck_decision_log_id_positive")),
        sa.CheckConstraint(f"(id = 1) = (prev_hash = '{GENESIS}')", name=op.f("ck_decision_log_genesis")),
        _not_blank("decision_log", "case_id"),
        _not_blank("decision_log", "scan"),
        _not_blank("decision_log", "model_name"),
        _not_blank("decision_log", "model_version"),
        _not_blank("decision_log", "margin_scale"),
        sa.CheckConstraint(
            "control_draw >= 0 AND control_draw < 1", name=op.f("ck_decision_log_control_draw_range")
        ),
        sa.CheckConstraint(_in("source", SOURCES), name=op.f("ck_decision_log_source")),
        *_checks(checks["decision_log"]),
        sa.UniqueConstraint("request_id", name=op.f("uq_decision_log_request_id")),
        sa.UniqueConstraint("row_hash", name=op.f("uq_decision_log_row_hash")),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["committee_decisions.id"], name=op.f("fk_decision_log_decision_id")
        ),
    )
    op.create_index(op.f("ix_decision_log_scan_created_at"), "decision_log", ["scan", "created_at"])
    # The worklist: cases selected for investigation (a signal or the random control sample), the control
    # sample first, then by score. Partial, so the bulk of the log (no signal, no control) costs nothing
    # here. Queries must spell the condition the same way ("signal OR control") for it to be used.
    op.create_index(
        op.f("ix_decision_log_selected"),
        "decision_log",
        ["scan", "control", "score"],
        sqlite_where=sa.text("signal OR control"),
        postgresql_where=sa.text("signal OR control"),
    )

    op.create_table(
        "outcomes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("violation", sa.Boolean(), nullable=False),
        sa.Column("sanction", sa.Text(), nullable=True),
        sa.Column("hoor_en_wederhoor", sa.Boolean(), nullable=False),
        sa.Column("investigator", sa.String(200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
        _not_blank("outcomes", "investigator"),
        sa.CheckConstraint(
            "sanction IS NULL OR (violation AND length(trim(sanction)) > 0)",
            name=op.f("ck_outcomes_sanction_needs_violation"),
        ),
        sa.CheckConstraint(
            "hoor_en_wederhoor OR NOT violation", name=op.f("ck_outcomes_violation_needs_hoor_en_wederhoor")
        ),
        *_checks(checks["outcomes"]),
        sa.ForeignKeyConstraint(
            ["request_id"], ["decision_log.request_id"], name=op.f("fk_outcomes_request_id")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_outcomes_request_id"), "outcomes", ["request_id"])

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        _not_blank("api_tokens", "name"),
        sa.CheckConstraint(_in("role", ROLES), name=op.f("ck_api_tokens_role")),
        *_checks(checks["api_tokens"]),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
        sqlite_autoincrement=True,
    )

    op.create_table(
        "token_revocations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_revocations")),
        _not_blank("token_revocations", "reason"),
        *_checks(checks["token_revocations"]),
        sa.UniqueConstraint("token_id", name=op.f("uq_token_revocations_token_id")),
        sa.ForeignKeyConstraint(["token_id"], ["api_tokens.id"], name=op.f("fk_token_revocations_token_id")),
        sqlite_autoincrement=True,
    )

    if dialect == "postgresql":
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION riskscan_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION riskscan_refuse_change()"
            )
    else:
        for table in TABLES:
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
            f"refusing to downgrade below 0002_serving: {', '.join(holding)} hold records, which are "
            "evidence; on a throwaway database pass -x drop-evidence=yes"
        )


def downgrade() -> None:
    _refuse_to_destroy_evidence()
    # Dropping a table drops its triggers; riskscan_refuse_change() belongs to 0001 and stays.
    for table in TABLES:
        op.drop_table(table)
