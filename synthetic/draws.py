"""Random streams and register-coded draws: the sampling primitives every part of the synthetic world uses.

Categories are drawn as integer codes into the register's category order (``features/register.yaml``), so
a table is assembled with ``pd.Categorical.from_codes`` and a category renamed in the register is noticed
(:func:`per_category` refuses unknown names) instead of being silently coded as another one.

Every block of the story draws from its own random stream (:func:`random_streams`). Switching a hazard
changes parameters inside one block and so never shifts the random numbers of another block: that is what
lets the recording hazards change the record while the world stays the same, row for row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from features.register import default_register

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
DateArray = npt.NDArray[np.datetime64]

# The blocks of the story, one random stream each, in the order of their SeedSequence children. Appending a
# block is safe; reordering or removing one changes every table generated from a seed.
BLOCKS = (
    "people",
    "proxies",
    "work",
    "behaviour",
    "history",
    "channel",
    "selection",
    "truth",
    "labels",
    "abroad",
)


def random_streams(seed: int, table_index: int) -> dict[str, np.random.Generator]:
    """One generator per block of :data:`BLOCKS`, from the table's own child of ``SeedSequence(seed)``.

    A block added at the end of BLOCKS gets a new child and leaves every earlier child, and so every
    table drawn before it was added, unchanged ("abroad" was added for the stay-abroad outcome)."""
    table_sequence = np.random.SeedSequence(seed).spawn(2)[table_index]
    children = table_sequence.spawn(len(BLOCKS))
    return {name: np.random.default_rng(child) for name, child in zip(BLOCKS, children, strict=True)}


def month_range(start: str, end: str) -> DateArray:
    """Every calendar month from ``start`` to ``end`` (YYYY-MM), both included."""
    return np.arange(np.datetime64(start, "M"), np.datetime64(end, "M") + 1)


def sample_dates(
    rng: np.random.Generator, months: DateArray, weights: FloatArray, n: int, *, sort: bool = True
) -> DateArray:
    """Days drawn month by month in proportion to weights, uniform within the month."""
    month = months[draw_categorical(rng.random(n), weights[None, :])]
    first_day = month.astype("datetime64[D]")
    length = ((month + 1).astype("datetime64[D]") - first_day).astype(np.int64)
    dates = first_day + np.floor(rng.random(n) * length).astype(np.int64)
    return np.sort(dates) if sort else dates


def draw_categorical(u: FloatArray, probs: FloatArray, condition: IntArray | None = None) -> IntArray:
    """Inverse-CDF draw per row: category k with probability probs[condition[row], k] (rows normalised).

    One searchsorted for all rows: the cumulative distribution of condition level c is shifted by c, so
    the rows of probs form one sorted sequence and u + c can only land inside the segment of level c.
    """
    cumulative = np.cumsum(probs, axis=1)
    cumulative /= cumulative[:, -1:]
    levels, categories = cumulative.shape
    level = np.zeros(len(u), dtype=np.int64) if condition is None else condition
    shifted = (cumulative + np.arange(levels)[:, None]).ravel()
    position = np.searchsorted(shifted, u + level, side="right") - level * categories
    return np.asarray(np.minimum(position, categories - 1), dtype=np.int64)


def register_categories(column: str) -> list[str]:
    """The categories of a register column, in register order (code k is the k-th category)."""
    return list(default_register()[column].allowed_categories)


def category_code(column: str, category: str) -> int:
    """The code of one category of a register column."""
    return register_categories(column).index(category)


def category_codes(column: str, categories: Sequence[str]) -> IntArray:
    """The codes of several categories of a register column."""
    return np.array([category_code(column, c) for c in categories], dtype=np.int64)


def per_category(column: str, values: Mapping[str, float], default: float) -> FloatArray:
    """Per-category values in the register order of the column; categories not named get ``default``."""
    unknown = set(values) - set(register_categories(column))
    if unknown:
        raise KeyError(f"{column} has no categories {sorted(unknown)}")
    return np.array([values.get(code, default) for code in register_categories(column)], dtype=np.float64)


def either(first: FloatArray, second: FloatArray) -> FloatArray:
    """Probability that at least one of two independent rules fires."""
    return 1.0 - (1.0 - first) * (1.0 - second)


def expit(x: FloatArray) -> FloatArray:
    """The logistic function, log-odds to probability.

    Written out rather than ``scipy.special.expit`` because the generated tables are pinned to these exact
    floating-point results: a different rounding in the last bit moves a Bernoulli draw now and then.
    """
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def in_window(dates: DateArray, start: np.datetime64, end: np.datetime64) -> BoolArray:
    """Whether each date lies in [start, end)."""
    return np.asarray((dates >= start) & (dates < end), dtype=bool)


def share(mask: npt.NDArray[Any], scale: float = 1.0) -> float | None:
    """Share of True values times scale; None (JSON null) when there are no values."""
    return float(mask.mean()) * scale if mask.size else None
