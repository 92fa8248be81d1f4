"""The decision log on SQLite and on the machine's real PostgreSQL: appending single scores and batches (one
field list, one encoder, the same hashes either way). The case lists and outcomes on it:
test_cases_and_outcomes.py.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import inspect

from riskscan.db import (
    make_engine,
)
from riskscan.errors import Conflict, InvalidInput
from serving.log import (
    GENESIS_HASH,
    ROW_FIELDS,
    BatchColumns,
    DecisionLogRow,
    LogEntry,
    _encode,
    canonical_inputs,
    new_request_ids,
    row_hash,
)
from serving.store import ServingStore
from tests.postgres import temporary_database
from tests.serving.store_helpers import (
    AUDIT,
    entry,
)

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


@pytest.mark.parametrize("made_by", ["batch", "entry"])
def test_request_ids_are_time_ordered_uuid7(made_by: str) -> None:
    """The batch's ids and an entry's own (the service's) alike."""
    before = int(datetime.now(UTC).timestamp() * 1000)
    made = {
        "batch": lambda: new_request_ids(1000),
        "entry": lambda: [entry().request_id for _ in range(1000)],
    }
    ids = made[made_by]()
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


def test_the_fast_paths_of_the_bulk_checks_give_what_the_field_checks_give() -> None:
    """Explanation dicts as the scorers build them, text columns and case ids take shortcuts past the
    per-value checks; what comes out must be what the checks return, and anything unusual must still reach
    the checks (and their refusals)."""
    from serving.log._batch import _case_ids
    from serving.log._encode import _json_column
    from serving.log._values import explanation_field, plain

    plain_items = [
        {"feature": "sector", "label": "Sector", "value": v, "contribution": 0.25}
        for v in ("bouw", 3, None, 1.5, True)
    ]
    awkward = [
        {"feature": " sector ", "label": "Sector", "value": "bouw", "contribution": 0.25},  # stripped
        {"feature": "sector", "label": "Sector", "value": float("nan"), "contribution": 0.25},  # NaN -> null
        {"feature": "sector", "label": "Sector", "value": np.int64(4), "contribution": np.float32(0.5)},
    ]
    checked = explanation_field("explanation", plain_items + awkward)
    assert checked[:5] == plain_items
    assert checked[5]["feature"] == "sector"
    assert checked[6]["value"] is None
    assert checked[7] == {"feature": "sector", "label": "Sector", "value": 4, "contribution": 0.5}
    with pytest.raises(InvalidInput, match=r"explanation\[0\].contribution must be a finite number"):
        explanation_field("explanation", [{**plain_items[0], "contribution": math.inf}])
    with pytest.raises(InvalidInput, match=r"explanation\[0\].feature must be non-empty text"):
        explanation_field("explanation", [{**plain_items[0], "feature": ""}])

    for column in (["a", "Ĳ", None, "a"], [1, 2, 1], [True, False], ["x", 1, True, None]):
        assert _json_column("x", column) == [
            json.dumps(plain(value, "x"), ensure_ascii=False, separators=(",", ":")) for value in column
        ]

    assert _case_ids(["a", " b ", "c"]) == ["a", "b", "c"]
    with pytest.raises(InvalidInput, match="case_id must be non-empty text, got 3"):
        _case_ids(["a", 3])
    with pytest.raises(InvalidInput, match="case_id must be non-empty text, got '  '"):
        _case_ids(["a", "  "])
    with pytest.raises(InvalidInput, match="is longer than 200 characters"):
        _case_ids(["a", "x" * 201])
