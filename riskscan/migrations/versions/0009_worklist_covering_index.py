"""The worklist's index on the selected cases covers the open list's query: ``id``, ``created_at`` and
``request_id`` join ``scan``, ``control`` and ``score`` in ``ix_decision_log_selected``.

Revision ID: 0009_worklist_covering_index
Revises: 0008_hash_recipe_v2
Create Date: 2026-12-02

Why: the open worklist (``serving/cases.py``, ``_open_selection``) walks the selected cases in ranking
order (control first, then score, then id, highest first) up to the weekly capacity, drops those with an
outcome or halted by a ruling (by ``request_id``), and pages the rest by arrival (``created_at``,
``request_id``). With the index of 0002 (``scan, control, score``) every case walked cost a look-up of its
row in the table for ``request_id`` and ``created_at``: some 1,200 rows spread over the whole log, whose
pages had to be read again after every write (any commit, a ``/score`` call's log row or a page view's
session, empties the page cache of SQLite's other connections). With these columns in the index the walk
reads the index alone, and ``id`` after ``score`` gives the ranking's tie-break in index order, so no sort
of the selected cases is needed before the capacity's LIMIT. Measured on a copy of ``bench_web.py``'s
100,000-case log, the open list's paged query: on SQLite 3.3 against 1.2 ms of CPU when another connection
wrote just before (1.6 against 1.0 ms without), on PostgreSQL 2.9 against 0.8 ms of execution time (1,204
against 22 buffers; an index-only scan once the visibility map is set, which autovacuum keeps up).

The index stays partial (``signal OR control``): the bulk of the log, neither a signal nor in the control
sample, is not in it and costs a bulk append nothing here. Both directions only rebuild the index; no row
changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_worklist_covering_index"
down_revision: str | Sequence[str] | None = "0008_hash_recipe_v2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_decision_log_selected"
# Spelled exactly as the queries spell it (serving.log.SELECTED), or SQLite does not match it to the index.
SELECTED = "signal OR control"
COVERING = ["scan", "control", "score", "id", "created_at", "request_id"]
BEFORE = ["scan", "control", "score"]  # revision 0002


def _create(columns: list[str]) -> None:
    op.create_index(
        op.f(INDEX),
        "decision_log",
        columns,
        sqlite_where=sa.text(SELECTED),
        postgresql_where=sa.text(SELECTED),
    )


def upgrade() -> None:
    op.drop_index(op.f(INDEX), table_name="decision_log")
    _create(COVERING)


def downgrade() -> None:
    op.drop_index(op.f(INDEX), table_name="decision_log")
    _create(BEFORE)
