"""The load generator (asyncio + httpx, closed loop) and the figures of one run.

``concurrency`` workers each send one request, wait for its answer and send the next, cycling through the
request bodies; a warm-up phase runs first and is not counted. Latency is the wall time from send to
answer, kept for 200 answers only; anything else counts as an error, the first one kept for the report.
CPU is measured apart for the load generator (``time.process_time`` of this process) and the server
(its whole process tree), because all of them share the machine's cores.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np

from _serving.targets import Server, Target


@dataclass(frozen=True)
class LoadPlan:
    """How long each level is driven: a warm-up, then ``duration`` seconds or ``count`` requests."""

    warmup: float
    duration: float | None
    count: int | None


@dataclass
class LoadResult:
    server: str
    concurrency: int
    ok: int
    errors: int
    first_error: str | None
    seconds: float
    latencies_ms: np.ndarray
    client_cpu: float  # load generator CPU seconds (time.process_time) during the measured phase
    server_cpu: float  # server process tree CPU seconds during the measured phase

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def cpu_ms_per_request(self, who: str) -> float:
        seconds = self.client_cpu if who == "client" else self.server_cpu
        return seconds / self.ok * 1000 if self.ok else float("nan")

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if len(self.latencies_ms) else float("nan")


def measure(target: Target, concurrency: int, plan: LoadPlan) -> LoadResult:
    """One level against one target's scoring URL."""
    return asyncio.run(
        run_load(
            target.server,
            target.score_url,
            target.bodies,
            target.headers,
            concurrency,
            warmup=plan.warmup,
            duration=plan.duration,
            count=plan.count,
        )
    )


def measure_floor(target: Target, seconds: float) -> LoadResult:
    """The target's health check (a GET, no application code) at concurrency 1, after a 1 s warm-up."""
    return asyncio.run(
        run_load(target.server, target.floor_url, [b""], {}, 1, warmup=1.0, duration=seconds, count=None)
    )


async def _drive(
    client: httpx.AsyncClient,
    url: str,
    bodies: list[bytes],
    headers: dict[str, str],
    cursor: Iterator[int],
    concurrency: int,
    duration: float | None,
    count: int | None,
) -> tuple[list[float], int, str | None, float]:
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    budget = itertools.count()
    start = time.perf_counter()
    deadline = start + duration if duration is not None else float("inf")

    async def worker() -> None:
        nonlocal errors, first_error
        while time.perf_counter() < deadline and (count is None or next(budget) < count):
            body = bodies[next(cursor) % len(bodies)]
            sent = time.perf_counter()
            try:
                if body:
                    response = await client.post(url, content=body, headers=headers)
                else:
                    response = await client.get(url)
                status, text = response.status_code, response.text
            except httpx.HTTPError as exc:
                status, text = -1, repr(exc)
            elapsed = time.perf_counter() - sent
            if status == 200:
                latencies.append(elapsed)
            else:
                errors += 1
                first_error = first_error or f"HTTP {status}: {text[:300]}"

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors, first_error, time.perf_counter() - start


async def run_load(
    server: Server,
    url: str,
    bodies: list[bytes],
    headers: dict[str, str],
    concurrency: int,
    *,
    warmup: float,
    duration: float | None,
    count: int | None,
) -> LoadResult:
    """Drive ``url`` (POST each body; an empty body is a GET) at ``concurrency``; ``server``'s CPU is read
    before and after the measured phase."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    base = {"Content-Type": "application/json", **headers}
    cursor = itertools.count()
    async with httpx.AsyncClient(limits=limits, timeout=60.0) as client:
        if warmup > 0:
            await _drive(client, url, bodies, base, cursor, concurrency, warmup, None)
        cpu0, server0 = time.process_time(), server.cpu_seconds()
        latencies, errors, first_error, seconds = await _drive(
            client, url, bodies, base, cursor, concurrency, duration, count
        )
        cpu1, server1 = time.process_time(), server.cpu_seconds()
    return LoadResult(
        server=server.name,
        concurrency=concurrency,
        ok=len(latencies),
        errors=errors,
        first_error=first_error,
        seconds=seconds,
        latencies_ms=np.asarray(latencies) * 1000.0,
        client_cpu=cpu1 - cpu0,
        server_cpu=server1 - server0,
    )
