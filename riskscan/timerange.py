"""Periods of time, with one meaning everywhere: ``--from``/``--to`` on every verb, ``?from=&to=`` on the web.

A period is half-open, ``[start, end)``, and is held as two aware UTC datetimes. People write it as two
bounds, and the rules for reading them are these:

- a bound is an ISO 8601 **date** (``2025-03-15``) or **date-time** (``2025-03-15T08:30``,
  ``2025-03-15T08:30:00+01:00``, ``2025-03-15T07:30Z``);
- a bound **without a zone is in the machine's local time zone**, with that zone's daylight-saving rule for
  that date (under ``TZ=Europe/Amsterdam``, ``2025-03-15`` starts at 23:00 UTC on the 14th, ``2025-07-01`` at
  22:00 UTC on 30 June);
- ``from`` is **inclusive**: the period starts at that moment, and a date means the start of that day;
- ``to`` given as a **date includes that whole day**: the period ends at the start of the next day;
- ``to`` given as a **date-time is exclusive**: the period ends just before that moment;
- a period whose **end is not after its start is refused**, naming both bounds as they were written.

So ``--from 2025-03-01 --to 2025-03-31`` is all of March, and so is
``--from 2025-03-01 --to 2025-04-01T00:00``. Either bound may be open (``None``) where the caller allows it.

Why these rules: people name the last day they mean ("up to and including the 31st"), while a date-time is
precise and is taken as written, the way programs write half-open intervals. Local time, because the people
who read the case lists think in it; UTC inside, because the decision log stores UTC.

This is a platform module: it imports no stage.

Examples
--------
>>> start, end = parse_period("2025-03-01T00:00+01:00", "2025-04-01T00:00+02:00")
>>> start.isoformat(), end.isoformat()
('2025-02-28T23:00:00+00:00', '2025-03-31T22:00:00+00:00')
>>> parse_to("2025-03-31T12:00Z") == parse_from("2025-03-31T12:00Z")  # a date-time is taken as written
True
>>> parse_period("2025-03-02", "2025-03-01", names=("--from", "--to"))
Traceback (most recent call last):
...
riskscan.errors.InvalidInput: --from 2025-03-02 lies after --to 2025-03-01: the period ends before it starts
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

from riskscan.errors import InvalidInput, Problem

#: What a bound looks like, for messages and for the help of every verb that takes a period.
BOUND_FORMAT = (
    "an ISO date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM[:SS], zone such as +01:00 or Z optional)"
)
#: The rules in one line, for the help of every verb that takes a period.
RULES = (
    "a value without a zone is local time; --from is inclusive; --to as a date includes that whole day, "
    "as a date-time it is exclusive"
)


class Period(NamedTuple):
    """``[start, end)`` as aware UTC datetimes; ``None`` is an open end."""

    start: datetime | None
    end: datetime | None

    def closed(self) -> tuple[datetime, datetime]:
        """Both ends, for a caller that needs a bounded period; an open end is refused."""
        if self.start is None or self.end is None:
            raise InvalidInput("the period needs both a start and an end")
        return self.start, self.end


def _read(text: str, name: str | None) -> date | datetime:
    """A date if ``text`` is a calendar date, else a date-time; both as written (zone or none)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        prefix = f"{name}: " if name else ""
        raise InvalidInput(
            f"{prefix}expected a date as YYYY-MM-DD, got {text!r}; a date-time such as 2025-03-15T08:30 or "
            "2025-03-15T08:30+01:00 is also accepted",
            [Problem(column=name or "date", value=text, expected=BOUND_FORMAT)],
        ) from None


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive one is local time (``astimezone`` applies the zone's rule for that date)."""
    return moment.astimezone(UTC)


def _midnight(day: date) -> datetime:
    return _utc(datetime.combine(day, time()))


def parse_from(text: str, name: str | None = None) -> datetime:
    """The start of a period (inclusive): a date is the start of that local day. ``name`` prefixes the
    refusal ("from", "--from"); leave it out where the caller names the field itself (argparse does)."""
    value = _read(text, name)
    return _utc(value) if isinstance(value, datetime) else _midnight(value)


def parse_to(text: str, name: str | None = None) -> datetime:
    """The end of a period (exclusive): a date includes that whole local day, so the period ends at the
    start of the next one; a date-time is the end itself."""
    value = _read(text, name)
    return _utc(value) if isinstance(value, datetime) else _midnight(value + timedelta(days=1))


def parse_period(start: str | None, end: str | None, *, names: tuple[str, str] = ("from", "to")) -> Period:
    """Both bounds of a period as written (``None`` leaves that end open), checked and in UTC.

    ``names`` are the fields as the caller shows them (``("--from", "--to")`` on the command line); every
    refusal is an :class:`~riskscan.errors.InvalidInput` that names them.
    """
    start_name, end_name = names
    if start is None or end is None:
        return Period(
            None if start is None else parse_from(start, start_name),
            None if end is None else parse_to(end, end_name),
        )
    first, stop = parse_from(start, start_name), parse_to(end, end_name)
    if stop <= first:
        if stop == first and isinstance(_read(end, end_name), datetime):
            message = (
                f"{start_name} {start} is the same moment as {end_name} {end}, and a date-time {end_name} is "
                "exclusive: the period is empty"
            )
        else:  # with a date for the end, an empty period means the start lies after that whole day
            message = f"{start_name} {start} lies after {end_name} {end}: the period ends before it starts"
        raise InvalidInput(
            message, [Problem(column=end_name, value=end, expected=f"a moment after {start_name} {start}")]
        )
    return Period(first, stop)


def last_day(end: datetime) -> date:
    """The local calendar day that holds a period's last instant (for ``--to 2025-03-31``: 31 March)."""
    return (end - timedelta(microseconds=1)).astimezone().date()


def first_day(start: datetime) -> date:
    """The local calendar day on which a period starts."""
    return start.astimezone().date()


def parse_date(text: str, name: str | None = None) -> date:
    """A calendar date, ``YYYY-MM-DD`` (a job's as-of date, an approval's last valid day)."""
    value = _read(text, name)
    if isinstance(value, datetime):
        prefix = f"{name}: " if name else ""
        raise InvalidInput(
            f"{prefix}expected a date as YYYY-MM-DD, got {text!r} (a date-time is not a day)",
            [Problem(column=name or "date", value=text, expected="an ISO date (YYYY-MM-DD)")],
        )
    return value


def parse_month(text: str, name: str | None = None) -> str:
    """A calendar month, ``YYYY-MM``, returned as written once it is known to be one."""
    try:
        datetime.strptime(text, "%Y-%m")
    except ValueError:
        prefix = f"{name} " if name else ""
        raise InvalidInput(
            f"{prefix}must be YYYY-MM, got {text!r}",
            [Problem(column=name or "month", value=text, expected="a month as YYYY-MM")],
        ) from None
    return text
