"""The case lists and outcomes on the decision log, on SQLite and on the machine's real PostgreSQL: the
worklist, the case statuses, outcomes superseding each other, and the database refusing outcomes that
bypass the store."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from riskscan.errors import InvalidInput, NotFound
from serving.cases import STATUS_NO_SIGNAL, STATUS_OPEN
from serving.log import GENESIS_HASH
from serving.outcomes import STATUS_NO_VIOLATION, STATUS_VIOLATION
from serving.store import ServingStore
from tests.serving.store_helpers import entry, execute


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
    assert [o.id for o in store.outcomes("vw", last=2)] == [latest.id, first.id + 2]  # oldest first
    assert [o.id for o in store.outcomes(latest_only=True, last=1)] == [first.id + 2]
    assert store.outcomes("sollicitatie", last=5) == []

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
