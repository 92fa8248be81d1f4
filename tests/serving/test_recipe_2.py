"""Hash recipe 2 of the decision log (revision 0008): rows written before it keep recipe 1, a checkpoint
marks the switch, both parts verify as one chain, and the database allows no change but an erasure.

On SQLite and the machine's real PostgreSQL (tests/conftest.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from riskscan import db
from riskscan.db import current_revision, make_engine, upgrade
from serving.log import GENESIS_HASH, LogEntry
from serving.store import ServingStore
from tests.serving.recipe_1 import RECIPE_1_HEAD, write_recipe_1_rows
from tests.serving.store_helpers import HEAD


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def entry(case_id: str, **overrides: Any) -> LogEntry:
    fields: dict[str, Any] = {
        "case_id": case_id,
        "scan": "vw",
        "model_name": "riskscan-vw",
        "model_version": "3",
        "inputs": {"sector": "bouw", "dagloon": 123.45, "contractsoort": "tijdelijk"},
        "score": 0.42,
        "threshold": 0.7,
        "signal": False,
        "control": False,
        "control_draw": 0.5,
        "margin_scale": "log-odds",
        "explanation": [{"feature": "sector", "label": "Sector", "value": "bouw", "contribution": 0.3}],
        "base_value": -1.5,
    }
    return LogEntry(**{**fields, **overrides})


@pytest.fixture
def mixed(database_url: str) -> tuple[str, list[dict[str, Any]]]:
    """Three recipe-1 rows written before 0008, then the store at head with two recipe-2 rows on top."""
    written = write_recipe_1_rows(database_url, [entry(f"old-{n}") for n in range(3)])
    with ServingStore(database_url, clock=Clock()) as store:
        store.append_scores([entry("new-0"), entry("new-1", signal=True)])
    return database_url, written


def sql(url: str, statement: str, **params: Any) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(statement), params)
            return result.all() if result.returns_rows else []
    finally:
        engine.dispose()


def drop_triggers(url: str) -> None:
    """What only the owner of the table can do, and what the hash chain is there to expose."""
    if url.startswith("postgresql"):
        sql(url, "DROP TRIGGER decision_log_append_only ON decision_log")
    else:
        sql(url, "DROP TRIGGER decision_log_no_update")
        sql(url, "DROP TRIGGER decision_log_no_delete")


def verify(url: str) -> Any:
    with ServingStore(url) as store:
        return store.verify_chain(batch_size=2)


def test_the_migration_keeps_recipe_1_rows_and_records_the_switch(
    mixed: tuple[str, list[dict[str, Any]]],
) -> None:
    url, written = mixed
    checkpoint = sql(
        url, "SELECT hash_recipe, first_id, rows_before, head_hash_before FROM decision_log_recipes"
    )
    assert [tuple(row) for row in checkpoint] == [(2, 4, 3, written[-1]["row_hash"])]
    rows = sql(
        url,
        "SELECT id, hash_recipe, personal_sha256, personal_salt, erased_at, row_hash, prev_hash "
        "FROM decision_log ORDER BY id",
    )
    assert [row.hash_recipe for row in rows] == [1, 1, 1, 2, 2]
    assert [row.row_hash for row in rows[:3]] == [row["row_hash"] for row in written]  # not rehashed
    assert all(row.personal_sha256 is None and row.personal_salt is None for row in rows[:3])
    assert all(len(row.personal_sha256) == 64 and len(row.personal_salt) == 32 for row in rows[3:])
    assert rows[3].prev_hash == written[-1]["row_hash"]  # one chain across the switch
    report = verify(url)
    assert report.ok, report.problem
    assert (report.rows_checked, report.facts["recipe_2_from"], report.facts["erased_rows"]) == (5, 4, 0)


def test_on_an_empty_log_every_row_is_recipe_2_from_the_first(database_url: str) -> None:
    with ServingStore(database_url, clock=Clock()) as store:
        logged = store.append_score(entry("first"))
        assert (logged.hash_recipe, logged.prev_hash) == (2, GENESIS_HASH)
        assert store.verify_chain().facts["recipe_2_from"] == 1
    assert [
        tuple(row) for row in sql(database_url, "SELECT first_id, rows_before FROM decision_log_recipes")
    ] == [(1, 0)]


def test_up_and_down_with_recipe_1_rows_leaves_them_as_they_were(database_url: str) -> None:
    written = write_recipe_1_rows(database_url, [entry(f"old-{n}") for n in range(4)])
    upgrade(database_url)
    assert current_revision(database_url) == HEAD
    db.downgrade(database_url, RECIPE_1_HEAD)
    engine = make_engine(database_url)
    try:
        columns = {column["name"] for column in inspect(engine).get_columns("decision_log")}
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert not {"hash_recipe", "personal_sha256", "personal_salt", "erased_at"} & columns
    assert "decision_log_recipes" not in tables
    hashes = [row.row_hash for row in sql(database_url, "SELECT row_hash FROM decision_log ORDER BY id")]
    assert hashes == [row["row_hash"] for row in written]
    with pytest.raises(IntegrityError, match="append-only"):  # 0002's plain refusal is back
        sql(database_url, "UPDATE decision_log SET score = 0.5")
    report = verify(database_url)  # and up again: a new checkpoint at the same place
    assert report.ok and report.facts["recipe_2_from"] == 5


def test_downgrade_is_refused_once_a_row_is_sealed(mixed: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = mixed
    with pytest.raises(RuntimeError, match="2 decision-log row\\(s\\) were written under hash recipe 2"):
        db.downgrade(url, RECIPE_1_HEAD)
    assert current_revision(url) == HEAD


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE decision_log SET score = 0.9 WHERE id = 4",
        # an erasure of a recipe-1 row: its hash commits to the values
        "UPDATE decision_log SET inputs = '{}', explanation = '[]', erased_at = :now WHERE id = 1",
        # an erasure that changes something else as well
        "UPDATE decision_log SET inputs = '{}', explanation = '[]', personal_salt = NULL, erased_at = :now, "
        "signal = true WHERE id = 4",
        # an erasure that keeps the salt, which would let the digest be inverted
        "UPDATE decision_log SET inputs = '{}', explanation = '[]', erased_at = :now WHERE id = 4",
        "DELETE FROM decision_log WHERE id = 5",
        "UPDATE decision_log_recipes SET first_id = 1",
        "DELETE FROM decision_log_recipes",
    ],
)
def test_the_database_allows_no_change_but_an_erasure(
    mixed: tuple[str, list[dict[str, Any]]], statement: str
) -> None:
    url, _ = mixed
    now = (
        datetime(2031, 1, 1, tzinfo=UTC).replace(tzinfo=None)
        if url.startswith("sqlite")
        else datetime(2031, 1, 1, tzinfo=UTC)
    )
    with pytest.raises(IntegrityError, match="append-only"):
        sql(url, statement, now=now)
    assert verify(url).ok


def test_verify_finds_an_edit_of_the_personal_values_of_the_seal_and_of_the_recipe(
    mixed: tuple[str, list[dict[str, Any]]],
) -> None:
    url, _ = mixed
    drop_triggers(url)
    json_cast = "CAST(:value AS json)" if url.startswith("postgresql") else ":value"
    sql(url, f"UPDATE decision_log SET inputs = {json_cast} WHERE id = 5", value='{"sector":"zorg"}')
    report = verify(url)
    assert (report.ok, report.first_broken_id) == (False, 5)
    assert "personal values changed" in str(report.problem)
    sql(
        url,
        f"UPDATE decision_log SET inputs = {json_cast} WHERE id = 5",
        value='{"contractsoort":"tijdelijk","dagloon":123.45,"sector":"bouw"}',
    )
    assert verify(url).ok  # put back exactly: intact again

    sql(url, "UPDATE decision_log SET personal_sha256 = :digest WHERE id = 4", digest="0" * 64)
    assert "personal values changed" in str(verify(url).problem)


def test_verify_finds_a_recipe_1_row_claimed_as_recipe_2_and_a_removed_tail_before_the_switch(
    database_url: str,
) -> None:
    write_recipe_1_rows(database_url, [entry(f"old-{n}") for n in range(4)])
    upgrade(database_url)
    drop_triggers(database_url)
    sql(database_url, "UPDATE decision_log SET hash_recipe = 2 WHERE id = 2")
    report = verify(database_url)
    assert (report.first_broken_id, report.ok) == (2, False)
    assert "hash recipe 2 where recipe 1 was due" in str(report.problem)
    sql(database_url, "UPDATE decision_log SET hash_recipe = 1 WHERE id = 2")
    sql(database_url, "DELETE FROM decision_log WHERE id = 4")  # the newest row, before any recipe-2 row
    report = verify(database_url)
    assert not report.ok
    assert (
        "the log ends at row 3, but the checkpoint of the switch to hash recipe 2 recorded 4 row(s)"
        in str(report.problem)
    )
