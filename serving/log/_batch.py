"""A batch job's rows, given column by column, checked into :class:`~serving.log._encode.Columns`.

The same checks as a :class:`LogEntry` per row (a test checks that both refuse the same things and log the
same rows), without an entry per row: what the rows share is checked once, numbers and flags as whole
numpy columns, and ``inputs`` is serialised column by column (:func:`canonical_inputs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from riskscan.db import NAME_LENGTH
from riskscan.errors import InvalidInput
from serving.log._encode import CANONICAL, Columns, Shared, canonical_inputs, sealed
from serving.log._fields import ENTRY_FIELDS, field_check, new_request_ids
from serving.log._values import explanation_field, number_field


@dataclass(frozen=True, kw_only=True)
class BatchColumns:
    """Many scored cases of one model, column by column: the batch scorer's input to
    :meth:`ServingStore.append_batch`.

    What is the same for every row (scan, model, threshold, ...) is given once, under the name of the
    :class:`LogEntry` field. ``inputs`` maps each input name to its column (a numpy array or a list of
    values, see :func:`canonical_inputs`); ``explanations`` maps a row position to that row's
    ``(explanation, base_value)``, for the explained rows only. Every row is logged with ``source="batch"``.
    """

    scan: str
    model_name: str
    model_version: str
    threshold: float
    margin_scale: str
    audit_sha256: str | None
    decision_id: int | None
    case_ids: Sequence[str]
    inputs: Mapping[str, Sequence[Any] | np.ndarray]
    scores: np.ndarray
    signal: np.ndarray
    control: np.ndarray
    control_draws: np.ndarray
    explanations: Mapping[int, tuple[Sequence[Mapping[str, Any]], float | None]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.case_ids)


#: The entry fields a batch gives once for all its rows, under the field's name; it gives the others per
#: row (``case_ids``, ``scores``, ...) or sets them itself (``request_id``, ``source``).
_SHARED: Final = (
    "scan",
    "model_name",
    "model_version",
    "audit_sha256",
    "decision_id",
    "threshold",
    "margin_scale",
)


def _column_check(name: str, values: object, rows: int, kind: str) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != (rows,):
        raise InvalidInput(f"{name} must hold one value per row ({rows}), got shape {array.shape}")
    if array.dtype.kind not in kind:
        raise InvalidInput(
            f"{name} must be {'True or False' if kind == 'b' else 'numbers'}, got {array.dtype}"
        )
    return array


def _first_bad(bad: np.ndarray, values: np.ndarray, start: int, message: str) -> None:
    rows = np.flatnonzero(bad)
    if len(rows):
        row = int(rows[0])
        raise InvalidInput(f"{message}, got {float(values[row])!r} (row {start + row})")


def _case_ids(values: Sequence[Any]) -> list[str]:
    """The case ids, stripped: the check of :class:`LogEntry`'s ``case_id`` on a whole column.

    ``str.strip`` over the list runs in C; only a column with a value that is no text, blank or too long
    goes through the field's own check row by row, which raises naming the value.
    """
    try:
        stripped = list(map(str.strip, values))
    except TypeError:
        stripped = []
    if len(stripped) != len(values) or "" in stripped or max(map(len, stripped), default=0) > NAME_LENGTH:
        case_id = field_check("case_id")
        return [case_id("case_id", value) for value in values]
    return stripped


@dataclass(frozen=True, slots=True)
class _Explained:
    """The explained rows of a whole batch, checked once: their positions in ascending order, and for each
    the canonical text of its explanation and its base value."""

    positions: np.ndarray
    texts: list[str]
    base_values: list[float | None]

    @classmethod
    def of(cls, batch: BatchColumns) -> _Explained:
        total = len(batch)
        order: list[tuple[int, str, float | None]] = []
        for position, (explanation, base_value) in batch.explanations.items():
            if (
                isinstance(position, bool)
                or not isinstance(position, int | np.integer)
                or not 0 <= position < total
            ):
                raise InvalidInput(f"explanations has row {position!r}, which is not a row of this batch")
            items = explanation_field("explanation", explanation)
            base = None if base_value is None else number_field("base_value", base_value)
            order.append((int(position), CANONICAL(items) if items else "[]", base))
        order.sort()
        return cls(
            np.array([row for row, _, _ in order], dtype=np.int64),
            [text for _, text, _ in order],
            [base for _, _, base in order],
        )

    def rows(self, start: int, stop: int) -> tuple[list[str], list[float | None]]:
        """The explanation texts and base values of rows ``start:stop`` (``[]`` and None where unexplained)."""
        rows = stop - start
        explanations = ["[]"] * rows
        base_values: list[float | None] = [None] * rows
        first, last = np.searchsorted(self.positions, [start, stop]).tolist()
        for position, text, base in zip(
            self.positions[first:last].tolist(),
            self.texts[first:last],
            self.base_values[first:last],
            strict=True,
        ):
            explanations[position - start] = text
            base_values[position - start] = base
        return explanations, base_values


class CheckedBatch:
    """A batch whose shared values, number and flag columns and explanations are checked once, before any
    row is written; :meth:`columns` then checks and seals the rest chunk by chunk (case ids, inputs)."""

    def __init__(self, batch: BatchColumns) -> None:
        total = len(batch)
        self._batch = batch
        self._shared = {name: Shared(field_check(name)(name, getattr(batch, name))) for name in _SHARED}
        self._scores = _column_check("scores", batch.scores, total, "iuf").astype(np.float64)
        self._draws = _column_check("control_draws", batch.control_draws, total, "iuf").astype(np.float64)
        self._signal = _column_check("signal", batch.signal, total, "b")
        self._control = _column_check("control", batch.control, total, "b")
        _first_bad(~np.isfinite(self._scores), self._scores, 0, "score must be a finite number")
        _first_bad(
            ~((self._draws >= 0.0) & (self._draws < 1.0)), self._draws, 0, "control_draw must lie in [0, 1)"
        )
        self._explained = _Explained.of(batch)

    def columns(self, start: int, stop: int) -> Columns:
        """Rows ``start:stop``, checked and sealed, with new request ids."""
        batch, rows = self._batch, stop - start
        inputs = canonical_inputs({name: values[start:stop] for name, values in batch.inputs.items()}, rows)
        explanations, base_values = self._explained.rows(start, stop)
        per_row: dict[str, list[Any] | Shared] = {
            "request_id": new_request_ids(rows),
            "case_id": _case_ids(batch.case_ids[start:stop]),
            "inputs": inputs,
            "score": self._scores[start:stop].tolist(),
            "signal": self._signal[start:stop].tolist(),
            "control": self._control[start:stop].tolist(),
            "control_draw": self._draws[start:stop].tolist(),
            "explanation": explanations,
            "base_value": base_values,
            "source": Shared("batch"),
        }
        values = {**self._shared, **per_row}
        return sealed(rows, {name: values[name] for name in ENTRY_FIELDS})
