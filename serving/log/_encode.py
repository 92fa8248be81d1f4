"""Canonical JSON for the decision log: the reference recipes and the one encoder that follows them.

:func:`row_hash` is the recipe of the package docstring written out plainly (both recipes, see
:mod:`serving.log._recipe`), for an auditor to read and for :meth:`DecisionLog.verify` to recompute, and
:func:`personal_sha256` the seal of a row's personal values. :func:`encode` produces the same text for many
rows at once, always under the current recipe: rows arrive checked, sealed (:func:`sealed`) and column by
column (:class:`Columns`; a single score is a batch of one), each column is turned into JSON text in one go
(a value all rows share, once for all of them), and each row's text is put together from a template with
sorted keys. A test checks that both give the same hashes.

With sorted keys, ``created_at`` and ``id`` fall between the other fields, and they are the only ones known
only under the append lock. So the encoder hands over every row in three pieces, and the chain writes
``head + json(created_at) + middle + str(id) + tail``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from types import NoneType, UnionType
from typing import Any, Final

import numpy as np

from riskscan.errors import InvalidInput
from serving.log._fields import (
    CHAIN_FIELDS,
    ENTRY_FIELDS,
    PERSONAL_FIELDS,
    SEAL_FIELDS,
    LogEntry,
    LoggedScore,
    checked,
)
from serving.log._recipe import CURRENT_RECIPE, RECIPE_FIELDS, new_salts, seal, seals
from serving.log._values import plain

CANONICAL: Final[Callable[[Any], str]] = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"), check_circular=False
).encode
json_text: Final[Callable[[str], str]] = json.encoder.encode_basestring


def row_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    """The chain hash of one decision-log row under the recipe its ``hash_recipe`` names (1 when the record
    has none, as rows written before revision 0008 had); ``record`` holds at least the fields of that recipe
    (others are left out of the hash).

    ``created_at`` may be a datetime (it is written as ISO 8601 UTC) or already that text.
    """
    fields = RECIPE_FIELDS[record.get("hash_recipe", 1)]
    hashed = {name: record[name] for name in fields}
    created_at = hashed["created_at"]
    if isinstance(created_at, datetime):
        hashed["created_at"] = created_at.astimezone(UTC).isoformat()
    return hashlib.sha256((prev_hash + CANONICAL(hashed)).encode("utf-8")).hexdigest()


def personal_sha256(salt: str, inputs: Any, explanation: Any) -> str:
    """The seal of a row's personal values (recipe 2): ``inputs`` and ``explanation`` as plain JSON data."""
    return seal(salt, CANONICAL(inputs), CANONICAL(explanation))


# --------------------------------------------------------------------------------------------- columns


@dataclass(frozen=True, slots=True)
class Shared:
    """One value for every row of a batch (scan, model, threshold, ...)."""

    value: Any


@dataclass(slots=True)
class Columns:
    """Checked and sealed rows, column by column: for every entry and seal field what is stored (a JSON
    field as its canonical text), either a list with a value per row or one :class:`Shared` value."""

    rows: int
    values: dict[str, list[Any] | Shared]

    def __post_init__(self) -> None:
        if tuple(self.values) != COLUMN_FIELDS:
            raise AssertionError(
                f"columns {tuple(self.values)} are not the entry and seal fields {COLUMN_FIELDS}"
            )


@dataclass(slots=True)
class Encoded:
    """Rows ready for the chain: the three pieces of each row's canonical JSON, the stored values in the
    order of ``COLUMN_FIELDS`` (a shared value as an endless ``repeat``), and the shared values by field."""

    heads: list[str]
    middles: list[str]
    tails: list[str]
    values: list[Iterable[Any]]
    shared: dict[str, Any]


#: What :class:`Columns` holds, in the order of an insert: the entry, then its seal.
COLUMN_FIELDS: Final = (*ENTRY_FIELDS, *SEAL_FIELDS)
_BOOL_TEXT: Final = {True: "true", False: "false"}


def _or_null(to_text: Callable[[Any], str]) -> Callable[[Any], str]:
    def text(value: Any) -> str:
        return "null" if value is None else to_text(value)

    return text


def _to_text(annotation: Any) -> Callable[[Any], str] | None:
    """How a checked value of this type is written in the canonical JSON; None for the JSON documents
    (inputs, explanation), which arrive as canonical text already. Floats and integers are written as
    their ``repr``, as JSON writes them."""
    if isinstance(annotation, UnionType):
        kinds = [kind for kind in typing.get_args(annotation) if kind is not NoneType]
        to_text = _to_text(kinds[0])
        assert to_text is not None, "a JSON document is never null"
        return _or_null(to_text)
    if annotation is str:
        return json_text
    if annotation is bool:
        return _BOOL_TEXT.__getitem__
    if annotation in (float, int):
        return repr
    return None


_HINTS: Final = typing.get_type_hints(LoggedScore)
_TO_TEXT: Final = {name: _to_text(_HINTS[name]) for name in COLUMN_FIELDS}
#: The JSON documents of a row (inputs, explanation): stored and hashed as their canonical text.
JSON_FIELDS: Final = frozenset(
    name
    for name in ENTRY_FIELDS
    if isinstance(typing.get_origin(_HINTS[name]), type)
    and issubclass(typing.get_origin(_HINTS[name]), Mapping | Sequence)
)
_KEYS: Final = sorted(RECIPE_FIELDS[CURRENT_RECIPE])
#: The fields known only under the append lock, in the order they appear in the canonical JSON.
LATE_FIELDS: Final = tuple(name for name in _KEYS if name in CHAIN_FIELDS)
if LATE_FIELDS != ("created_at", "id"):  # the chain writes head + created_at + middle + id + tail
    raise AssertionError(f"the fields known under the lock sort as {LATE_FIELDS}, not (created_at, id)")


def _pieces() -> list[list[tuple[str, str | None]]]:
    """The canonical JSON of a row, cut at the late fields: per piece, (literal text, field or None)."""
    pieces: list[list[tuple[str, str | None]]] = [[]]
    for index, name in enumerate(_KEYS):
        key = ("{" if index == 0 else ",") + json_text(name) + ":"
        if name in LATE_FIELDS:
            pieces[-1].append((key, None))
            pieces.append([])
        else:
            pieces[-1].append((key, name))
    pieces[-1].append(("}", None))
    return pieces


_PIECES: Final = _pieces()


_Layout = tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]


@functools.lru_cache(maxsize=64)
def _layout(shared: tuple[tuple[str, str], ...]) -> _Layout:
    """Per piece: the constant texts around the per-row values (the literal text with the shared values
    written in, one more than there are per-row values), and the fields given per row.

    Worked out once per set of shared values: every entry and every chunk of one batch has the same.
    """
    shared_text = dict(shared)
    layout = []
    for piece in _PIECES:
        constants, names, constant = [], [], ""
        for literal, name in piece:
            constant += literal
            if name is None:
                continue
            if name in shared_text:
                constant += shared_text[name]
            else:
                constants.append(constant)
                names.append(name)
                constant = ""
        constants.append(constant)
        layout.append((tuple(constants), tuple(names)))
    return tuple(layout)


def _joined_one(constants: tuple[str, ...], columns: list[Iterable[str]], rows: int) -> list[str]:
    """:func:`_joined` of one row (each column a 1-tuple): the same text, joined directly."""
    parts = [constants[0]]
    for (text,), constant in zip(columns, constants[1:], strict=True):
        parts += (text, constant)
    return ["".join(parts)]


def _joined(constants: tuple[str, ...], columns: list[Iterable[str]], rows: int) -> list[str]:
    """Each row's text: the constants and the row's values, alternately (``str.join``: no format to parse)."""
    if not columns:
        return [constants[0]] * rows
    parts: list[Iterable[str]] = [repeat(constants[0])]
    for column, constant in zip(columns, constants[1:], strict=True):
        parts += [column, repeat(constant)]
    return list(map("".join, zip(*parts, strict=False)))  # the constants repeat without end


def encode(columns: Columns) -> Encoded:
    """The canonical JSON pieces and the stored values of checked rows."""
    shared: list[tuple[str, str]] = []
    shared_values: dict[str, Any] = {}
    texts: dict[str, Iterable[str]] = {}
    values: list[Iterable[Any]] = []
    one = columns.rows == 1
    for name, column in columns.values.items():
        to_text = _TO_TEXT[name]
        if isinstance(column, Shared):
            shared.append((name, column.value if to_text is None else to_text(column.value)))
            shared_values[name] = column.value
            values.append(repeat(column.value))
        else:
            if one:  # the service's append: the row's own text, without an iterator to read it once
                texts[name] = (column[0] if to_text is None else to_text(column[0]),)
            else:
                texts[name] = column if to_text is None else map(to_text, column)  # read once, by its piece
            values.append(column)
    joined = _joined_one if one else _joined
    heads, middles, tails = (
        joined(constants, [texts[name] for name in names], columns.rows)
        for constants, names in _layout(tuple(shared))
    )
    return Encoded(heads, middles, tails, values, shared_values)


def _per_row(column: list[Any] | Shared, rows: int) -> Iterable[Any]:
    return repeat(column.value, rows) if isinstance(column, Shared) else column


def sealed(rows: int, values: dict[str, list[Any] | Shared]) -> Columns:
    """Checked entry columns (in the order of ``ENTRY_FIELDS``) with the seal of the current recipe added:
    a new salt per row and the digest of the row's personal values (:mod:`serving.log._recipe`)."""
    salts = new_salts(rows)
    inputs, explanations = (_per_row(values[name], rows) for name in PERSONAL_FIELDS)
    digests = seals(salts, inputs, explanations)
    seal_columns: dict[str, list[Any] | Shared] = {
        "hash_recipe": Shared(CURRENT_RECIPE),
        "personal_sha256": digests,
        "personal_salt": salts,
    }
    return Columns(rows, {**values, **seal_columns})


def entry_columns(entries: Sequence[LogEntry]) -> tuple[Columns, list[dict[str, Any]]]:
    """Entries checked, sealed and turned into columns; also each entry's checked fields and seal, as
    plain data."""
    records = [checked(entry) for entry in entries]  # each in the order of ENTRY_FIELDS
    columns = (
        zip(*(record.values() for record in records), strict=True) if records else ((),) * len(ENTRY_FIELDS)
    )
    values: dict[str, list[Any] | Shared] = {
        name: list(map(CANONICAL, column)) if name in JSON_FIELDS else list(column)
        for name, column in zip(ENTRY_FIELDS, columns, strict=True)
    }
    sealed_columns = sealed(len(records), values)
    for row, record in enumerate(records):
        for name in SEAL_FIELDS:
            column = sealed_columns.values[name]
            record[name] = column.value if isinstance(column, Shared) else column[row]
    return sealed_columns, records


def logged_scores(
    records: Sequence[dict[str, Any]], first_id: int, created_at: datetime, prev_hash: str, digests: list[str]
) -> list[LoggedScore]:
    """The rows just appended, as read back later: each checked entry with its place in the chain."""
    logged = []
    for row_id, record, digest in zip(
        range(first_id, first_id + len(records)), records, digests, strict=True
    ):
        logged.append(
            LoggedScore.from_row(
                record,
                id=row_id,
                created_at=created_at,
                prev_hash=prev_hash,
                row_hash=digest,
                erased_at=None,
            )
        )
        prev_hash = digest
    return logged


# -------------------------------------------------------------------------------------- input columns

#: Values whose JSON text depends on the value alone, so a column's repeats can share one encoding. Not
#: floats (0.0 == -0.0) and not datetimes (equal instants in other time zones are written differently).
_CACHEABLE: Final = frozenset({str, int, bool, type(None)})


def _json_column(name: str, values: Sequence[Any] | np.ndarray) -> list[str]:
    """One input column as canonical JSON texts, exactly what an entry's checked inputs write for it.

    Numeric numpy arrays are encoded vectorised (floats as ``repr``, NaN as null, infinities refused);
    anything else value by value through :func:`plain`, repeated text and integers encoded once.
    """
    where = f"inputs[{name!r}]"
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "biuf":
        kind = values.dtype.kind
        if kind == "b":
            return ["true" if flag else "false" for flag in values.tolist()]
        if kind in "iu":
            return list(map(int.__repr__, values.tolist()))
        floats = values.astype(np.float64, copy=False)
        infinite = np.flatnonzero(np.isinf(floats))
        if len(infinite):
            row = int(infinite[0])
            raise InvalidInput(
                f"{where} is {float(floats[row])!r} in row {row}; only finite numbers can be logged"
            )
        texts = list(map(float.__repr__, floats.tolist()))
        for row in np.flatnonzero(np.isnan(floats)).tolist():
            texts[row] = "null"
        return texts
    kinds = set(map(type, values))
    if kinds <= {str, type(None)} or (len(kinds) == 1 and kinds <= _CACHEABLE):
        # A column of text (a category), or of one simple type: each distinct value encoded once. Values
        # of one type, or text and None, never compare equal across types, so the value is the key.
        distinct = {value: CANONICAL(value) for value in set(values)}
        return list(map(distinct.__getitem__, values))
    cache: dict[tuple[type, Any], str] = {}
    texts = []
    for row, value in enumerate(values):
        kind = value.__class__
        key = (kind, value)
        text = cache.get(key) if kind in _CACHEABLE else None
        if text is None:
            try:
                text = CANONICAL(plain(value, where))
            except InvalidInput as exc:
                raise InvalidInput(f"{exc} (row {row})") from None
            if kind in _CACHEABLE:
                cache[key] = text
        texts.append(text)
    return texts


def canonical_inputs(columns: Mapping[str, Sequence[Any] | np.ndarray], rows: int) -> list[str]:
    """The ``inputs`` of ``rows`` rows, given column by column, as canonical JSON objects: for every row
    the same text as the canonical JSON of ``{name: column[row] for name in columns}`` after the checks
    and conversions of a :class:`LogEntry` (a test checks both on awkward values).

    This is the batch scorer's path: a million rows are serialised in a few seconds instead of building
    a dict per row and encoding it with ``json``.
    """
    names = sorted(columns)
    for name in names:
        if type(name) is not str:
            raise InvalidInput(f"inputs has key {name!r}; keys must be text")
        if len(columns[name]) != rows:
            raise InvalidInput(f"inputs[{name!r}] has {len(columns[name])} values for {rows} rows")
    if not names:
        return ["{}"] * rows
    template = "{" + ",".join(json_text(name).replace("%", "%%") + ":%s" for name in names) + "}"
    texts = [_json_column(name, columns[name]) for name in names]
    return [template % row for row in zip(*texts, strict=True)]
