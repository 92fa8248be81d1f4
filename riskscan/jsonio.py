"""JSON in and out, written one way everywhere.

Two kinds of JSON leave riskscan:

- **documents for people and programs** (audit.json, job reports, ``--json`` output of every verb): indented,
  UTF-8 as itself, and *safe*: NaN and infinities become ``null`` (JSON has no NaN, and a reader that gets
  ``NaN`` from Python's encoder fails), numpy scalars become Python numbers, dates become ISO 8601 text;
- **canonical text that is hashed** (the register's content hash): sorted keys, no whitespace, so the same
  content always gives the same bytes. The decision log has its own, stricter recipe (see
  ``serving/log/``), because an auditor must be able to re-implement it from its docstring.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

#: Leaves that are JSON as they are (exact types: a subclass such as a numpy scalar takes the long way).
_PLAIN = frozenset({str, int, bool, type(None)})


def json_safe(value: Any) -> Any:
    """A JSON-safe copy: NaN and infinities become None, numpy scalars and arrays become Python values,
    dates and times become ISO 8601 text, tuples become lists, mapping keys become text."""
    kind = type(value)
    if kind in _PLAIN:  # most leaves: answered before the attribute look-up below, which failing costs more
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays and scalars
        return json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def dumps(value: Any) -> str:
    """An indented, safe JSON document (see :func:`json_safe`); anything else unknown is written as text."""
    return json.dumps(json_safe(value), indent=2, ensure_ascii=False, default=str)


def write_json(path: Path, value: Any) -> Path:
    """Write :func:`dumps` of ``value`` to ``path`` (parents created), ending in a newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(value) + "\n", encoding="utf-8")
    return path


def canonical(value: Any) -> str:
    """Canonical JSON text for hashing: sorted keys, no whitespace, UTF-8 as itself."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
