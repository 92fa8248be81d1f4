"""The checks of a decision-log value, and its conversion to plain JSON data.

Every check takes the field's name and the value, and returns the value as it is stored or raises
:class:`~riskscan.errors.InvalidInput` naming both, like the shared validators in :mod:`riskscan.db`
(``text_field``, ``sha256_field``), which the text fields of a row use directly.

What is logged must read back from the database exactly as it went in, and hash the same on read as on
write, so numpy and pandas values become plain Python values here, NaN (a missing value in pandas) becomes
null, and infinities are refused.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final

import numpy as np

from riskscan.db import sha256_field, text_field
from riskscan.errors import InvalidInput

SOURCES: Final = ("api", "batch")
EXPLANATION_KEYS: Final = frozenset({"feature", "label", "value", "contribution"})

_HEX32 = re.compile(r"[0-9a-f]{32}")
_SIMPLE: Final = frozenset({str, int, bool, type(None)})
_SIMPLE_VALUES: Final = frozenset({str, int, bool, float, type(None)})


def request_id_field(field: str, value: object) -> str:
    """A UUID as 32 lowercase hex digits; other spellings of a UUID are accepted and normalised."""
    if isinstance(value, str) and _HEX32.fullmatch(value):
        return value
    if isinstance(value, str | uuid.UUID):
        try:
            return uuid.UUID(str(value)).hex
        except ValueError:
            pass
    raise InvalidInput(f"{field} must be a UUID (32 hexadecimal digits), got {value!r}")


def positive_int_field(field: str, value: object) -> int:
    """A count of at least 1 (a limit, a chunk size); booleans are not counts."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{field} must be a positive integer, got {value!r}")
    return value


def number_field(field: str, value: object) -> float:
    """A finite number, as a Python float (numpy numbers included; booleans are not numbers)."""
    if isinstance(value, float) and math.isfinite(value):
        return float(value)  # also turns numpy.float64 into float
    if isinstance(value, int | np.integer | np.floating) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number):
            return number
    raise InvalidInput(f"{field} must be a finite number, got {value!r}")


def optional_number_field(field: str, value: object) -> float | None:
    return None if value is None else number_field(field, value)


def flag_field(field: str, value: object) -> bool:
    """True or False (numpy's booleans included; 0 and 1 are not flags)."""
    if value is True or value is False:
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    raise InvalidInput(f"{field} must be True or False, got {value!r}")


def optional_sha256_field(field: str, value: object) -> str | None:
    if value is None:
        return None
    try:
        return sha256_field(field, value)
    except InvalidInput:
        raise InvalidInput(f"{field} must be 64 hexadecimal characters or None, got {value!r}") from None


def optional_id_field(field: str, value: object) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidInput(f"{field} must be an integer or None, got {value!r}")
    return None if value is None else int(value)


def draw_field(field: str, value: object) -> float:
    """The random draw that decided the control sample: a number in [0, 1)."""
    draw = number_field(field, value)
    if not 0.0 <= draw < 1.0:
        raise InvalidInput(f"{field} must lie in [0, 1), got {value!r}")
    return draw


def source_field(field: str, value: object) -> str:
    if value not in SOURCES:
        raise InvalidInput(f"{field} must be one of {', '.join(map(repr, SOURCES))}, got {value!r}")
    return str(value)


def inputs_field(field: str, value: object) -> dict[str, Any]:
    """The raw inputs of a case: a mapping of name to plain JSON value."""
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{field} must be a mapping of input name to value, got {value!r}")
    # Fast path for the usual flat dict of text, integers and finite floats: a copy, nothing converted.
    for key, item in value.items():
        kind = type(item)
        if type(key) is not str or not (kind in _SIMPLE or (kind is float and math.isfinite(item))):
            result: dict[str, Any] = plain(value, field)
            return result
    return dict(value)


def explanation_field(field: str, value: object) -> list[dict[str, Any]]:
    """A list of ``{feature, label, value, contribution}``; empty for an unexplained row."""
    if type(value) in (list, tuple) and not value:  # the batch scorer's usual case
        return []
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence | np.ndarray):
        raise InvalidInput(
            f"{field} must be a list of {{feature, label, value, contribution}}, got {value!r}"
        )
    items = []
    for index, item in enumerate(value):
        if type(item) is dict and item.keys() == EXPLANATION_KEYS:
            # Fast path for what the scorers build: plain text, a simple value and a finite float,
            # already as they are stored (the checks below would return them unchanged).
            feature, label, contribution = item["feature"], item["label"], item["contribution"]
            if (
                type(feature) is str
                and type(label) is str
                and feature
                and label
                and feature.strip() == feature
                and label.strip() == label
                and type(item["value"]) in _SIMPLE_VALUES
                and type(contribution) is float
                and math.isfinite(contribution)
                and (type(item["value"]) is not float or math.isfinite(item["value"]))
            ):
                items.append(dict(item))
                continue
        where = f"{field}[{index}]"
        if not isinstance(item, Mapping) or set(item) != EXPLANATION_KEYS:
            raise InvalidInput(f"{where} must have exactly the keys {sorted(EXPLANATION_KEYS)}, got {item!r}")
        items.append(
            {
                "feature": text_field(f"{where}.feature", item["feature"]),
                "label": text_field(f"{where}.label", item["label"]),
                "value": plain(item["value"], f"{where}.value"),
                "contribution": number_field(f"{where}.contribution", item["contribution"]),
            }
        )
    return items


def plain(value: Any, where: str) -> Any:
    """``value`` as plain JSON data that reads back from the database exactly as it went in."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)  # numpy.str_ and other subclasses become plain text
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        if math.isnan(value):
            return None  # a missing value (pandas writes NaN for it); null is what it means
        raise InvalidInput(f"{where} is {value!r}; only finite numbers can be logged")
    if isinstance(value, Mapping):
        plain_mapping: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(f"{where} has key {key!r}; keys must be text")
            plain_mapping[str(key)] = plain(item, f"{where}[{key!r}]")
        return plain_mapping
    if isinstance(value, list | tuple):
        return [plain(item, f"{where}[{index}]") for index, item in enumerate(value)]
    return _plain_other(value, where)


def _plain_other(value: Any, where: str) -> Any:
    """What pandas and numpy hand over: missing values, dates, numpy scalars and arrays."""
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas.NA and pandas.NaT: missing values
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return plain(value.item(), where)
    if isinstance(value, np.ndarray):
        return plain(value.tolist(), where)
    raise InvalidInput(f"{where} holds {value!r} ({type(value).__name__}), which cannot be logged as JSON")
