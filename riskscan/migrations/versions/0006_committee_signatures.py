"""Committee signatures and monitoring obligations: four eyes on every decision, conditions followed up.

Revision ID: 0006_committee_signatures
Revises: 0007_unlawful_rulings
Create Date: 2026-12-02

- ``decision_signatures``: who signed a committee decision, as an authenticated API token (``token_id``
  references ``api_tokens``; the name is copied as it was when the token signed). The member who records
  a decision signs it in the same transaction; a decision takes effect only once a second, different
  token has co-signed it. ``UNIQUE (decision_id, token_id)`` refuses a second signature by the same
  identity in the database too, and the composite foreign key ties each signature to the decision *and
  the audit hash* it was given on, so a signature cannot claim to have reviewed another audit.
- ``decision_obligations``: the monitoring obligations an ``approve-with-conditions`` decision names, one
  per undecided audit check (``check_id``), each with a Dutch text, the control outcomes needed (if the
  audit could compute it) and a due date. ``UNIQUE (decision_id, check_id)``: one obligation per check.

- ``obligation_reviews``: each follow-up of an obligation by ``riskscan monitor``: the state it found
  (``pass``, ``fail``, ``open``, ``overdue``, ``not_followed``), on how many live control cases, the
  ratio's anytime-valid interval and a sentence. The committee page shows the latest per obligation.

The three tables are append-only like every evidence table (triggers refuse UPDATE and DELETE, and TRUNCATE on
PostgreSQL through ``riskscan_refuse_change()`` from 0001); ``downgrade`` refuses to drop them while they
hold records unless ``-x drop-evidence=yes`` is given. Each is hash-chained (:mod:`riskscan.chain`, columns
``prev_hash`` and ``row_hash``), so an edit made with the triggers dropped still shows in ``riskscan log
verify``. Decisions recorded before this revision have no
signatures, so the gate treats them as not co-signed: the committee decides again under the new rules.
This file is frozen once released.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0006_committee_signatures"
down_revision: str | Sequence[str] | None = "0007_unlawful_rulings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Children first: the order in which downgrade drops them.
TABLES = ("obligation_reviews", "decision_obligations", "decision_signatures")
REVIEW_STATES = ("pass", "fail", "open", "overdue", "not_followed")


def _not_blank(table: str, column: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"length(trim({column})) > 0", name=op.f(f"ck_{table}_{column}"))


def _chain_columns() -> tuple[sa.Column[str], sa.Column[str]]:
    """The row's place in its table's hash chain (:mod:`riskscan.chain`); '' if an insert skipped it."""
    return (
        sa.Column("prev_hash", sa.String(64), nullable=False, server_default=""),
        sa.Column("row_hash", sa.String(64), nullable=False, server_default=""),
    )


def upgrade() -> None:
    op.create_table(
        "decision_signatures",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("scan", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("audit_sha256", sa.String(64), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("signer_name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_chain_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_signatures")),
        _not_blank("decision_signatures", "signer_name"),
        sa.UniqueConstraint("decision_id", "token_id", name=op.f("uq_decision_signatures_once_per_token")),
        sa.ForeignKeyConstraint(
            ["decision_id", "scan", "model_version", "audit_sha256"],
            [
                "committee_decisions.id",
                "committee_decisions.scan",
                "committee_decisions.model_version",
                "committee_decisions.audit_sha256",
            ],
            name=op.f("fk_decision_signatures_decision_same_audit"),
        ),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name=op.f("fk_decision_signatures_token_id")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_decision_signatures_decision_id"), "decision_signatures", ["decision_id"])

    op.create_table(
        "decision_obligations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Text(), nullable=False),
        sa.Column("text_nl", sa.Text(), nullable=False),
        sa.Column("cases_needed", sa.Integer(), nullable=True),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_chain_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_obligations")),
        _not_blank("decision_obligations", "check_id"),
        _not_blank("decision_obligations", "text_nl"),
        sa.CheckConstraint(
            "cases_needed IS NULL OR cases_needed >= 0", name=op.f("ck_decision_obligations_cases_needed")
        ),
        sa.UniqueConstraint("decision_id", "check_id", name=op.f("uq_decision_obligations_once_per_check")),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["committee_decisions.id"], name=op.f("fk_decision_obligations_decision_id")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_decision_obligations_decision_id"), "decision_obligations", ["decision_id"])

    op.create_table(
        "obligation_reviews",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("obligation_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("ratio_low", sa.Float(), nullable=True),
        sa.Column("ratio_high", sa.Float(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_chain_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_obligation_reviews")),
        sa.CheckConstraint(
            "state IN (" + ", ".join(f"'{state}'" for state in REVIEW_STATES) + ")",
            name=op.f("ck_obligation_reviews_state"),
        ),
        sa.CheckConstraint("cases >= 0", name=op.f("ck_obligation_reviews_cases")),
        _not_blank("obligation_reviews", "detail"),
        sa.ForeignKeyConstraint(
            ["obligation_id"], ["decision_obligations.id"], name=op.f("fk_obligation_reviews_obligation_id")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_obligation_reviews_obligation_id"), "obligation_reviews", ["obligation_id"])

    if op.get_context().dialect.name == "postgresql":
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
            f"refusing to downgrade below 0006_committee_signatures: {', '.join(holding)} hold records, which "
            "are evidence; on a throwaway database pass -x drop-evidence=yes"
        )


def downgrade() -> None:
    _refuse_to_destroy_evidence()
    for table in TABLES:
        op.drop_table(table)
