"""The decision log and its outcomes as one table, for the jobs that learn from them.

Retraining and monitoring read what serving wrote through this one function, and nothing else: a row
per logged case with its selection and the *latest* outcome recorded against it (a later outcome for the
same request supersedes an earlier one, as on the worklist). The columns are documented on
:func:`logged_cases`; they are the interface, so change them only together with their readers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import pandas as pd
from sqlalchemy import Select, exists, select

from serving.store import DecisionLogRow, OutcomeRow, ServingStore, StoreError

_LOG: Final = DecisionLogRow.__table__
_OUTCOMES: Final = OutcomeRow.__table__

#: The columns of :func:`logged_cases`, in order (``inputs`` only when asked for).
COLUMNS: Final = (
    "request_id",
    "case_id",
    "model_version",
    "score",
    "threshold",
    "signal",
    "control",
    "source",
    "created_at",
    "outcome_recorded",
    "violation",
    "sanction",
    "hoor_en_wederhoor",
    "outcome_created_at",
)


def _query(scan: str, with_inputs: bool) -> Select[tuple[object, ...]]:
    latest = _OUTCOMES.alias("latest")
    later = _OUTCOMES.alias("later")
    newest_only = ~exists().where(later.c.request_id == latest.c.request_id, later.c.id > latest.c.id)
    columns = [
        _LOG.c.request_id,
        _LOG.c.case_id,
        _LOG.c.model_version,
        _LOG.c.score,
        _LOG.c.threshold,
        _LOG.c.signal,
        _LOG.c.control,
        _LOG.c.source,
        _LOG.c.created_at,
        latest.c.id.label("outcome_id"),
        latest.c.violation,
        latest.c.sanction,
        latest.c.hoor_en_wederhoor,
        latest.c.created_at.label("outcome_created_at"),
    ]
    if with_inputs:
        columns.append(_LOG.c.inputs)
    return (
        select(*columns)
        .select_from(_LOG.outerjoin(latest, (latest.c.request_id == _LOG.c.request_id) & newest_only))
        .where(_LOG.c.scan == scan)
        .order_by(_LOG.c.id)
    )


def logged_cases(
    store: ServingStore,
    scan: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    with_inputs: bool = False,
) -> pd.DataFrame:
    """Every case of ``scan`` logged in ``[start, end)`` (aware datetimes), in log order.

    Columns: ``request_id``, ``case_id``, ``model_version`` (text), ``score``, ``threshold`` (floats),
    ``signal``, ``control`` (bool), ``source`` (``api`` or ``batch``), ``created_at`` (UTC timestamp),
    ``outcome_recorded`` (bool), and from the latest outcome ``violation``, ``hoor_en_wederhoor``
    (nullable booleans: missing when no outcome), ``sanction`` (text or missing) and ``outcome_created_at``.
    With ``with_inputs`` also ``inputs``: the raw input values as logged, one dict per case.
    """
    for name, moment in (("start", start), ("end", end)):
        if moment is not None and (not isinstance(moment, datetime) or moment.tzinfo is None):
            raise StoreError(f"{name} must be a datetime with a time zone, got {moment!r}")
    query = _query(scan, with_inputs)
    if start is not None:
        query = query.where(_LOG.c.created_at >= start)
    if end is not None:
        query = query.where(_LOG.c.created_at < end)
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
    names = [*COLUMNS[:9], "outcome_id", *COLUMNS[10:], *(["inputs"] if with_inputs else [])]
    frame = pd.DataFrame.from_records(rows, columns=names)
    recorded = frame["outcome_id"].notna()
    frame = frame.drop(columns="outcome_id")
    frame.insert(9, "outcome_recorded", recorded.to_numpy(dtype=bool))
    frame["model_version"] = frame["model_version"].astype("string")
    for flag in ("signal", "control"):
        frame[flag] = frame[flag].astype(bool)
    for flag in ("violation", "hoor_en_wederhoor"):
        frame[flag] = frame[flag].astype("boolean")
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    frame["outcome_created_at"] = pd.to_datetime(frame["outcome_created_at"], utc=True)
    return frame
