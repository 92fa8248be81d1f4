"""The ``decision_log`` table as the ORM sees it (Alembic revisions 0002, 0003, 0008 and 0009), and the recipe
checkpoints of revision 0008 (``decision_log_recipes``).

The table belongs to the migrations; this class mirrors it for querying, and a test checks that its
columns are exactly the fields of :class:`~serving.log.LoggedScore`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Double,
    ForeignKeyConstraint,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from riskscan.chain import GENESIS_HASH
from riskscan.db import KEY_LENGTH, NAME_LENGTH, Base, UTCDateTime

_LOG_ID = BigInteger().with_variant(Integer(), "sqlite")  # INTEGER PRIMARY KEY is the rowid on SQLite


class DecisionLogRow(Base):
    """One scored case (revision 0002). JSON columns are ``json``, not ``jsonb``, on PostgreSQL: see 0002."""

    __tablename__ = "decision_log"

    id: Mapped[int] = mapped_column(_LOG_ID, primary_key=True, autoincrement=False)
    request_id: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[str] = mapped_column(String(NAME_LENGTH))
    scan: Mapped[str] = mapped_column(String(KEY_LENGTH))
    model_name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    model_version: Mapped[str] = mapped_column(String(KEY_LENGTH))
    audit_sha256: Mapped[str | None] = mapped_column(String(64))
    decision_id: Mapped[int | None] = mapped_column(Integer)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    score: Mapped[float] = mapped_column(Double)
    threshold: Mapped[float] = mapped_column(Double)
    signal: Mapped[bool] = mapped_column(Boolean)
    control: Mapped[bool] = mapped_column(Boolean)
    control_draw: Mapped[float] = mapped_column(Double)
    explanation: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    base_value: Mapped[float | None] = mapped_column(Double)
    margin_scale: Mapped[str] = mapped_column(String(NAME_LENGTH))
    source: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))
    # Revision 0008: the recipe of row_hash, the sealed digest of inputs and explanation with its salt, and
    # when a purge erased them (serving/log/_recipe.py).
    hash_recipe: Mapped[int] = mapped_column(SmallInteger, server_default=text("1"))
    personal_sha256: Mapped[str | None] = mapped_column(String(64))
    personal_salt: Mapped[str | None] = mapped_column(String(32))
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("id > 0", name="id_positive"),
        CheckConstraint(f"(id = 1) = (prev_hash = '{GENESIS_HASH}')", name="genesis"),
        CheckConstraint("length(trim(case_id)) > 0", name="case_id"),
        CheckConstraint("length(trim(scan)) > 0", name="scan"),
        CheckConstraint("length(trim(model_name)) > 0", name="model_name"),
        CheckConstraint("length(trim(model_version)) > 0", name="model_version"),
        CheckConstraint("length(trim(margin_scale)) > 0", name="margin_scale"),
        CheckConstraint("control_draw >= 0 AND control_draw < 1", name="control_draw_range"),
        CheckConstraint("source IN ('api', 'batch')", name="source"),
        UniqueConstraint("request_id", name="request_id"),
        # row_hash is not unique by constraint since revision 0003: it hashes the id (the primary key).
        ForeignKeyConstraint(["decision_id"], ["committee_decisions.id"], name="decision_id"),
        Index("ix_decision_log_scan_created_at", "scan", "created_at"),
        # Revision 0009: covering for the open worklist (id, created_at and request_id read from the index).
        Index(
            "ix_decision_log_selected",
            "scan",
            "control",
            "score",
            "id",
            "created_at",
            "request_id",
            sqlite_where=text("signal OR control"),
            postgresql_where=text("signal OR control"),
        ),
    )


class DecisionLogRecipe(Base):
    """Where a hash recipe took over (revision 0008): the first row id written under ``hash_recipe``, and
    the number of rows and the head hash of the chain before it. Append-only."""

    __tablename__ = "decision_log_recipes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hash_recipe: Mapped[int] = mapped_column(SmallInteger)
    first_id: Mapped[int] = mapped_column(_LOG_ID)
    rows_before: Mapped[int] = mapped_column(_LOG_ID)
    head_hash_before: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


LOG: Final[Table] = DecisionLogRow.__table__  # type: ignore[assignment]
RECIPES: Final[Table] = DecisionLogRecipe.__table__  # type: ignore[assignment]
#: Selected for investigation. Spelled exactly as the predicate of the partial index ix_decision_log_selected
#: (SQLAlchemy would write ``signal = 1 OR control = 1`` on SQLite, which SQLite does not match to it).
SELECTED: Final = text("(decision_log.signal OR decision_log.control)")
