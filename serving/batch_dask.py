"""Score a caseload partition by partition on a Dask cluster: ``riskscan score-batch --dask-scheduler``.

Only the per-case arithmetic moves to the cluster: encode, LightGBM raw margin and Platt calibration,
each partition independently (a case's score depends on that case alone, so splitting changes nothing).
The model is shipped once to every worker (``client.scatter(..., broadcast=True)``), the partitions are
scattered over the workers, ``client.map`` scores them, and the scores come back to this process in the
caseload's order. Everything that depends on the whole caseload or must happen once stays in
``serving.batch.score_batch``, in this process, exactly as without Dask: validation and routing, the
capacity selection (a ranking over all scores), the random-control draws, the explanations of the
selected cases and the append to the hash-chained decision log (one writer, in order).

The scores are the same numbers as the local path's: the same booster and calibration on the same
encoded rows. Each task predicts with one LightGBM thread, because Dask already runs one task per worker
thread; more would oversubscribe the cores.

The cases sent to the cluster are personal data: the scheduler and workers must run inside the same
security zone as this process (use ``tls://`` addresses and Dask's TLS settings between machines).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from models.scorer import ScanModel
from riskscan.cluster import dask_client
from riskscan.errors import Unavailable

PARTITION_ROWS = 50_000  # big enough that a task's overhead (ms) is small next to its work (~0.5 s)


def score_partition(model: ScanModel, cases: pd.DataFrame) -> np.ndarray:
    """Calibrated scores of one partition of already validated, routed cases (runs on a worker)."""
    encoded = model.encode(cases, validate=False)
    margin = model.raw_margin(encoded, num_threads=1)
    return np.asarray(model.calibration.apply(margin), dtype=np.float64)


def partitions(n_rows: int, n_workers: int, partition_rows: int = PARTITION_ROWS) -> list[slice]:
    """Contiguous row ranges: at least one per worker, none longer than ``partition_rows``."""
    if n_rows == 0:
        return []
    count = min(n_rows, max(n_workers, math.ceil(n_rows / partition_rows)))
    size = math.ceil(n_rows / count)
    return [slice(start, min(start + size, n_rows)) for start in range(0, n_rows, size)]


def score_on_dask(
    model: ScanModel, cases: pd.DataFrame, scheduler: str, *, partition_rows: int = PARTITION_ROWS
) -> np.ndarray:
    """Calibrated scores of ``cases`` (validated and routed), computed on the cluster, in row order."""
    if cases.empty:
        return np.zeros(0, dtype=np.float64)
    inputs = cases[model.features.names]  # only the model's inputs travel, not identifiers or labels
    with dask_client(scheduler) as client:
        workers = list(client.scheduler_info()["workers"])
        if not workers:
            raise Unavailable(
                f"the Dask scheduler at '{scheduler}' has no workers; start 'dask worker {scheduler}'"
            )
        shipped = client.scatter(model, broadcast=True, hash=False)  # once per worker, not once per task
        chunks = [inputs.iloc[rows] for rows in partitions(len(inputs), len(workers), partition_rows)]
        futures = client.map(score_partition, [shipped] * len(chunks), client.scatter(chunks), pure=False)
        # gather returns the results in the order of the futures, so scores line up with the rows.
        scores = np.concatenate(client.gather(futures))
    if len(scores) != len(cases):
        raise RuntimeError(f"the cluster returned {len(scores)} scores for {len(cases)} cases")
    return scores
