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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from models.scorer import ScanModel

DASK_CONNECT_TIMEOUT = 5.0  # seconds; an unreachable scheduler should be refused quickly, not hang a run
PARTITION_ROWS = 50_000  # big enough that a task's overhead (ms) is small next to its work (~0.5 s)


def _check_address(address: str) -> None:
    """Refuse a malformed address before connecting: a Client that fails on one leaves a traceback at exit."""
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    try:
        if not address.strip():
            raise ValueError("it is empty")
        scheme, location = parse_address(address)  # 'host:port' means tcp://host:port
        get_backend(scheme)
        if scheme in ("tcp", "tls"):
            parse_host_port(location)
    except ValueError as exc:
        raise ValueError(
            f"dask scheduler address '{address}' is not valid ({exc}); expected e.g. 'tcp://10.0.0.5:8786'"
        ) from None


@contextmanager
def dask_client(address: str, *, timeout: float = DASK_CONNECT_TIMEOUT) -> Iterator[Any]:
    """A ``distributed.Client`` on ``address``, closed afterwards; one clear ValueError if unreachable.

    The same helper as ``training.distributed.dask_client``, kept here because serving does not import
    training (docs: imports never point back up the life cycle).
    """
    from distributed import Client

    _check_address(address)
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        # distributed raises OSError ("Timed out trying to connect ...") or TimeoutError with a long
        # traceback; the verb should say in one sentence what was tried and what to do.
        raise ValueError(
            f"cannot reach the Dask scheduler at '{address}' within {timeout:g} s "
            f"({type(exc).__name__}); start one with 'dask scheduler' and 'dask worker {address}', "
            "or leave out --dask-scheduler to run on this machine"
        ) from None
    try:
        yield client
    finally:
        client.close()


def score_partition(model: ScanModel, cases: pd.DataFrame) -> np.ndarray:
    """Calibrated scores of one partition of already validated, routed cases (runs on a worker)."""
    encoded = model.encode(cases, validate=False)
    margin = np.asarray(model.booster.predict(encoded, raw_score=True, num_threads=1))
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
            raise ValueError(
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
