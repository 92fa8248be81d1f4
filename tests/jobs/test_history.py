"""serving.history.logged_cases, the jobs' one view of the decision log, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from riskscan.errors import InvalidInput
from serving.history import COLUMNS, logged_cases
from serving.log import LogEntry
from serving.store import ServingStore


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def entry(case_id: str, **overrides: Any) -> LogEntry:
    fields: dict[str, Any] = {
        "case_id": case_id,
        "scan": "vw",
        "model_name": "riskscan-vw",
        "model_version": "3",
        "inputs": {"dagloon": 120.5, "contractsoort": "uitzend", "vaststellingsovereenkomst": True},
        "score": 0.42,
        "threshold": 0.3,
        "signal": True,
        "control": False,
        "control_draw": 0.5,
        "margin_scale": "log-odds",
        "explanation": [],
        "base_value": None,
    }
    return LogEntry(**{**fields, **overrides})


def test_logged_cases_carry_the_latest_outcome_and_honour_the_window(database_url: str) -> None:
    clock = Clock()
    with ServingStore(database_url, clock=clock) as store:
        first, second = store.append_scores([entry("a"), entry("b", signal=False, score=0.1)])
        clock.now += timedelta(days=10)
        (third,) = store.append_scores([entry("c", scan="vw", control=True, score=0.05)])
        store.append_scores([entry("other-scan", scan="sollicitatie")])
        _, staff = store.create_token(name="x", role="handhaving")
        store.record_outcome(
            recorded_by=staff,
            request_id=first.request_id,
            violation=False,
            sanction=None,
            hoor_en_wederhoor=False,
            investigator="x",
        )
        store.record_outcome(  # supersedes the first outcome of the same request
            recorded_by=staff,
            request_id=first.request_id,
            violation=True,
            sanction="maatregel",
            hoor_en_wederhoor=True,
            investigator="y",
        )

        frame = logged_cases(store, "vw", with_inputs=True)
        assert list(frame.columns) == [*COLUMNS, "inputs"]
        assert frame["case_id"].tolist() == ["a", "b", "c"]
        a, b, c = (frame.iloc[i] for i in range(3))
        assert bool(a["outcome_recorded"]) and bool(a["violation"]) and bool(a["hoor_en_wederhoor"])
        assert a["sanction"] == "maatregel"
        assert not b["outcome_recorded"] and pd.isna(b["violation"]) and pd.isna(b["hoor_en_wederhoor"])
        assert bool(c["control"]) and c["request_id"] == third.request_id
        assert a["inputs"] == {
            "dagloon": 120.5,
            "contractsoort": "uitzend",
            "vaststellingsovereenkomst": True,
        }
        assert str(frame["created_at"].dt.tz) == "UTC"
        assert frame["violation"].dtype == "boolean" and frame["signal"].dtype == bool

        later = logged_cases(store, "vw", start=datetime(2025, 1, 5, tzinfo=UTC))
        assert later["case_id"].tolist() == ["c"] and "inputs" not in later.columns
        earlier = logged_cases(store, "vw", end=datetime(2025, 1, 5, tzinfo=UTC))
        assert earlier["case_id"].tolist() == ["a", "b"]
        assert second.request_id in set(earlier["request_id"])
        assert logged_cases(store, "sollicitatie")["case_id"].tolist() == ["other-scan"]
        assert logged_cases(store, "vw", start=datetime(2030, 1, 1, tzinfo=UTC)).empty


def test_logged_cases_refuse_a_window_without_time_zone(database_url: str) -> None:
    with (
        ServingStore(database_url) as store,
        pytest.raises(InvalidInput, match="start must be a datetime with a time zone"),
    ):
        logged_cases(store, "vw", start=datetime(2025, 1, 1))
