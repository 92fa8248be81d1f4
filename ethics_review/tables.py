"""Reading a table for the model-agnostic audits (``riskscan audit-scores``, ``riskscan proxy-scan``).

These verbs take any CSV or Parquet file, so everything about the input is checked here and every problem
is reported as one ``InvalidInput`` sentence that names the file, the column and the offending values. A
table that cannot be audited honestly (a label missing for some rows, a row without a group) is refused
rather than silently cleaned: dropping rows changes the groups being measured.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from riskscan.errors import InvalidInput

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
_TRUE = frozenset({"1", "1.0", "true"})
_FALSE = frozenset({"0", "0.0", "false"})


def read_table(path: Path, *, text_columns: Iterable[str] = ()) -> pd.DataFrame:
    """Read a CSV or Parquet file. ``text_columns`` are read as text from a CSV (group codes such as "01")."""
    if not path.exists():
        raise InvalidInput(f"input file {path} does not exist")
    if not path.is_file():
        raise InvalidInput(f"input {path} is not a file")
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise InvalidInput(f"input file {path} has suffix '{suffix}'; use a .csv or .parquet file")
    if path.stat().st_size == 0:
        raise InvalidInput(f"input file {path} is empty")
    try:
        if suffix in CSV_SUFFIXES:
            frame = pd.read_csv(path, dtype=dict.fromkeys(text_columns, str))
        else:
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise InvalidInput(f"input file {path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, pa.ArrowException, OSError) as exc:
        kind = "CSV" if suffix in CSV_SUFFIXES else "Parquet"
        raise InvalidInput(f"input file {path} cannot be read as {kind}: {exc}") from None
    if len(frame) == 0:
        raise InvalidInput(f"input file {path} has no rows (columns: {', '.join(map(str, frame.columns))})")
    return frame


def require_columns(frame: pd.DataFrame, columns: Sequence[str], path: Path) -> None:
    """Every asked column exists, and none is asked twice."""
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        names = ", ".join(f"'{c}'" for c in missing)
        noun = "column" if len(missing) == 1 else "columns"
        raise InvalidInput(
            f"{noun} {names} not found in {path}; available columns: {', '.join(map(str, frame.columns))}"
        )
    repeated = sorted({c for c in columns if list(columns).count(c) > 1})
    if repeated:
        raise InvalidInput(f"column(s) {', '.join(repeated)} asked for more than one role")


def binary_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A 0/1 column as int8. Accepts 0/1, true/false (any case) and booleans; refuses anything else."""
    series = frame[column]
    missing = int(series.isna().sum())
    if missing:
        raise InvalidInput(
            f"label column '{column}' has {missing} rows without a value; an audit needs the outcome "
            "of every row (audit investigated cases or the random control sample only)"
        )
    text = series.astype(str).str.strip().str.lower()
    ones, zeros = text.isin(_TRUE), text.isin(_FALSE)
    bad = series[~(ones | zeros)]
    if len(bad):
        counts = bad.astype(str).value_counts()
        shown = ", ".join(f"'{value}' ({count} rows)" for value, count in counts.head(5).items())
        more = f" and {len(counts) - 5} more" if len(counts) > 5 else ""
        raise InvalidInput(f"label column '{column}' must be binary (0/1 or true/false); found {shown}{more}")
    return ones.to_numpy(dtype=np.int8)


def numeric_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column of finite numbers as float64; refuses text, missing values and infinities."""
    series = frame[column]
    values = pd.to_numeric(series, errors="coerce")
    missing = series.isna()
    if missing.any():
        raise InvalidInput(f"score column '{column}' has {int(missing.sum())} rows without a value")
    bad = series[values.isna()]
    if len(bad):
        shown = ", ".join(repr(v) for v in bad.astype(str).unique()[:5])
        raise InvalidInput(f"score column '{column}' must be numeric; found {shown} ({len(bad)} rows)")
    array = values.to_numpy(dtype=np.float64)
    if not np.isfinite(array).all():
        raise InvalidInput(f"score column '{column}' has {int((~np.isfinite(array)).sum())} infinite values")
    return array


def group_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """Group values as text. Refuses rows with a missing or blank group, and a column with one group."""
    series = frame[column]
    text = series.astype(str).str.strip()
    empty = series.isna() | (text == "")
    if empty.any():
        raise InvalidInput(
            f"group column '{column}' has {int(empty.sum())} rows with an empty or missing group; "
            "give them an explicit group (for example 'onbekend') or remove them before auditing"
        )
    groups = text.unique()
    if len(groups) < 2:
        raise InvalidInput(
            f"group column '{column}' has only one group ('{groups[0]}'); a comparison needs two"
        )
    return text.rename(column)
