"""Validation of data entering training or scoring, derived from the feature register.

Two shapes of input arrive, so there are two validators, both built from the same register entries:

* tables (Parquet extracts, batch caseloads) are checked with a pandera ``DataFrameSchema``;
* single cases (JSON bodies in serving) are checked with a strict pydantic model.

Both report every problem by case, column, value and what was expected, and neither coerces: a number
sent as text, a float in an integer column or an unknown category is an error, never a silent fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    create_model,
)

from features.register import Column
from riskscan.errors import InvalidInput, Problem


def expected_text(column: Column) -> str:
    """What a valid value of this column looks like, in one phrase for error messages."""
    if column.dtype == "category":
        codes = list(column.allowed_categories)
        listed = ", ".join(codes) if len(codes) <= 15 else f"{codes[0]} ... {codes[-1]} ({len(codes)} codes)"
        text = f"one of: {listed}"
    elif column.dtype in ("int", "float"):
        kind = "an integer" if column.dtype == "int" else "a number"
        low = "-inf" if column.min is None else f"{column.min:g}"
        high = "inf" if column.max is None else f"{column.max:g}"
        text = f"{kind} in [{low}, {high}]"
    elif column.dtype == "bool":
        text = "true or false"
    elif column.dtype == "date":
        text = "a date (YYYY-MM-DD)"
    else:
        text = "text"
    return text + (" or empty" if column.nullable else "")


# -- tables -------------------------------------------------------------------------------------------


def _is_int_value(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_number_value(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _is_bool_value(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def _type_check(column: Column) -> pa.Check:
    """A check that accepts the column's own dtype and, in object columns, only values of that type.

    The whole-column dtype test comes first so that well-typed data costs one dtype lookup, not a pass
    over every value; only object columns (JSON, CSV, mixed) are checked value by value.
    """
    kind = column.dtype
    if kind == "int":
        dtype_ok: Callable[[pd.Series], bool] = pd.api.types.is_integer_dtype
        value_ok: Callable[[Any], bool] = _is_int_value
    elif kind == "float":

        def dtype_ok(s: pd.Series) -> bool:
            return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)

        value_ok = _is_number_value
    elif kind == "bool":
        dtype_ok = pd.api.types.is_bool_dtype
        value_ok = _is_bool_value
    elif kind == "date":
        dtype_ok = pd.api.types.is_datetime64_any_dtype

        def value_ok(v: Any) -> bool:
            return isinstance(v, pd.Timestamp | date)
    else:  # category and string both arrive as text

        def dtype_ok(s: pd.Series) -> bool:
            return isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(s)

        def value_ok(v: Any) -> bool:
            return isinstance(v, str)

    def matches_type(series: pd.Series) -> pd.Series | bool:
        if dtype_ok(series) and series.dtype != object:
            return True
        # The dtype is wrong or mixed: judge value by value, so the error names the offending values.
        # Missing values pass here; the column's nullable rule judges them.
        return series.map(lambda v: v is None or (isinstance(v, float) and np.isnan(v)) or value_ok(v))

    return pa.Check(matches_type, name=f"expected {expected_text(column)}")


def _value_checks(column: Column) -> list[pa.Check]:
    checks = [_type_check(column)]
    expected = f"expected {expected_text(column)}"
    if column.dtype == "category":
        allowed = set(column.allowed_categories)

        def known_category(series: pd.Series) -> pd.Series:
            return series.isin(allowed)

        checks.append(pa.Check(known_category, name=expected))
    if column.dtype in ("int", "float") and (column.min is not None or column.max is not None):
        low, high = column.min, column.max

        def within_bounds(series: pd.Series) -> pd.Series | bool:
            if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
                return True  # the type check already reports it; do not report it twice
            ok = pd.Series(True, index=series.index)
            if low is not None:
                ok &= series >= low
            if high is not None:
                ok &= series <= high
            return ok

        checks.append(pa.Check(within_bounds, name=expected))
    return checks


def frame_schema(columns: Iterable[Column]) -> pa.DataFrameSchema:
    """A pandera schema that requires each column, checks its type, range, categories and nulls."""
    return pa.DataFrameSchema(
        {
            c.name: pa.Column(
                dtype=None,  # dtype is judged by our checks, which name the values; pandera's would coerce or stop
                checks=_value_checks(c),
                nullable=c.nullable,
                required=True,
                coerce=False,
            )
            for c in columns
        },
        strict=False,
        coerce=False,
    )


def validate_frame(frame: pd.DataFrame, columns: Sequence[Column], *, key_column: str | None = None) -> None:
    """Raise InvalidInput naming each invalid value; return None when the frame is valid."""
    columns = list(columns)
    problems: list[Problem] = [
        Problem(column=c.name, value="<missing column>", expected=f"a column '{c.name}' ({expected_text(c)})")
        for c in columns
        if c.name not in frame.columns
    ]
    present = [c for c in columns if c.name in frame.columns]
    by_name = {c.name: c for c in present}
    try:
        frame_schema(present).validate(frame, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        for record in cases.itertuples(index=False):
            column_name = str(record.column)
            column = by_name.get(column_name)
            expected = expected_text(column) if column is not None else str(record.check)
            if str(record.check) == "not_nullable":
                expected = f"{expected} (empty is not allowed)"
            row = None if pd.isna(record.index) else record.index
            case_id = None
            if key_column is not None and row is not None and key_column in frame.columns:
                case_id = str(frame.at[row, key_column])
            value = record.failure_case
            if row is None and column is not None:
                value = f"<column of dtype {frame[column_name].dtype}>"
            problems.append(
                Problem(column=column_name, value=value, expected=expected, row=row, case_id=case_id)
            )
    if problems:
        raise InvalidInput.from_problems(problems)


# -- single cases (JSON) ------------------------------------------------------------------------------


def _whole_number(value: Any) -> Any:
    """``67.0`` as the integer 67: JSON has one number type, and JSON Schema counts 67.0 as an integer, so
    this is reading the number, not coercing it (``"67"``, ``True`` and ``67.5`` stay refused)."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


#: An integer, as JSON and JSON Schema know it (see :func:`_whole_number`).
WholeNumber = Annotated[StrictInt, BeforeValidator(_whole_number)]


def _pydantic_field(column: Column) -> tuple[Any, Any]:
    description = f"{column.label}. {column.description}"
    annotation: Any
    constraints: dict[str, Any] = {}
    if column.dtype == "category":
        annotation = Literal[tuple(column.allowed_categories)]
    elif column.dtype == "int":
        annotation = WholeNumber
    elif column.dtype == "float":
        annotation = StrictFloat  # takes an integer too, never a bool or text
    elif column.dtype == "bool":
        annotation = StrictBool
    elif column.dtype == "date":
        # JSON has no date type: accept ISO text for dates only, and nothing else loosely.
        annotation = Annotated[date, Strict(False)]
    else:
        annotation = StrictStr
    if column.dtype in ("int", "float"):
        if column.min is not None:
            constraints["ge"] = column.min
        if column.max is not None:
            constraints["le"] = column.max
    if column.nullable:
        annotation = annotation | None
    return annotation, Field(..., description=description, **constraints)


#: A case id: 1 to 64 characters that neither start nor end with white space (so none is blank).
#:
#: Refused rather than trimmed, in this one place before the control draw: the id a client sends is the
#: id that is returned, logged and hashed into the draw (``HMAC(key, scan|case_id)``), so an auditor
#: recomputes the draw from the logged id, and padding an id cannot re-roll its draw.
CASE_ID_PATTERN = (
    r"^{edge}(?:[\s\S]*{edge})?$(?!\n)".format(  # (?!\n): Python's $ also matches before a final newline
        # White space spelled out: Python's \s also matches \x1c-\x1f, Rust's and ECMAScript's do not, and
        # the pattern must mean the same in pydantic, in Python's jsonschema and in jsonschema-rs.
        edge=r"[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )
)
CASE_ID_EXPECTED = "1 to 64 characters, not starting or ending with white space"
#: Python's ``re`` judges patterns: the Rust regex crate (pydantic's default) supports no look-ahead.
STRICT_CONFIG = ConfigDict(extra="forbid", strict=True, regex_engine="python-re")


def case_id_field() -> tuple[Any, Any]:
    """The pydantic field of a case id (see :data:`CASE_ID_PATTERN`)."""
    return StrictStr, Field(..., min_length=1, max_length=64, pattern=CASE_ID_PATTERN)


def record_model(name: str, columns: Sequence[Column], *, key_field: str = "case_id") -> type[BaseModel]:
    """A strict pydantic model for one case: the key plus every column, unknown fields refused."""
    fields: dict[str, Any] = {key_field: case_id_field()}
    for column in columns:
        fields[column.name] = _pydantic_field(column)
    return create_model(name, __config__=STRICT_CONFIG, **fields)


def case_problem(
    columns: Mapping[str, Column],
    error: Mapping[str, Any],
    *,
    row: int | None,
    case_id: object = None,
    key_field: str = "case_id",
) -> Problem:
    """One pydantic error of a case (its ``loc`` relative to the case) as a :class:`Problem` that names
    the field, the value and what the register expects there."""
    loc = error.get("loc") or ()
    field_name = str(loc[0]) if loc else None
    column = columns.get(field_name or "")
    value = error.get("input")
    if field_name == key_field and error["type"] != "missing":
        expected = CASE_ID_EXPECTED
    elif error["type"] == "missing":
        value, expected = None, f"a value ({expected_text(column)})" if column else "a value"
    elif error["type"] == "extra_forbidden":
        expected = f"no field '{field_name}': allowed are {key_field}, {', '.join(columns)}"
    else:
        expected = expected_text(column) if column else error["msg"]
    return Problem(
        column=field_name,
        value=value,  # Problem.as_dict shows anything but a JSON scalar as text
        expected=expected,
        row=row,
        case_id=case_id if isinstance(case_id, str) else None,
    )
