"""The serving store (decision log, outcomes, API tokens), on SQLite and on the machine's real PostgreSQL.

As for the governance tables, what matters most is tested against the database itself with raw SQL: the
rows are evidence, so the database refuses to change or delete them, and the hash chain shows it when
someone who could drop the triggers did so anyway.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic.config import main as alembic_main
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from models.governance import (
    CHECKLIST_KEYS,
    GovernanceStore,
)
from riskscan import db
from riskscan.db import (
    MIGRATIONS_DIR,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
    write_transaction,
)
from riskscan.errors import Conflict, InvalidInput, NotFound
from serving.cases import STATUS_NO_SIGNAL, STATUS_OPEN
from serving.log import (
    GENESIS_HASH,
    ROW_FIELDS,
    BatchColumns,
    DecisionLogRow,
    LogEntry,
    LoggedScore,
    _encode,
    canonical_inputs,
    new_request_ids,
    row_hash,
)
from serving.log._recipe import RECIPE_FIELDS
from serving.outcomes import OUTCOME_CHAIN, STATUS_NO_VIOLATION, STATUS_VIOLATION
from serving.store import TABLES, ServingStore
from tests.postgres import temporary_database
from tests.serving.recipe_1 import write_recipe_1_rows

AUDIT = "ab" * 32
HEAD = "0008_hash_recipe_v2"
#: The columns of decision_log from revision 0002 up to the one before 0008.
RECIPE_1_COLUMNS = (*RECIPE_FIELDS[1], "prev_hash", "row_hash")


@pytest.fixture
def url(database_url: str) -> str:
    """An empty database on each backend (tests/conftest.py: SQLite and the real PostgreSQL)."""
    return database_url


class Clock:
    """A clock the test moves by hand, so 'later' is never a matter of luck."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1, microseconds=1)
        return self.now


@pytest.fixture
def store(url: str) -> Iterator[ServingStore]:
    with ServingStore(url, clock=Clock()) as opened:
        yield opened


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


# ------------------------------------------------------------------------------------------ migrations


def test_migrations_from_empty_and_back_to_0001(url: str) -> None:
    assert current_revision(url) is None
    with ServingStore(url) as store:
        store.append_score(entry())
    assert current_revision(url) == head_revision() == HEAD
    assert set(TABLES) <= table_names(url)

    with pytest.raises(RuntimeError, match="refusing to downgrade below 0008_hash_recipe_v2: 1 decision-log"):
        db.downgrade(url, "0001_governance")
    assert current_revision(url) == HEAD  # the refusal rolled the whole downgrade back


def test_upgrade_from_0001_keeps_governance_records_and_downgrade_drops_only_serving(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(url, "0001_governance")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO committee_decisions (scan, model_version, audit_sha256, decision, "
                    "decided_by, rationale, conditions, checklist, demo, created_at) VALUES ('vw', '3', "
                    ":audit, 'approve', '[\"A\"]', 'Reviewed.', '[]', :checklist, false, :at)"
                ),
                {
                    "audit": AUDIT,
                    "checklist": json.dumps({key: "answer" for key in CHECKLIST_KEYS}),
                    "at": datetime(2026, 3, 1, tzinfo=UTC),
                },
            )
    finally:
        engine.dispose()

    with ServingStore(url) as store:  # migrates 0001 -> 0002
        logged = store.append_score(entry(decision_id=1, audit_sha256=AUDIT))
        assert logged.decision_id == 1
        with pytest.raises(NotFound, match="decision_id 99 does not exist"):
            store.append_score(entry(decision_id=99))
    with GovernanceStore(url) as governance_store:
        assert [decision.id for decision in governance_store.decisions("vw")] == [1]

    # The command line a developer uses: refuses while the log holds rows, unless told the data may go.
    monkeypatch.setenv("RISKSCAN_DATABASE_URL", url)
    monkeypatch.setattr("logging.config.fileConfig", lambda *_args, **_kwargs: None)
    ini = str(MIGRATIONS_DIR / "alembic.ini")
    with pytest.raises(RuntimeError, match="refusing to downgrade below 0008_hash_recipe_v2"):
        alembic_main(["-c", ini, "downgrade", "0001_governance"])
    alembic_main(["-c", ini, "-x", "drop-evidence=yes", "downgrade", "0001_governance"])
    assert current_revision(url) == "0001_governance"
    assert not set(TABLES) & table_names(url)
    assert "committee_decisions" in table_names(url)
    with GovernanceStore(url) as governance_store:  # back up to head: the triggers come back cleanly
        assert len(governance_store.decisions("vw")) == 1
    assert current_revision(url) == HEAD


def legacy_outcome(request_id: str) -> dict[str, Any]:
    """An outcome as revision 0004 finds those recorded before it: no token identity."""
    return {
        "request_id": request_id,
        "violation": False,
        "sanction": None,
        "hoor_en_wederhoor": True,
        "investigator": "x",
        "notes": "",
        "created_at": datetime(2026, 3, 1, 9, tzinfo=UTC),
        "token_id": None,
        "token_name": None,
    }


def _unique_columns(url: str) -> set[tuple[str, ...]]:
    engine = make_engine(url)
    try:
        found = inspect(engine).get_unique_constraints("decision_log")
    finally:
        engine.dispose()
    return {tuple(constraint["column_names"]) for constraint in found}


def test_0003_drops_the_row_hash_constraint_and_keeps_every_row_trigger_and_index(url: str) -> None:
    """Both directions with records in the log: rows unchanged, chain intact, triggers and indexes back."""
    written = write_recipe_1_rows(url, [entry(case_id=f"c{i}", signal=i % 2 == 0) for i in range(5)])
    columns_0002 = ", ".join(name for name in written[0] if name in RECIPE_1_COLUMNS)
    engine = make_engine(url)
    try:
        with write_transaction(engine) as connection:  # as before 0004: no token identity
            OUTCOME_CHAIN.append(connection, legacy_outcome(written[0]["request_id"]))
        with engine.connect() as connection:
            rows = connection.execute(text(f"SELECT {columns_0002} FROM decision_log ORDER BY id")).all()
    finally:
        engine.dispose()
    assert ("row_hash",) not in _unique_columns(url) and ("request_id",) in _unique_columns(url)

    db.downgrade(url, "0002_serving")  # puts the constraint back; 0002 holds the records
    assert current_revision(url) == "0002_serving"
    assert ("row_hash",) in _unique_columns(url)
    upgrade(url)
    assert ("row_hash",) not in _unique_columns(url)

    with ServingStore(url, clock=Clock()) as store:
        with store.engine.connect() as connection:
            assert (
                connection.execute(text(f"SELECT {columns_0002} FROM decision_log ORDER BY id")).all() == rows
            )
        assert store.verify_chain().ok
        assert len(store.outcomes("vw")) == 1 and len(store.worklist("vw", 10)) == 2
        store.append_scores([entry(case_id="after")])
        assert store.verify_chain().ok
        for statement in ("UPDATE decision_log SET score = 0.5", "DELETE FROM decision_log"):
            with pytest.raises(IntegrityError, match="append-only"):
                execute(store, statement)


def test_sqlite_store_uses_wal_and_lives_in_riskscan_home(riskscan_home: Path) -> None:
    with ServingStore() as store:
        assert store.url == f"sqlite:///{riskscan_home / 'governance.db'}"
        store.append_score(entry())
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    with ServingStore(sqlite_synchronous="FULL") as store, store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    with pytest.raises(InvalidInput, match="sqlite_synchronous must be one of 'NORMAL', 'FULL', got 'OFF'"):
        ServingStore(sqlite_synchronous="OFF")
    with pytest.raises(InvalidInput, match="checkpoint_every must be a positive number of seconds, got 0"):
        ServingStore(checkpoint_every=0)


def test_background_checkpoints(riskscan_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ServingStore(checkpoint_every=0.01) as store:
        done = threading.Semaphore(0)
        checkpoint = store.checkpoint

        def counted() -> None:
            checkpoint()
            done.release()

        monkeypatch.setattr(store, "checkpoint", counted)
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10_000
        store.append_scores([entry(case_id=f"case-{n}") for n in range(20)])
        assert done.acquire(timeout=5)
        assert done.acquire(timeout=5)  # it keeps going
        thread = store._checkpointer
        assert thread is not None
        assert thread.is_alive()
        assert store.verify_chain().rows_checked == 20
    assert not thread.is_alive()  # close() stops it


# ---------------------------------------------------------------------------------------- decision log


def test_append_get_and_the_chain(store: ServingStore) -> None:
    first = store.append_score(entry())
    batch = store.append_scores(
        [entry(case_id=f"case-{n}", source="batch", explanation=[], base_value=None) for n in range(2, 5)]
    )
    assert store.append_scores([]) == []

    assert [row.id for row in (first, *batch)] == [1, 2, 3, 4]
    assert first.prev_hash == GENESIS_HASH
    assert [row.prev_hash for row in batch] == [first.row_hash, batch[0].row_hash, batch[1].row_hash]
    assert len({row.created_at for row in batch}) == 1  # one append, one moment
    assert first.created_at.tzinfo is UTC

    read = store.get_score(first.request_id)
    assert read == first
    assert read is not None
    assert read.inputs == {"leeftijd": 41, "inkomen": 2345.67, "sector": "bouw", "ontbreekt": None}
    assert read.explanation == (
        {"feature": "leeftijd", "label": "Leeftijd", "value": 41, "contribution": 0.12},
    )
    assert store.get_score(batch[2].request_id) == batch[2]
    assert store.get_score(uuid.uuid4().hex) is None
    assert store.get_score("not a uuid") is None
    assert store.get_score(str(uuid.UUID(first.request_id))) == first  # the hyphenated spelling too

    as_json = json.loads(json.dumps(read.as_dict()))
    assert as_json["created_at"].endswith("+00:00")
    assert as_json["inputs"]["inkomen"] == 2345.67

    # The documented recipe 2, written out independently: what an auditor would run.
    def canonical(value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    assert as_json["hash_recipe"] == 2 and len(as_json["personal_salt"]) == 32
    personal = {"explanation": as_json["explanation"], "inputs": as_json["inputs"]}
    sealed = hashlib.sha256((as_json["personal_salt"] + canonical(personal)).encode()).hexdigest()
    assert sealed == as_json["personal_sha256"]
    unhashed = ("prev_hash", "row_hash", "inputs", "explanation", "personal_salt", "erased_at")
    record = {key: value for key, value in as_json.items() if key not in unhashed}
    assert hashlib.sha256((read.prev_hash + canonical(record)).encode()).hexdigest() == read.row_hash
    assert row_hash(read.prev_hash, record) == read.row_hash
    assert row_hash(read.prev_hash, as_json) == read.row_hash  # the fields outside the recipe are left out

    report = store.verify_chain(batch_size=3)  # several batches
    assert report.ok
    assert (report.rows_checked, report.head_id, report.head_hash) == (4, 4, batch[2].row_hash)
    assert report.as_dict()["first_broken_id"] is None


def test_the_table_has_exactly_the_columns_of_a_logged_score(url: str) -> None:
    """One field list: the ORM table and the migrated database hold exactly the fields of LoggedScore."""
    assert {column.name for column in DecisionLogRow.__table__.columns} == set(ROW_FIELDS)
    ServingStore(url).close()
    engine = make_engine(url)
    try:
        migrated = {column["name"] for column in inspect(engine).get_columns("decision_log")}
    finally:
        engine.dispose()
    assert migrated == set(ROW_FIELDS)


def test_an_empty_log_verifies(store: ServingStore) -> None:
    report = store.verify_chain()
    assert (report.ok, report.rows_checked, report.head_id, report.head_hash) == (True, 0, None, GENESIS_HASH)


def test_raw_values_are_logged_as_plain_json_and_hash_the_same_on_read(store: ServingStore) -> None:
    """What JSONB would rewrite (1e16, -0.0, 1e-7, big integers), text with quotes and non-ASCII, and what
    pandas and numpy hand over (NaN, NaT-like missing values, numpy scalars, dates) all survive the round
    trip, and the row hash computed at append time is the one recomputed from the stored row."""
    inputs = {
        "groot": 1e16,
        "klein": 1e-7,
        "min_nul": -0.0,
        "geheel": 2**62,
        "tekst": 'Ĳsselmeer "quote" \\ \n tab\t',
        "np_int": np.int64(7),
        "np_float32": np.float32(0.1),
        "np_bool": np.bool_(True),
        "ontbreekt": math.nan,
        "datum": date(2026, 1, 31),
        "lijst": (1, 2.5, None),
        "genest": {"b": 1, "a": [True, False]},
        "array": np.array([1.5, 2.5]),
    }
    logged = store.append_score(
        entry(
            inputs=inputs,
            score=np.float64(0.1) + np.float64(0.2),
            signal=np.bool_(True),
            explanation=[
                {
                    "feature": "datum",
                    "label": "Datum",
                    "value": date(2026, 1, 31),
                    "contribution": np.float32(-0.25),
                }
            ],
            audit_sha256=AUDIT.upper(),
        )
    )
    assert logged.inputs["ontbreekt"] is None
    assert logged.inputs["datum"] == "2026-01-31"
    assert logged.inputs["np_int"] == 7
    assert type(logged.inputs["np_int"]) is int
    assert logged.inputs["np_float32"] == float(np.float32(0.1))
    assert logged.inputs["lijst"] == [1, 2.5, None]
    assert logged.inputs["array"] == [1.5, 2.5]
    assert logged.score == 0.30000000000000004
    assert logged.signal is True
    assert logged.audit_sha256 == AUDIT
    assert store.get_score(logged.request_id) == logged
    assert store.verify_chain().ok


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"request_id": "abc"}, "request_id must be a UUID .* got 'abc'"),
        ({"case_id": " "}, "case_id must be non-empty text, got ' '"),
        ({"scan": ""}, "scan must be non-empty text, got ''"),
        ({"score": math.nan}, "score must be a finite number, got nan"),
        ({"score": "0.4"}, "score must be a finite number, got '0.4'"),
        ({"threshold": True}, "threshold must be a finite number, got True"),
        ({"signal": 1}, "signal must be True or False, got 1"),
        ({"control_draw": 1.0}, r"control_draw must lie in \[0, 1\), got 1.0"),
        ({"control_draw": -0.1}, r"control_draw must lie in \[0, 1\), got -0.1"),
        ({"source": "cli"}, "source must be one of 'api', 'batch', got 'cli'"),
        ({"audit_sha256": "abc"}, "audit_sha256 must be 64 hexadecimal characters or None, got 'abc'"),
        ({"decision_id": "1"}, "decision_id must be an integer or None, got '1'"),
        ({"inputs": [1, 2]}, r"inputs must be a mapping of input name to value, got \[1, 2\]"),
        ({"inputs": {1: "x"}}, "inputs has key 1; keys must be text"),
        ({"inputs": {"x": math.inf}}, r"inputs\['x'\] is inf; only finite numbers can be logged"),
        ({"inputs": {"x": object}}, r"inputs\['x'\] holds .* \(type\), which cannot be logged as JSON"),
        ({"explanation": [{"feature": "x"}]}, r"explanation\[0\] must have exactly the keys"),
        ({"explanation": "leeftijd"}, "explanation must be a list of"),
    ],
)
def test_invalid_rows_are_refused_naming_field_and_value(
    riskscan_home: Path, overrides: dict[str, Any], message: str
) -> None:
    with ServingStore() as store:
        with pytest.raises(InvalidInput, match=message):
            store.append_scores([entry(case_id="fine"), entry(**overrides)])
        assert store.verify_chain().rows_checked == 0  # nothing of the append was written


def test_a_request_id_is_logged_once(store: ServingStore) -> None:
    logged = store.append_score(entry())
    with pytest.raises(Conflict, match=f"request_id '{logged.request_id}' is already logged"):
        store.append_scores([entry(), entry(request_id=logged.request_id)])
    twice = uuid.uuid4().hex
    with pytest.raises(InvalidInput, match=f"request_id '{twice}' appears more than once in this append"):
        store.append_scores([entry(request_id=twice), entry(request_id=twice)])
    assert store.verify_chain().rows_checked == 1
    assert isinstance(InvalidInput("x"), InvalidInput | ValueError)


def test_bulk_appends_chunk_and_stay_one_chain(store: ServingStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("serving.log._chain.INSERT_CHUNK", 7)
    rows = [
        entry(case_id=f"case-{n}", score=n / 100, source="batch", explanation=[], control_draw=n / 50)
        for n in range(50)
    ]
    logged = store.append_scores(rows)
    assert [row.id for row in logged] == list(range(1, 51))
    assert [store.get_score(row.request_id) for row in logged[::10]] == logged[::10]
    assert store.verify_chain(batch_size=8).rows_checked == 50


@contextmanager
def second_database(url: str, tmp_path: Path) -> Iterator[str]:
    """Another empty database on the same backend as ``url``."""
    if url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'second.db'}"
    else:
        with temporary_database() as other:
            yield other


def batch_columns(rows: int = 23) -> BatchColumns:
    """A batch with the awkward values a caseload can hold, as numpy arrays and as lists."""
    rng = np.random.default_rng(7)
    index = np.arange(rows)
    explained: dict[int, tuple[list[dict[str, Any]], float]] = {
        1: (
            [
                {"feature": "leeftijd", "label": "Leeftijd", "value": np.int64(41), "contribution": 0.12},
                {"feature": "datum", "label": "Datum", "value": date(2025, 1, 2), "contribution": -1e-9},
            ],
            -1.5,
        ),
        9: ([], -2.0),
        21: (
            [{"feature": "sector", "label": "Sector", "value": None, "contribution": np.float32(0.5)}],
            0.25,
        ),
    }
    return BatchColumns(
        scan="vw",
        model_name="riskscan-vw",
        model_version="3",
        threshold=0.7,
        margin_scale="log-odds (raw LightGBM margin, before calibration)",
        audit_sha256=AUDIT.upper(),
        decision_id=None,
        case_ids=[f" case-{n} " if n == 3 else f"case-{n}" for n in range(rows)],
        inputs={
            "leeftijd": rng.integers(18, 67, rows),
            "groot": np.where(index % 4 == 0, 2**62, index).astype(np.int64),
            "inkomen": np.where(index % 5 == 0, np.nan, rng.random(rows) * 1e4),
            "klein": (rng.random(rows) * 1e-7).astype(np.float32),
            "min_nul": np.where(index % 2 == 0, -0.0, 1e16),
            "vso": index % 3 == 0,
            "sector": np.array(["bouw", 'Ĳssel "quote" \\ \n', np.nan] * rows, dtype=object)[:rows],
            "datum": [date(2025, 1, n % 28 + 1) if n % 6 else None for n in range(rows)],
            "lijst": [(1, 2.5, None), {"b": 1, "a": [True]}] * (rows // 2) + [np.int64(3)] * (rows % 2),
            '100% "raar"': [np.bool_(n % 2 == 0) for n in range(rows)],
        },
        scores=rng.random(rows),
        signal=index % 4 == 1,
        control=index % 7 == 2,
        control_draws=rng.random(rows) * 0.999,
        explanations={row: value for row, value in explained.items() if row < rows},
    )


def test_canonical_inputs_write_what_a_log_entry_writes(store: ServingStore) -> None:
    columns = batch_columns()
    texts = canonical_inputs(columns.inputs, len(columns))
    for row in (0, 1, 2, 3, 5, 6, 22):
        logged = store.append_score(
            entry(case_id=f"row-{row}", inputs={k: v[row] for k, v in columns.inputs.items()})
        )
        canonical = json.dumps(
            logged.as_dict()["inputs"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        assert texts[row] == canonical
    assert canonical_inputs({}, 2) == ["{}", "{}"]
    with pytest.raises(InvalidInput, match=r"inputs\['x'\] is inf in row 1; only finite numbers"):
        canonical_inputs({"x": np.array([1.0, np.inf])}, 2)
    with pytest.raises(
        InvalidInput, match=r"inputs\['x'\] is -inf; only finite numbers can be logged \(row 0\)"
    ):
        canonical_inputs({"x": [-math.inf]}, 1)
    with pytest.raises(InvalidInput, match=r"inputs\['x'\] has 1 values for 2 rows"):
        canonical_inputs({"x": [1]}, 2)


def test_batch_request_ids_are_time_ordered_uuid7() -> None:
    before = int(datetime.now(UTC).timestamp() * 1000)
    ids = new_request_ids(1000)
    after = int(datetime.now(UTC).timestamp() * 1000)
    assert len(set(ids)) == 1000
    assert all(uuid.UUID(key).version == 7 and uuid.UUID(key).hex == key for key in ids)
    assert all(before - 1 <= int(key[:12], 16) <= after + 1 for key in ids)
    assert len({key[12:] for key in ids}) == 1000  # 74 random bits after the time
    assert new_request_ids(0) == []


def test_the_bulk_path_logs_the_same_rows_and_hashes_as_log_entries(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """append_batch (the batch scorer's columns) against append_scores (a LogEntry per row), at the same
    moment, in chunks of the same size, with the same salts: every stored row, hashes included, is the same."""
    moment = datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)
    columns = batch_columns()
    counter = itertools.count()
    monkeypatch.setattr(_encode, "new_salts", lambda rows: [f"{next(counter):032x}" for _ in range(rows)])
    with (
        second_database(url, tmp_path) as other_url,
        ServingStore(url, clock=lambda: moment) as bulk,
        ServingStore(other_url, clock=lambda: moment) as plain,
    ):
        seen: list[int] = []
        request_ids = bulk.append_batch(columns, chunk_rows=7, progress=seen.append)
        assert seen == [7, 7, 7, 2]
        entries = []
        for row, request_id in enumerate(request_ids):
            explanation, base_value = columns.explanations.get(row, ([], None))
            entries.append(
                LogEntry(
                    case_id=columns.case_ids[row],
                    scan=columns.scan,
                    model_name=columns.model_name,
                    model_version=columns.model_version,
                    inputs={name: values[row] for name, values in columns.inputs.items()},
                    score=columns.scores[row],
                    threshold=columns.threshold,
                    signal=columns.signal[row],
                    control=columns.control[row],
                    control_draw=columns.control_draws[row],
                    margin_scale=columns.margin_scale,
                    source="batch",
                    explanation=explanation,
                    base_value=base_value,
                    audit_sha256=columns.audit_sha256,
                    decision_id=columns.decision_id,
                    request_id=request_id,
                )
            )
        counter = itertools.count()  # the same salts again, in the same order
        expected = [
            row for start in range(0, 23, 7) for row in plain.append_scores(entries[start : start + 7])
        ]
        assert [bulk.get_score(request_id) for request_id in request_ids] == expected
        assert expected[3].case_id == "case-3"
        assert expected[1].explanation[1]["value"] == "2025-01-02"
        assert (expected[9].explanation, expected[9].base_value) == ((), -2.0)
        report = bulk.verify_chain(batch_size=5)
        assert report.ok, report.problem
        assert (report.rows_checked, report.head_hash) == (23, expected[-1].row_hash)
        # And it chains on to whatever the service appended before and after.
        api = bulk.append_score(entry(case_id="api"))
        assert api.prev_hash == expected[-1].row_hash
        more = bulk.append_batch(batch_columns(3))
        assert bulk.get_score(more[0]).prev_hash == api.row_hash  # type: ignore[union-attr]
        assert bulk.verify_chain().rows_checked == 27


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"scores": np.array([0.5, np.nan, 0.5])}, r"score must be a finite number, got nan \(row 1\)"),
        (
            {"control_draws": np.array([0.5, 0.5, 1.0])},
            r"control_draw must lie in \[0, 1\), got 1.0 \(row 2\)",
        ),
        ({"signal": np.array([1, 0, 0])}, "signal must be True or False, got int64"),
        ({"scores": np.array([0.5, 0.5])}, r"scores must hold one value per row \(3\), got shape \(2,\)"),
        ({"case_ids": ["a", " ", "c"]}, "case_id must be non-empty text, got ' '"),
        ({"scan": ""}, "scan must be non-empty text, got ''"),
        ({"audit_sha256": "abc"}, "audit_sha256 must be 64 hexadecimal characters or None, got 'abc'"),
        ({"inputs": {"x": np.array([1.0, np.inf, 1.0])}}, r"inputs\['x'\] is inf in row 1"),
        ({"explanations": {1: ([{"feature": "x"}], 0.0)}}, r"explanation\[0\] must have exactly the keys"),
        ({"explanations": {5: ([], 0.0)}}, "explanations has row 5, which is not a row of this batch"),
    ],
)
def test_the_bulk_path_refuses_what_a_log_entry_would(
    riskscan_home: Path, overrides: dict[str, Any], message: str
) -> None:
    fields = {
        "scan": "vw",
        "model_name": "riskscan-vw",
        "model_version": "3",
        "threshold": 0.7,
        "margin_scale": "log-odds",
        "audit_sha256": None,
        "decision_id": None,
        "case_ids": ["a", "b", "c"],
        "inputs": {"x": np.array([1.0, 2.0, 3.0])},
        "scores": np.array([0.1, 0.2, 0.3]),
        "signal": np.array([False, True, False]),
        "control": np.array([False, False, True]),
        "control_draws": np.array([0.5, 0.5, 0.01]),
        **overrides,
    }
    with ServingStore() as store:
        with pytest.raises(InvalidInput, match=message):
            store.append_batch(BatchColumns(**fields))
        assert store.verify_chain().rows_checked == 0


# ----------------------------------------------------------------------------------- chain verification


def test_a_changed_score_is_found(store: ServingStore) -> None:
    logged = store.append_scores([entry(case_id=f"case-{n}") for n in range(5)])
    drop_log_triggers(store)
    execute(store, "UPDATE decision_log SET score = 0.99 WHERE id = 3")

    report = store.verify_chain(batch_size=2)
    assert not report.ok
    assert report.first_broken_id == 3
    assert report.problem is not None
    assert report.problem.startswith("hash mismatch")
    assert (report.rows_checked, report.head_id, report.head_hash) == (2, 2, logged[1].row_hash)


def test_a_rewritten_row_hash_breaks_the_link_to_the_next_row(store: ServingStore) -> None:
    store.append_scores([entry(case_id=f"case-{n}") for n in range(4)])
    drop_log_triggers(store)
    original = store.get_score(store.cases(scan="vw")[1].request_id)
    assert original is not None
    forged = {k: v for k, v in original.as_dict().items() if not k.endswith("_hash")}
    forged["score"] = 0.01
    execute(
        store,
        "UPDATE decision_log SET score = 0.01, row_hash = :forged WHERE id = 2",
        forged=row_hash(original.prev_hash, forged),
    )
    report = store.verify_chain()
    assert (report.ok, report.first_broken_id) == (False, 3)
    assert report.problem is not None
    assert report.problem.startswith("link broken")


def test_a_removed_row_leaves_a_gap(store: ServingStore) -> None:
    logged = store.append_scores([entry(case_id=f"case-{n}") for n in range(5)])
    drop_log_triggers(store)

    # Removing the newest row leaves a chain that checks out: only a head hash kept elsewhere shows it.
    execute(store, "DELETE FROM decision_log WHERE id = 5")
    report = store.verify_chain()
    assert (report.ok, report.rows_checked, report.head_hash) == (True, 4, logged[3].row_hash)
    assert report.head_hash != logged[4].row_hash

    execute(store, "DELETE FROM decision_log WHERE id = 3")
    report = store.verify_chain()
    assert (report.ok, report.first_broken_id, report.rows_checked) == (False, 4, 2)
    assert report.problem is not None
    assert report.problem.startswith("gap: id 3 missing before id 4")

    execute(store, "DELETE FROM decision_log WHERE id = 1")
    report = store.verify_chain()
    assert (report.ok, report.first_broken_id, report.rows_checked) == (False, 2, 0)
    assert report.problem is not None
    assert report.problem.startswith("gap: id 1 missing before id 2")


# ------------------------------------------------------------------------------- cases and outcomes


def test_cases_worklist_and_outcomes(store: ServingStore) -> None:
    quiet, low, high, control, other_version, other_scan = store.append_scores(
        [
            entry(case_id="quiet", score=0.1),
            entry(case_id="low", score=0.75, signal=True),
            entry(case_id="high", score=0.95, signal=True),
            entry(case_id="control", score=0.05, control=True, control_draw=0.01),
            entry(case_id="v4", score=0.8, signal=True, model_version="4"),
            entry(case_id="other", scan="sollicitatie", score=0.99, signal=True),
        ]
    )
    statuses = {case.case_id: case.status for case in store.cases(scan="vw")}
    assert statuses == {
        "quiet": STATUS_NO_SIGNAL,
        "low": STATUS_OPEN,
        "high": STATUS_OPEN,
        "control": STATUS_OPEN,  # the random control sample is investigated regardless of score
        "v4": STATUS_OPEN,
    }
    # The control sample first (it is only unbiased if all of it is done), then signals by score.
    assert [case.case_id for case in store.worklist("vw", 10)] == ["control", "high", "v4", "low"]
    assert [case.case_id for case in store.worklist("vw", 2)] == ["control", "high"]

    _, visser = store.create_token(name="E. Visser", role="handhaving")
    first = store.record_outcome(
        recorded_by=visser,
        request_id=high.request_id,
        violation=False,
        sanction=None,
        hoor_en_wederhoor=False,
        investigator="E. Visser",
    )
    latest = store.record_outcome(
        recorded_by=visser,
        request_id=high.request_id,
        violation=True,
        sanction="  boete  ",
        hoor_en_wederhoor=True,
        investigator="E. Visser",
        notes="Werkgever bevestigt werkzaamheden.",
    )
    store.record_outcome(
        recorded_by=store.create_token(name="F. de Boer", role="handhaving")[1],
        request_id=control.request_id,
        violation=False,
        sanction="",  # blank means none
        hoor_en_wederhoor=True,
        investigator="F. de Boer",
    )
    assert latest.sanction == "boete"
    assert (latest.case_id, latest.scan, latest.status) == ("high", "vw", STATUS_VIOLATION)

    cases = {case.case_id: case for case in store.cases(scan="vw")}
    assert cases["high"].status == STATUS_VIOLATION  # the latest outcome counts
    assert cases["high"].outcome == latest
    assert cases["control"].status == STATUS_NO_VIOLATION
    assert cases["low"].outcome is None
    assert [case.case_id for case in store.worklist("vw", 10)] == ["v4", "low"]

    assert [o.id for o in store.outcomes()] == [first.id, latest.id, first.id + 2]
    assert [o.id for o in store.outcomes("vw", latest_only=True)] == [latest.id, first.id + 2]
    assert store.outcomes("sollicitatie") == []

    assert [c.case_id for c in store.cases(scan="vw", model_version="4")] == ["v4"]
    assert [c.case_id for c in store.cases(scan="vw", signal_only=True)] == ["low", "high", "control", "v4"]
    assert [c.case_id for c in store.cases(scan="vw", limit=2)] == ["quiet", "low"]
    moment = quiet.created_at
    assert [c.case_id for c in store.cases(scan="vw", end=moment)] == []
    assert len(store.cases(scan="vw", start=moment, end=moment + timedelta(seconds=1))) == 5
    assert [c.case_id for c in store.cases(scan="sollicitatie")] == ["other"]
    assert other_version.model_version == "4"
    assert other_scan.scan == "sollicitatie"
    assert low.signal

    as_json = json.loads(json.dumps(cases["high"].as_dict()))
    assert as_json["outcome"]["sanction"] == "boete"
    assert as_json["status"] == "afgehandeld: overtreding"
    with pytest.raises(InvalidInput, match="start must be a datetime with a time zone"):
        store.cases(scan="vw", start=datetime(2026, 3, 1))
    with pytest.raises(InvalidInput, match="limit must be a positive integer, got 0"):
        store.worklist("vw", 0)


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"request_id": "0" * 32}, NotFound, f"no scored case with request_id '{'0' * 32}'"),
        ({"request_id": "onbekend"}, NotFound, "no scored case with request_id 'onbekend'"),
        (
            {"violation": True, "sanction": "boete", "hoor_en_wederhoor": False},
            InvalidInput,
            "hoor_en_wederhoor is False with violation True",
        ),
        (
            {"violation": False, "sanction": "boete"},
            InvalidInput,
            "sanction 'boete' given with violation False",
        ),
        ({"investigator": " "}, InvalidInput, "investigator must be non-empty text, got ' '"),
        ({"violation": "ja"}, InvalidInput, "violation must be True or False, got 'ja'"),
    ],
)
def test_invalid_outcomes_are_refused(
    riskscan_home: Path, overrides: dict[str, Any], error: type[Exception], message: str
) -> None:
    with ServingStore() as store:
        logged = store.append_score(entry(signal=True))
        fields: dict[str, Any] = {
            "recorded_by": store.create_token(name="E. Visser", role="handhaving")[1],
            "request_id": logged.request_id,
            "violation": False,
            "sanction": None,
            "hoor_en_wederhoor": True,
            "investigator": "E. Visser",
        }
        with pytest.raises(error, match=message):
            store.record_outcome(**{**fields, **overrides})
        assert store.outcomes() == []


BYPASSING_OUTCOMES = [
    ("true, NULL, false, 'E'", "violation_needs_hoor_en_wederhoor"),
    ("false, 'boete', true, 'E'", "sanction_needs_violation"),
    ("false, NULL, true, ' '", "ck_outcomes_investigator"),
    ("false, NULL, true, 'E'", "FOREIGN KEY|fk_outcomes_request_id"),
]


def test_the_database_refuses_outcomes_that_bypass_the_store(store: ServingStore) -> None:
    logged = store.append_score(entry())
    sql = (
        "INSERT INTO outcomes (request_id, violation, sanction, hoor_en_wederhoor, investigator, created_at, "
        f"prev_hash, row_hash) VALUES (:request_id, {{values}}, :at, '{GENESIS_HASH}', '{GENESIS_HASH}')"
    )
    at = datetime(2026, 3, 1, tzinfo=UTC)
    for values, constraint in BYPASSING_OUTCOMES:
        request_id = uuid.uuid4().hex if "FOREIGN" in constraint else logged.request_id
        with pytest.raises(IntegrityError, match=constraint):
            execute(store, sql.format(values=values), request_id=request_id, at=at)
    execute(store, sql.format(values="true, 'boete', true, 'E'"), request_id=logged.request_id, at=at)
    assert [outcome.sanction for outcome in store.outcomes()] == ["boete"]


# ------------------------------------------------------------------------ what the database refuses


CHANGES = [
    "UPDATE decision_log SET score = 0.99",
    "DELETE FROM decision_log",
    "UPDATE outcomes SET violation = false",
    "DELETE FROM outcomes",
    "UPDATE api_tokens SET role = 'admin'",
    "DELETE FROM api_tokens",
    "UPDATE token_revocations SET reason = 'never mind'",
    "DELETE FROM token_revocations WHERE id = 1",
]


def test_the_database_refuses_to_change_or_delete_records(store: ServingStore) -> None:
    logged = store.append_score(entry(signal=True))
    store.record_outcome(
        recorded_by=store.create_token(name="E", role="handhaving")[1],
        request_id=logged.request_id,
        violation=True,
        sanction="boete",
        hoor_en_wederhoor=True,
        investigator="E",
    )
    _token, record = store.create_token(name="ci", role="retrain")
    store.revoke_token(record.id, "rotated")
    before = (store.cases(scan="vw"), store.outcomes(), store.tokens())

    for sql in CHANGES:
        table = sql.split()[1] if sql.startswith("UPDATE") else sql.split()[2]
        operation = sql.split()[0]
        with pytest.raises(IntegrityError, match=f"{table} is append-only: {operation} refused"):
            execute(store, sql)
    assert (store.cases(scan="vw"), store.outcomes(), store.tokens()) == before
    assert store.verify_chain().ok


@pytest.mark.postgres
def test_postgresql_refuses_truncate() -> None:
    with temporary_database() as url, ServingStore(url) as store:
        store.append_score(entry())
        for table in ("token_revocations", "outcomes", "decision_log"):
            with pytest.raises(IntegrityError, match=f"{table} is append-only: TRUNCATE refused"):
                execute(store, f"TRUNCATE {table} CASCADE")
        assert store.verify_chain().rows_checked == 1


# ---------------------------------------------------------------------------------------------- tokens


def test_tokens(store: ServingStore) -> None:
    token, record = store.create_token(name="  Team Handhaving Noord ", role="handhaving")
    other, _ = store.create_token(name="commissie", role="committee")
    assert token.startswith("rs_")
    assert len(token) > 40
    assert token != other
    assert (record.name, record.role, record.active) == ("Team Handhaving Noord", "handhaving", True)

    with store.engine.connect() as connection:
        stored = [tuple(map(str, row)) for row in connection.execute(text("SELECT * FROM api_tokens"))]
    assert not any(token in value or token[3:] in value for row in stored for value in row)
    assert stored[0][3] == hashlib.sha256(token.encode()).hexdigest()

    assert store.authenticate(token) == record
    assert store.authenticate(token + "x") is None
    assert store.authenticate("") is None
    assert store.authenticate(None) is None  # type: ignore[arg-type]

    store.revoke_token(record.id, "Laptop kwijt.")
    assert store.authenticate(token) is None
    assert store.authenticate(other) is not None
    listed = store.tokens()
    assert [t.name for t in listed] == ["Team Handhaving Noord", "commissie"]
    assert not listed[0].active
    assert listed[0].revocation_reason == "Laptop kwijt."
    assert json.loads(json.dumps(listed[0].as_dict()))["active"] is False
    assert "token_hash" not in listed[0].as_dict()

    with pytest.raises(Conflict, match=f"API token {record.id} .* is already revoked"):
        store.revoke_token(record.id, "again")
    with pytest.raises(NotFound, match="no API token with id 99"):
        store.revoke_token(99, "typo")
    with pytest.raises(InvalidInput, match="reason must be non-empty text, got ''"):
        store.revoke_token(listed[1].id, "")
    with pytest.raises(
        InvalidInput,
        match="role must be one of 'handhaving', 'committee', 'retrain', 'admin', 'systeem', got 'root'",
    ):
        store.create_token(name="x", role="root")
    with pytest.raises(InvalidInput, match="name must be non-empty text, got ''"):
        store.create_token(name="", role="admin")
    with pytest.raises(IntegrityError, match="ck_api_tokens_role"):
        execute(
            store,
            "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES ('x', 'root', :hash, :at)",
            hash="cd" * 32,
            at=datetime(2026, 3, 1, tzinfo=UTC),
        )


# ----------------------------------------------------------------------------------------- concurrency


def test_concurrent_appends_keep_one_linear_chain(url: str) -> None:
    """Threads with their own store (own engine and pool, as separate processes would have) and threads
    sharing one store all append at once; the chain stays linear and verifiable."""
    ServingStore(url).close()  # migrate once, up front
    stores = [ServingStore(url) for _ in range(3)]
    shared = stores[0]
    errors: list[BaseException] = []
    logged: list[LoggedScore] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def work(store: ServingStore, worker: int) -> None:
        try:
            start.wait()
            for n in range(8):
                rows = [entry(case_id=f"w{worker}-{n}-{k}") for k in range(1 + n % 3)]
                result = store.append_scores(rows)
                with lock:
                    logged.extend(result)
        except BaseException as exc:  # handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(stores[i % 3] if i < 3 else shared, i)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert sorted(row.id for row in logged) == list(range(1, len(logged) + 1))
        assert len({row.prev_hash for row in logged}) == len(logged)  # no two rows share a predecessor
        report = shared.verify_chain(batch_size=10)
        assert report.ok, report.problem
        assert report.rows_checked == len(logged) == 6 * sum(1 + n % 3 for n in range(8))
    finally:
        for store in stores:
            store.close()
