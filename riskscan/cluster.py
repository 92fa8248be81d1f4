"""Where compute lives, as ``models/home.py`` says where state lives: the connection to a Dask cluster.

Training (``training/distributed.py``) and batch scoring (``serving/batch_dask.py``) both connect here,
so one rule holds for both: a malformed address is refused before connecting, an unreachable scheduler
within ``DASK_CONNECT_TIMEOUT`` seconds, each in one sentence, and the client is always closed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from riskscan.errors import InvalidInput, Unavailable

DASK_CONNECT_TIMEOUT = 5.0  # seconds; an unreachable scheduler should be refused quickly, not hang a run


def check_address(address: str) -> None:
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
        raise InvalidInput(
            f"dask scheduler address '{address}' is not valid ({exc}); expected e.g. 'tcp://10.0.0.5:8786'"
        ) from None


@contextmanager
def dask_client(
    address: str, *, timeout: float = DASK_CONNECT_TIMEOUT, as_current: bool = False
) -> Iterator[Any]:
    """A ``distributed.Client`` on ``address``, closed afterwards; one clear ValueError if unreachable.

    ``as_current`` makes it the current client for the block only (``lightgbm.dask`` calls
    ``distributed.wait()`` without a client, which looks up the current one), never a process-wide default.
    """
    from distributed import Client

    check_address(address)
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        # distributed raises OSError ("Timed out trying to connect ...") or TimeoutError, with a long
        # traceback; the verb should say in one sentence what was tried and what to do.
        raise Unavailable(
            f"cannot reach the Dask scheduler at '{address}' within {timeout:g} s "
            f"({type(exc).__name__}); start one with 'dask scheduler' and 'dask worker {address}', "
            "or leave out --dask-scheduler to run on this machine"
        ) from None
    try:
        if as_current:
            with client.as_current():
                yield client
        else:
            yield client
    finally:
        client.close()
