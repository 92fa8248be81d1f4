"""Hash recipe 2 for the decision log: the chain commits to a salted digest of the personal values, so a
purge can erase them after the retention period and the chain still verifies.

Revision ID: 0008_hash_recipe_v2
Revises: 0005_web_sessions
Create Date: 2026-12-02

The recipe itself, and why rows written before this revision keep recipe 1 instead of being rehashed, is
documented in ``serving/log/_recipe.py``. This revision:

- adds to ``decision_log``: ``hash_recipe`` (1 for every existing row), ``personal_sha256`` and
  ``personal_salt`` (the seal of recipe 2; NULL on recipe-1 rows) and ``erased_at`` (set by a purge);
- creates ``decision_log_recipes``, append-only, and records in it the checkpoint of the switch: the first
  row id that will be written under recipe 2, and the number of rows and the head hash before it;
- replaces the UPDATE refusal on ``decision_log`` by one that allows exactly one change, the erasure of a
  recipe-2 row's personal values (``inputs`` to ``{}``, ``explanation`` to ``[]``, ``personal_salt`` to
  NULL, ``erased_at`` set once) with every other column unchanged. DELETE (and TRUNCATE on PostgreSQL)
  stays refused.

The new columns are added in place (nullable, or with a default), so SQLite needs no table rebuild.
``downgrade`` refuses while any row was written under recipe 2: without its seal columns such a row no
longer verifies, and that is evidence lost.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0008_hash_recipe_v2"
down_revision: str | Sequence[str] | None = "0005_web_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
RECIPES = "decision_log_recipes"
# Every column of decision_log a purge may not touch (all but inputs, explanation, personal_salt and
# erased_at), as of this revision.
KEPT = (
    "id",
    "request_id",
    "case_id",
    "scan",
    "model_name",
    "model_version",
    "audit_sha256",
    "decision_id",
    "score",
    "threshold",
    "signal",
    "control",
    "control_draw",
    "base_value",
    "margin_scale",
    "source",
    "created_at",
    "prev_hash",
    "row_hash",
    "hash_recipe",
    "personal_sha256",
)
REFUSED_UPDATE = (
    "decision_log is append-only: UPDATE refused (a purge may only erase the personal values of a "
    "recipe-2 row, once, and change nothing else)"
)

POSTGRES_FUNCTION = f"""
CREATE FUNCTION riskscan_decision_log_erase_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.hash_recipe = 2 AND OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL
       AND NEW.personal_salt IS NULL AND NEW.inputs::text = '{{}}' AND NEW.explanation::text = '[]'
       AND ({", ".join(f"NEW.{name}" for name in KEPT)})
           IS NOT DISTINCT FROM ({", ".join(f"OLD.{name}" for name in KEPT)}) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'Decision-log rows are evidence. A purge may only erase the personal values of a '
                     'recipe-2 row, once, and change nothing else.';
END
$$
"""

SQLITE_ERASURE = (
    "OLD.hash_recipe = 2 AND OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL "
    "AND NEW.personal_salt IS NULL AND NEW.inputs = '{}' AND NEW.explanation = '[]' AND "
    + " AND ".join(f"NEW.{name} IS OLD.{name}" for name in KEPT)
)


def _postgres() -> bool:
    return op.get_context().dialect.name == "postgresql"


def _append_only(table: str) -> None:
    if _postgres():
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


def _record_checkpoint() -> None:
    bind = op.get_bind()
    head = bind.execute(sa.text("SELECT id, row_hash FROM decision_log ORDER BY id DESC LIMIT 1")).first()
    rows = bind.execute(sa.text("SELECT count(*) FROM decision_log")).scalar_one()
    last_id, head_hash = (0, GENESIS) if head is None else (int(head[0]), str(head[1]))
    bind.execute(
        sa.text(
            f"INSERT INTO {RECIPES} (hash_recipe, first_id, rows_before, head_hash_before, created_at) "
            "VALUES (2, :first_id, :rows, :head, CURRENT_TIMESTAMP)"
        ),
        {"first_id": last_id + 1, "rows": rows, "head": head_hash},
    )


def upgrade() -> None:
    op.add_column("decision_log", sa.Column("hash_recipe", sa.SmallInteger(), nullable=False, server_default="1"))
    op.add_column("decision_log", sa.Column("personal_sha256", sa.String(64), nullable=True))
    op.add_column("decision_log", sa.Column("personal_salt", sa.String(32), nullable=True))
    op.add_column("decision_log", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        RECIPES,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("hash_recipe", sa.SmallInteger(), nullable=False),
        sa.Column("first_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rows_before", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("head_hash_before", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_log_recipes")),
        sa.UniqueConstraint("hash_recipe", name=op.f("uq_decision_log_recipes_hash_recipe")),
        sa.CheckConstraint("first_id > 0 AND rows_before >= 0", name=op.f("ck_decision_log_recipes_ids")),
    )
    _append_only(RECIPES)
    _record_checkpoint()
    if _postgres():
        op.execute(POSTGRES_FUNCTION)
        op.execute("DROP TRIGGER decision_log_append_only ON decision_log")
        op.execute(
            "CREATE TRIGGER decision_log_append_only BEFORE UPDATE OR DELETE ON decision_log "
            "FOR EACH ROW EXECUTE FUNCTION riskscan_decision_log_erase_only()"
        )
    else:
        op.execute("DROP TRIGGER decision_log_no_update")
        op.execute(
            f"CREATE TRIGGER decision_log_no_update BEFORE UPDATE ON decision_log WHEN NOT ({SQLITE_ERASURE}) "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSED_UPDATE}'); END"
        )


def _refuse_to_break_the_chain() -> None:
    if context.is_offline_mode():
        return
    if context.get_x_argument(as_dictionary=True).get("drop-evidence") == "yes":
        return
    sealed = op.get_bind().execute(sa.text("SELECT count(*) FROM decision_log WHERE hash_recipe <> 1")).scalar_one()
    if sealed:
        raise RuntimeError(
            f"refusing to downgrade below 0008_hash_recipe_v2: {sealed} decision-log row(s) were written under "
            "hash recipe 2, and without their seal columns they no longer verify; on a throwaway database pass "
            "-x drop-evidence=yes"
        )


def downgrade() -> None:
    _refuse_to_break_the_chain()
    if _postgres():
        op.execute("DROP TRIGGER decision_log_append_only ON decision_log")
        op.execute("DROP FUNCTION riskscan_decision_log_erase_only()")
        op.execute(
            "CREATE TRIGGER decision_log_append_only BEFORE UPDATE OR DELETE ON decision_log "
            "FOR EACH ROW EXECUTE FUNCTION riskscan_refuse_change()"
        )
    else:
        op.execute("DROP TRIGGER decision_log_no_update")
        op.execute(
            "CREATE TRIGGER decision_log_no_update BEFORE UPDATE ON decision_log "
            "BEGIN SELECT RAISE(ABORT, 'decision_log is append-only: UPDATE refused'); END"
        )
    op.drop_table(RECIPES)  # its triggers go with it
    for column in ("erased_at", "personal_salt", "personal_sha256", "hash_recipe"):
        op.drop_column("decision_log", column)
