"""What the serving-store tests share (their fixtures ``url`` and ``store`` are in conftest.py): a clock
moved by hand, a log entry with sensible defaults, and raw SQL for what the store itself would refuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import inspect, text

from riskscan.db import (
    make_engine,
)
from serving.log import (
    LogEntry,
)
from serving.log._recipe import RECIPE_FIELDS
from serving.store import ServingStore

AUDIT = "ab" * 32
HEAD = "0010_postgres_hex_checks"
#: The columns of decision_log from revision 0002 up to the one before 0008.
RECIPE_1_COLUMNS = (*RECIPE_FIELDS[1], "prev_hash", "row_hash")


class Clock:
    """A clock the test moves by hand, so 'later' is never a matter of luck."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1, microseconds=1)
        return self.now


def entry(**overrides: Any) -> LogEntry:
    fields: dict[str, Any] = {
        "case_id": "case-1",
        "scan": "vw",
        "model_name": "riskscan-vw",
        "model_version": "3",
        "inputs": {"leeftijd": 41, "inkomen": 2345.67, "sector": "bouw", "ontbreekt": None},
        "score": 0.42,
        "threshold": 0.7,
        "signal": False,
        "control": False,
        "control_draw": 0.5,
        "margin_scale": "log-odds (raw LightGBM margin, before calibration)",
        "explanation": [{"feature": "leeftijd", "label": "Leeftijd", "value": 41, "contribution": 0.12}],
        "base_value": -1.5,
    }
    fields.update(overrides)
    return LogEntry(**fields)


def execute(store: ServingStore, sql: str, **params: Any) -> None:
    with store.engine.begin() as connection:
        connection.execute(text(sql), params)


def drop_log_triggers(store: ServingStore) -> None:
    """What only the owner of the table can do, and what the hash chain is there to expose."""
    if store.engine.dialect.name == "postgresql":
        execute(store, "DROP TRIGGER decision_log_append_only ON decision_log")
    else:
        execute(store, "DROP TRIGGER decision_log_no_update")
        execute(store, "DROP TRIGGER decision_log_no_delete")


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
