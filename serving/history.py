"""The decision log and its outcomes as one table, for the jobs that learn from them.

Retraining and monitoring read what serving wrote through this one function, and nothing else: a row
per logged case with its selection and the *latest* outcome recorded against it (a later outcome for the
same request supersedes an earlier one, as on the worklist). The columns are documented on
:func:`logged_cases`; they are the interface, so change them only together with their readers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import numpy as np
import pandas as pd

from serving.cases import case_query, in_period
from serving.log import LOG
from serving.store import ServingStore

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
    query = in_period(case_query(scan, with_inputs=with_inputs), start, end).order_by(LOG.c.id)
    with store.engine.connect() as connection:
        result = connection.execute(query)
        frame = pd.DataFrame.from_records(result.all(), columns=list(result.keys()))
    frame.insert(0, "outcome_recorded", frame["outcome_id"].notna().to_numpy(dtype=bool))
    frame = frame[[*COLUMNS, *(["inputs"] if with_inputs else [])]]
    frame["model_version"] = frame["model_version"].astype("string")
    for flag in ("signal", "control"):
        frame[flag] = frame[flag].astype(bool)
    for flag in ("violation", "hoor_en_wederhoor"):
        frame[flag] = frame[flag].astype("boolean")
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    frame["outcome_created_at"] = pd.to_datetime(frame["outcome_created_at"], utc=True)
    return frame


def flagged(logged: pd.DataFrame) -> np.ndarray:
    """The model's own flag of each logged case: its score at or above the version's threshold.

    Not the log's ``signal``, which is also true for every random control case (it was drawn, so it was
    selected): the audit's rates are of the model's flag, and so are the monitor's (:mod:`jobs.obligations`,
    :mod:`jobs.monitor`).
    """
    return (logged["score"].to_numpy(dtype=float) >= logged["threshold"].to_numpy(dtype=float)).astype(bool)
