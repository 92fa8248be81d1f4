"""``--from``/``--to``: one meaning on every verb (riskscan/timerange.py), whatever the machine's zone."""

from __future__ import annotations

import doctest
import time
from datetime import UTC, date, datetime

import pytest

from riskscan import timerange
from riskscan.errors import InvalidInput


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def test_the_examples_in_the_docstring_run() -> None:
    assert doctest.testmod(timerange).failed == 0


def test_a_date_for_to_includes_that_whole_day(amsterdam: None) -> None:
    start, end = timerange.parse_period("2025-01-01", "2025-01-31").closed()
    assert (start, end) == (utc(2024, 12, 31, 23), utc(2025, 1, 31, 23))
    assert (timerange.first_day(start), timerange.last_day(end)) == (date(2025, 1, 1), date(2025, 1, 31))


def test_one_day_is_a_period_of_its_own(amsterdam: None) -> None:
    assert timerange.parse_period("2025-01-15", "2025-01-15") == (utc(2025, 1, 14, 23), utc(2025, 1, 15, 23))


def test_a_date_time_for_to_is_exclusive(amsterdam: None) -> None:
    end = timerange.parse_to("2025-02-01T00:00")
    assert end == utc(2025, 1, 31, 23) == timerange.parse_to("2025-01-31")
    assert timerange.parse_to("2025-01-31T12:30+00:00") == utc(2025, 1, 31, 12, 30)
    assert timerange.last_day(end) == date(2025, 1, 31)


def test_from_is_inclusive_and_a_date_is_the_start_of_that_day(amsterdam: None) -> None:
    assert timerange.parse_from("2025-01-15") == utc(2025, 1, 14, 23)
    assert timerange.parse_from("2025-01-15T08:30") == utc(2025, 1, 15, 7, 30)


def test_a_value_without_a_zone_is_local_time_with_that_dates_daylight_saving(amsterdam: None) -> None:
    assert timerange.parse_from("2025-07-01") == utc(2025, 6, 30, 22)  # CEST, UTC+2
    assert timerange.parse_from("2025-12-01") == utc(2025, 11, 30, 23)  # CET, UTC+1
    # The night the clocks go forward (30 March 2025) has 23 hours.
    start, end = timerange.parse_period("2025-03-30", "2025-03-30")
    assert (start, end) == (utc(2025, 3, 29, 23), utc(2025, 3, 30, 22))


def test_an_explicit_zone_wins_over_the_local_one(amsterdam: None) -> None:
    assert timerange.parse_from("2025-01-15T08:30Z") == utc(2025, 1, 15, 8, 30)
    assert timerange.parse_from("2025-01-15T08:30-05:00") == utc(2025, 1, 15, 13, 30)


def test_the_result_is_aware_utc_in_any_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    for zone in ("UTC", "America/New_York", "Asia/Tokyo"):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        start, end = timerange.parse_period("2025-05-01", "2025-05-01").closed()
        assert start.tzinfo is UTC and end.tzinfo is UTC
        assert (end - start).total_seconds() == 24 * 3600
    monkeypatch.undo()
    time.tzset()


def test_open_ends_stay_open() -> None:
    assert timerange.parse_period(None, None) == (None, None)
    assert timerange.parse_period("2025-01-01T00:00Z", None) == (utc(2025, 1, 1), None)
    with pytest.raises(InvalidInput, match="needs both a start and an end"):
        timerange.parse_period(None, "2025-01-01").closed()


def test_an_end_before_the_start_is_refused_naming_both() -> None:
    with pytest.raises(InvalidInput) as refused:
        timerange.parse_period("2025-03-01", "2025-02-01", names=("--from", "--to"))
    assert "--from 2025-03-01 lies after --to 2025-02-01" in str(refused.value)
    assert refused.value.problems[0].column == "--to"


def test_a_date_time_end_equal_to_the_start_is_an_empty_period() -> None:
    with pytest.raises(
        InvalidInput, match="same moment as to 2025-03-01T10:00Z.*exclusive: the period is empty"
    ):
        timerange.parse_period("2025-03-01T10:00Z", "2025-03-01T10:00Z")
    # The day before --from, written as a date, ends where --from starts: empty as well.
    with pytest.raises(InvalidInput, match="from 2025-03-02 lies after to 2025-03-01"):
        timerange.parse_period("2025-03-02", "2025-03-01")


@pytest.mark.parametrize("text", ["1 maart", "2025-13-01", "2025-02-30", "", "2025-03-01T25:00"])
def test_text_that_is_no_date_is_refused_with_the_field_and_the_value(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        timerange.parse_period(text, None)
    assert f"from: expected a date as YYYY-MM-DD, got {text!r}" in str(refused.value)
    assert (refused.value.problems[0].column, refused.value.problems[0].value) == ("from", text)


def test_a_day_is_a_date_and_a_month_is_yyyy_mm() -> None:
    assert timerange.parse_date("2025-04-01") == date(2025, 4, 1)
    with pytest.raises(InvalidInput, match="a date-time is not a day"):
        timerange.parse_date("2025-04-01T10:00", "--as-of")
    assert timerange.parse_month("2025-01") == "2025-01"
    with pytest.raises(InvalidInput, match="--month must be YYYY-MM, got 'januari'"):
        timerange.parse_month("januari", "--month")
