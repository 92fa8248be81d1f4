"""Numbers, percentages and intervals as people read them, in English and Dutch, written one way.

The audit's sentences, the committee's report, the model card, the job reports and the command line all
show estimates with their intervals. They format them here, so that "0.152 [0.048, 0.284]" and "15,2%" look
the same wherever they appear. Conventions:

* a number that is missing or undefined (None, NaN, an infinity) is shown as ``missing``, an em dash by
  default: never as "nan", and never as 0;
* Dutch uses a decimal comma (``0,80``) and English a decimal point; neither uses thousands separators
  here, since every figure formatted here is a rate, a ratio or a score;
* an interval is ``estimate [low, high]`` in tables and ``low–high`` (an en dash) in sentences.

An interval may be given as a :class:`riskscan.stats.Estimate` or, in templates that render a JSON view,
as a mapping with the keys ``estimate``, ``low`` and ``high``.

Platform module: it imports no riskscan stage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final, Literal

from riskscan.stats import Estimate

Lang = Literal["en", "nl"]
MISSING: Final = "—"
#: "undefined" in each language, for sentences that must say so in words.
UNDEFINED: Final[dict[str, str]] = {"en": "undefined", "nl": "onbepaald"}


def is_number(value: Any) -> bool:
    """A finite int or float (not None, NaN, an infinity, or text)."""
    return isinstance(value, int | float) and math.isfinite(value)


def number(value: Any, digits: int = 3, *, lang: Lang = "en", missing: str = MISSING) -> str:
    """``value`` with ``digits`` decimals.

    >>> number(0.15234), number(0.8, 2, lang="nl"), number(float("nan")), number(None)
    ('0.152', '0,80', '—', '—')
    """
    if not is_number(value):
        return missing
    text = f"{float(value):.{digits}f}"
    return text.replace(".", ",") if lang == "nl" else text


def count(value: int, *, lang: Lang = "en") -> str:
    """A whole number with thousands separators (a point in Dutch, a comma in English).

    >>> count(12345), count(1234567, lang="nl")
    ('12,345', '1.234.567')
    """
    text = f"{int(value):,}"
    return text.replace(",", ".") if lang == "nl" else text


def percent(value: Any, digits: int = 1, *, lang: Lang = "en", missing: str = MISSING) -> str:
    """A share (0.123) as a percentage ("12.3%").

    >>> percent(0.1234), percent(0.1234, lang="nl"), percent(None, missing="undefined")
    ('12.3%', '12,3%', 'undefined')
    """
    if not is_number(value):
        return missing
    return number(100 * float(value), digits, lang=lang) + "%"


def bounds(low: Any, high: Any, digits: int = 3, *, missing: str = MISSING) -> str:
    """The bounds of an interval as they stand inside brackets: ``0.048, 0.284``."""
    return f"{number(low, digits, missing=missing)}, {number(high, digits, missing=missing)}"


def interval(
    value: Estimate | Mapping[str, Any] | None,
    digits: int = 3,
    *,
    as_percent: bool = False,
    missing: str = MISSING,
) -> str:
    """An estimate with its interval for a table: ``0.152 [0.048, 0.284]``; ``missing`` when there is none.

    >>> interval(Estimate(0.152, 0.048, 0.284, 0.95))
    '0.152 [0.048, 0.284]'
    >>> interval({"estimate": 0.0571, "low": None, "high": None}, as_percent=True)
    '5.7% [—, —]'
    >>> interval(None)
    '—'
    >>> interval(Estimate(float("nan"), float("nan"), float("nan"), 0.95), missing="undefined")
    'undefined'
    """
    if value is None or (isinstance(value, Mapping) and not value):
        return missing
    parts = value.as_dict() if isinstance(value, Estimate) else value
    estimate, low, high = parts.get("estimate"), parts.get("low"), parts.get("high")
    if not is_number(estimate):  # no estimate, no interval around it: "— [—, —]" says nothing more
        return missing
    if as_percent:
        shown = [percent(v, missing=missing) for v in (estimate, low, high)]
        return f"{shown[0]} [{shown[1]}, {shown[2]}]"
    return f"{number(estimate, digits, missing=missing)} [{bounds(low, high, digits, missing=missing)}]"


def span(low: float, high: float, digits: int, *, as_percent: bool = False, lang: Lang = "en") -> str:
    """An interval for a sentence: ``0.80–1.25``, or ``10.0–12.3%`` for shares (one % sign, at the end).

    >>> span(0.1, 0.1234, 1, as_percent=True, lang="nl"), span(0.8, 1.25, 2)
    ('10,0–12,3%', '0.80–1.25')
    """
    if as_percent:
        return f"{number(100 * low, digits, lang=lang)}–{number(100 * high, digits, lang=lang)}%"
    return f"{number(low, digits, lang=lang)}–{number(high, digits, lang=lang)}"
