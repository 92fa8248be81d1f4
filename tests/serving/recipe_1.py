"""Decision-log rows as the log wrote them before revision 0008 (hash recipe 1), for migration tests.

The writer of that time no longer exists, so the rows are inserted with raw SQL at the revision before 0008, each
hashed by the reference recipe (:func:`serving.log.row_hash` with no ``hash_recipe`` in the record).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from riskscan.db import make_engine, upgrade
from serving.log import GENESIS_HASH, LOG, LogEntry, row_hash
from serving.log._fields import checked

RECIPE_1_HEAD = "0005_web_sessions"  # the last revision before hash recipe 2


def write_recipe_1_rows(
    url: str,
    entries: Sequence[LogEntry],
    start: datetime = datetime(2025, 1, 6, 9, 0, tzinfo=UTC),
    revision: str = RECIPE_1_HEAD,
) -> list[dict[str, Any]]:
    """Migrate ``url`` to ``revision`` (default: the last before 0008) and append ``entries`` as recipe-1
    rows, one minute apart; returns the rows."""
    upgrade(url, revision)
    rows, prev = [], GENESIS_HASH
    for number, item in enumerate(entries, start=1):
        record = {**checked(item), "id": number, "created_at": start + timedelta(minutes=number)}
        digest = row_hash(prev, record)  # no hash_recipe in the record: recipe 1
        rows.append({**record, "prev_hash": prev, "row_hash": digest})
        prev = digest
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            for row in rows:
                connection.execute(insert(LOG).values(row))
    finally:
        engine.dispose()
    return rows
