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


def _explanations(batch: BatchColumns, start: int, stop: int) -> tuple[list[str], list[float | None]]:
    """The explanation texts and base values of rows ``start:stop`` (``[]`` and None where unexplained)."""
    rows, total = stop - start, len(batch)
    explanations = ["[]"] * rows
    base_values: list[float | None] = [None] * rows
    for position, (explanation, base_value) in batch.explanations.items():
        if (
            isinstance(position, bool)
            or not isinstance(position, int | np.integer)
            or not 0 <= position < total
        ):
            raise InvalidInput(f"explanations has row {position!r}, which is not a row of this batch")
        if start <= position < stop:
            row = int(position) - start
            items = explanation_field("explanation", explanation)
            if items:
                explanations[row] = CANONICAL(items)
            base_values[row] = None if base_value is None else number_field("base_value", base_value)
    return explanations, base_values


def batch_columns(batch: BatchColumns, start: int, stop: int) -> Columns:
    """Rows ``start:stop`` of a batch, checked and sealed, with new request ids."""
    rows, total = stop - start, len(batch)
    shared = {name: Shared(field_check(name)(name, getattr(batch, name))) for name in _SHARED}
    scores = _column_check("scores", batch.scores, total, "iuf")[start:stop].astype(np.float64)
    draws = _column_check("control_draws", batch.control_draws, total, "iuf")[start:stop].astype(np.float64)
    signal = _column_check("signal", batch.signal, total, "b")[start:stop]
    control = _column_check("control", batch.control, total, "b")[start:stop]
    _first_bad(~np.isfinite(scores), scores, start, "score must be a finite number")
    _first_bad(~((draws >= 0.0) & (draws < 1.0)), draws, start, "control_draw must lie in [0, 1)")
    case_id = field_check("case_id")
    case_ids = [case_id("case_id", value) for value in batch.case_ids[start:stop]]
    inputs = canonical_inputs({name: values[start:stop] for name, values in batch.inputs.items()}, rows)
    explanations, base_values = _explanations(batch, start, stop)
    per_row: dict[str, list[Any] | Shared] = {
        "request_id": new_request_ids(rows),
        "case_id": case_ids,
        "inputs": inputs,
        "score": scores.tolist(),
        "signal": signal.tolist(),
        "control": control.tolist(),
        "control_draw": draws.tolist(),
        "explanation": explanations,
        "base_value": base_values,
        "source": Shared("batch"),
    }
    values = {**shared, **per_row}
    return sealed(rows, {name: values[name] for name in ENTRY_FIELDS})
