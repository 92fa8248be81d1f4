"""Which audit checks an approval must follow up, and the obligations the audit proposes for them.

An audit check that is ``insufficient_evidence`` is not a pass: the committee may approve such a version
only *with conditions*, and then takes on one monitoring obligation per undecided gating check. The
obligations come from ``audit.json``'s ``proposed_obligations`` when the audit wrote them (a list of
``{"check", "text_nl", "cases_needed", "due"}``), and are otherwise derived here, one per undecided check,
with the check's power figures when the audit has them.

A check's id is its ``id`` in ``audit.json`` when the audit gives one, else ``"<scope>: <name>"``, which is
unique within an audit (a name repeats across scopes, never within one).
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Mapping
from datetime import date
from typing import Any, Final

from models.governance._records import Obligation
from riskscan.errors import InvalidInput

#: An approval is valid for at most this many months (the committee re-reviews at least yearly).
MAX_VALID_MONTHS: Final = 12
#: When the audit cannot say how long a check needs, its obligation falls due after this many months:
#: half the longest approval, so the committee sees the follow-up before it must re-review anyway.
DEFAULT_DUE_MONTHS: Final = 6


def months_ahead(day: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day when it is shorter (31 Jan + 1 = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def check_id(check: Mapping[str, Any]) -> str:
    """The id of one check of ``audit.json``."""
    given = check.get("id")
    return str(given) if given else f"{check['scope']}: {check['name']}"


def undecided_checks(audit: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The gating checks the audit could not decide, in the audit's order."""
    return [c for c in audit["checks"] if c.get("gating", True) and c["verdict"] == "insufficient_evidence"]


def failed_checks(audit: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The gating checks that failed, in the audit's order."""
    return [c for c in audit["checks"] if c.get("gating", True) and c["verdict"] == "fail"]


def checked_cases_needed(field: str, value: object) -> int | None:
    """``value`` as an obligation's count of cases still needed: a whole number, 0 or more, or None."""
    # 0 is a real answer of the power calculation: the evidence is already large enough for 80% power, and
    # the check is undecided by chance; the obligation then means "re-audit at the next look".
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(
            f"{field} must be a whole number of cases, 0 or more, or None (null in JSON), got {value!r}"
        )
    return value


def _day(field: str, value: object) -> date:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a date as YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{field} must be a date as YYYY-MM-DD, got {value!r}") from None


def obligation_from_dict(field: str, item: object) -> Obligation:
    """One obligation in ``audit.json``'s shape (also the decision form's and the command line's JSON)."""
    keys = ("check", "text_nl", "cases_needed", "due")
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{field} must be an object with {list(keys)}, got {item!r}")
    unknown = sorted(str(k) for k in item if k not in keys)
    if unknown:
        raise InvalidInput(f"{field} has unknown field {unknown[0]!r} (known: {list(keys)})")
    missing = [k for k in keys if k not in item]
    if missing:
        raise InvalidInput(f"{field} is missing {missing[0]!r}")
    for key in ("check", "text_nl"):
        if not isinstance(item[key], str) or not item[key].strip():
            raise InvalidInput(f"{field}.{key} must be non-empty text, got {item[key]!r}")
    return Obligation(
        item["check"].strip(),
        item["text_nl"].strip(),
        checked_cases_needed(f"{field}.cases_needed", item["cases_needed"]),
        _day(f"{field}.due", item["due"]),
    )


def _derived(check: Mapping[str, Any], today: date) -> Obligation:
    """An obligation for an undecided check when the audit proposed none, from its power figures if any."""
    power = check.get("power") or {}
    needed = power.get("cases_needed")
    needed = needed if isinstance(needed, int) and not isinstance(needed, bool) and needed > 0 else None
    months = power.get("months_needed")
    if isinstance(months, int | float) and not isinstance(months, bool) and math.isfinite(months):
        due = months_ahead(today, min(MAX_VALID_MONTHS, max(1, math.ceil(months))))
    else:
        due = months_ahead(today, DEFAULT_DUE_MONTHS)
    when = f" wanneer {needed} controle-uitkomsten zijn verzameld," if needed else ""
    text = (
        f"Her-audit van '{check['name']}' ({check['scope']}) op de uitkomsten van de live controlesteekproef"
        f"{when} uiterlijk op {due.isoformat()}."
    )
    return Obligation(check_id(check), text, needed, due)


def proposed_obligations(audit: Mapping[str, Any], today: date) -> list[Obligation]:
    """The audit's proposed obligations, or one derived per undecided gating check when it proposes none."""
    proposed = audit.get("proposed_obligations")
    if proposed:
        return [obligation_from_dict(f"proposed_obligations[{i}]", item) for i, item in enumerate(proposed)]
    return [_derived(check, today) for check in undecided_checks(audit)]
