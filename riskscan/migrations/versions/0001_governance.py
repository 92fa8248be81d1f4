"""Governance tables: committee decisions, promotions and withdrawals, append-only in the database.

Revision ID: 0001_governance
Revises:
Create Date: 2026-05-09

These rows are the evidence trail of the ethics committee, so:

- triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) on all three tables; a committee that
  changes its mind records a new decision that supersedes the old one;
- CHECK constraints repeat the store's validation (a row written around ``GovernanceStore`` is held to
  the same rules), and composite foreign keys tie a supersession and a promotion to a decision about the
  same scan, model version (and, for a promotion, the same audit);
- ``downgrade`` refuses to drop tables that hold records unless ``-x drop-evidence=yes`` is given.

This file is frozen once released: the checklist keys below are copied, not imported, because changing
the checklist is a new revision, not an edit of this one. The dialect-specific DDL (JSON checks,
triggers, the PostgreSQL trigger function) exists only here, not in the ORM models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

revision: str = "0001_governance"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("committee_decisions", "promotions", "withdrawals")
CHECKLIST_KEYS = (
    "purpose_legal_basis",
    "necessity_proportionality",
    "data_source_lawfulness",
    "fairness_results_reviewed",
    "human_oversight_hoor_en_wederhoor",
    "transparency_register_entry",
    "rereview_date",
)

# Reused by later revisions for their own append-only tables.
PG_REFUSE_CHANGE = """
CREATE FUNCTION riskscan_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'Governance records are evidence: append a new record (a superseding decision, '
                     'a withdrawal, a promotion) instead of changing or removing one.';
END
$$
"""


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _dialect_checks(dialect: str) -> dict[str, dict[str, str]]:
    """Checks SQLite and PostgreSQL spell differently, per table: constraint name -> SQL.

    A CHECK passes when its expression is NULL, so every JSON check is wrapped in COALESCE(..., false).
    """
    if dialect == "sqlite":
        hex64 = "audit_sha256 NOT GLOB '*[^0-9a-f]*'"
        array = "json_type({0}) = 'array'"
        length = "json_array_length({0})"
        answer = (
            "json_type(checklist, '$.{0}') = 'text' AND length(trim(json_extract(checklist, '$.{0}'))) > 0"
        )
        is_object = "json_type(checklist) = 'object'"
        false = "0"
    elif dialect == "postgresql":
        hex64 = "audit_sha256 ~ '^[0-9a-f]{64}$'"
        array = "jsonb_typeof({0}) = 'array'"
        length = "jsonb_array_length({0})"
        answer = "jsonb_typeof(checklist -> '{0}') = 'string' AND length(trim(checklist ->> '{0}')) > 0"
        is_object = "jsonb_typeof(checklist) = 'object'"
        false = "false"
    else:
        raise NotImplementedError(f"the governance database supports SQLite and PostgreSQL, not {dialect}")

    def never_null(expression: str) -> str:
        return f"COALESCE(({expression}), {false})"

    decided_by = f"{array.format('decided_by')} AND {length.format('decided_by')} > 0"
    conditions = (
        f"{array.format('conditions')} AND CASE WHEN decision = 'approve-with-conditions' "
        f"THEN {length.format('conditions')} > 0 ELSE {length.format('conditions')} = 0 END"
    )
    checklist = " AND ".join([is_object, *(answer.format(key) for key in CHECKLIST_KEYS)])
    return {
        "committee_decisions": {
            "ck_committee_decisions_audit_sha256_hex": hex64,
            "ck_committee_decisions_decided_by": never_null(decided_by),
            "ck_committee_decisions_conditions": never_null(conditions),
            "ck_committee_decisions_checklist": never_null(checklist),
        },
        "promotions": {"ck_promotions_audit_sha256_hex": hex64},
        "withdrawals": {},
    }


def _checks(checks: dict[str, str]) -> list[sa.CheckConstraint]:
    return [sa.CheckConstraint(sql, name=op.f(name)) for name, sql in checks.items()]


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    checks = _dialect_checks(dialect)

    op.create_table(
        "committee_decisions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("scan", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("audit_sha256", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("decided_by", _json(), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("conditions", _json(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("checklist", _json(), nullable=False),
        sa.Column("demo", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_committee_decisions")),
        sa.CheckConstraint(
            "decision IN ('approve', 'reject', 'approve-with-conditions')",
            name=op.f("ck_committee_decisions_decision"),
        ),
        sa.CheckConstraint("length(trim(rationale)) > 0", name=op.f("ck_committee_decisions_rationale")),
        sa.CheckConstraint(
            "length(audit_sha256) = 64", name=op.f("ck_committee_decisions_audit_sha256_length")
        ),
        sa.CheckConstraint(
            "supersedes_id IS NULL OR supersedes_id < id",
            name=op.f("ck_committee_decisions_supersedes_earlier"),
        ),
        *_checks(checks["committee_decisions"]),
        sa.UniqueConstraint(
            "id", "scan", "model_version", name=op.f("uq_committee_decisions_id_scan_version")
        ),
        sa.UniqueConstraint(
            "id",
            "scan",
            "model_version",
            "audit_sha256",
            name=op.f("uq_committee_decisions_id_scan_version_audit"),
        ),
        sa.UniqueConstraint("supersedes_id", name=op.f("uq_committee_decisions_supersedes_once")),
        sa.ForeignKeyConstraint(
            ["supersedes_id", "scan", "model_version"],
            ["committee_decisions.id", "committee_decisions.scan", "committee_decisions.model_version"],
            name=op.f("fk_committee_decisions_supersedes_same_scan_version"),
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_committee_decisions_scan_model_version"), "committee_decisions", ["scan", "model_version"]
    )
    # One chain per scan version: only its first decision supersedes nothing.
    op.create_index(
        op.f("uq_committee_decisions_first_decision"),
        "committee_decisions",
        ["scan", "model_version"],
        unique=True,
        sqlite_where=sa.text("supersedes_id IS NULL"),
        postgresql_where=sa.text("supersedes_id IS NULL"),
    )

    op.create_table(
        "promotions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("scan", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("previous_version", sa.String(64), nullable=True),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("audit_sha256", sa.String(64), nullable=False),
        sa.Column("promoted_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotions")),
        sa.CheckConstraint("length(trim(promoted_by)) > 0", name=op.f("ck_promotions_promoted_by")),
        sa.CheckConstraint("length(audit_sha256) = 64", name=op.f("ck_promotions_audit_sha256_length")),
        *_checks(checks["promotions"]),
        sa.ForeignKeyConstraint(
            ["decision_id", "scan", "model_version", "audit_sha256"],
            [
                "committee_decisions.id",
                "committee_decisions.scan",
                "committee_decisions.model_version",
                "committee_decisions.audit_sha256",
            ],
            name=op.f("fk_promotions_decision_same_scan_version_audit"),
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_promotions_scan"), "promotions", ["scan"])

    op.create_table(
        "withdrawals",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("scan", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("withdrawn_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_withdrawals")),
        sa.CheckConstraint("length(trim(reason)) > 0", name=op.f("ck_withdrawals_reason")),
        sa.CheckConstraint("length(trim(withdrawn_by)) > 0", name=op.f("ck_withdrawals_withdrawn_by")),
        *_checks(checks["withdrawals"]),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_withdrawals_scan"), "withdrawals", ["scan"])

    if dialect == "postgresql":
        op.execute(PG_REFUSE_CHANGE)
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
            f"refusing to downgrade below 0001_governance: {', '.join(holding)} hold governance records, "
            "which are evidence; on a throwaway database pass -x drop-evidence=yes"
        )


def downgrade() -> None:
    _refuse_to_destroy_evidence()
    # Dropping a table drops its triggers; children first because of the foreign keys.
    op.drop_table("withdrawals")
    op.drop_table("promotions")
    op.drop_table("committee_decisions")
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION riskscan_refuse_change()")
