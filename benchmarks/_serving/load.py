"""The load generator: ``wrk`` with ``cycle.lua``, and the figures of one run.

wrk (C, one event-loop thread) costs a few microseconds of CPU a request, where the earlier Python
generator (asyncio + httpx) cost 2-6 ms and took a core from the servers it measured. One wrk thread
drives every level (it keeps ``concurrency`` connections open, each with one request in flight: a closed
loop), POSTing the prepared bodies in turn. Each level is a warm-up run, then the measured run; the server's
CPU is read (its whole process tree, :meth:`Server.cpu_seconds`) just before and after the measured run, and
wrk's own CPU comes from the kernel's accounting of reaped children (``RUSAGE_CHILDREN``, before and
after the run).
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from _serving.targets import Server, Target

LUA = Path(__file__).with_name("cycle.lua")
MARKER = "WRK-RESULT "
TIMEOUT_S = 60  # wrk's per-request timeout; the servers' own is 60 s, so a slow answer is not a socket error


@dataclass(frozen=True)
class LoadPlan:
    """How long each level is driven: a warm-up, then ``duration`` seconds."""

    warmup: float
    duration: float


@dataclass
class LoadResult:
    server: str
    concurrency: int
    requests: int
    seconds: float
    statuses: dict[int, int]
    socket_errors: dict[str, int]  # connect, read, write, timeout: a dropped or refused connection
    latency_ms: dict[str, float]  # mean, p50, p90, p99, p999, max
    client_cpu: float  # wrk's CPU seconds (user + system) in the measured run
    server_cpu: float  # the server's process tree CPU seconds in the measured run
    label: str = field(default="")

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def dropped(self) -> int:
        return sum(self.socket_errors.values())

    @property
    def rps(self) -> float:
        """Answered requests (200) per second."""
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, name: str) -> float:
        return self.latency_ms[name]

    def cpu_ms_per_request(self, who: str) -> float:
        seconds = self.client_cpu if who == "client" else self.server_cpu
        return seconds / self.requests * 1000 if self.requests else float("nan")

    def status_text(self) -> str:
        codes = ", ".join(f"{code}: {n:,}" for code, n in sorted(self.statuses.items())) or "none"
        errors = ", ".join(f"{k} {v}" for k, v in self.socket_errors.items() if v) or "0"
        return f"statuses {{{codes}}}, socket errors {errors}"


def wrk_command() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed: `make bench` installs Debian's wrk (apt-get install wrk)")
    return found


def run_wrk(
    url: str, bodies: Path, headers: dict[str, str], concurrency: int, seconds: float
) -> tuple[dict, float]:
    """One wrk run: its parsed result line and its CPU seconds (user + system, from the kernel)."""
    command = [
        wrk_command(),
        "-t1",
        f"-c{concurrency}",
        f"-d{seconds:g}s",
        f"--timeout={TIMEOUT_S}s",
        "-s",
        str(LUA),
    ]
    for name, value in {"Content-Type": "application/json", **headers}.items():
        command += ["-H", f"{name}: {value}"]
    command += [url, "--", str(bodies)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child reaped in between
    line = next((x for x in done.stdout.splitlines() if x.startswith(MARKER)), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(line[len(MARKER) :]), cpu


def measure(target: Target, url: str, concurrency: int, plan: LoadPlan, label: str = "") -> LoadResult:
    """Warm up, then drive ``url`` of ``target`` at ``concurrency`` for the plan's duration."""
    if plan.warmup > 0:
        run_wrk(url, target.bodies, target.headers, concurrency, plan.warmup)
    server: Server = target.server
    before = server.cpu_seconds()
    result, client_cpu = run_wrk(url, target.bodies, target.headers, concurrency, plan.duration)
    server_cpu = server.cpu_seconds() - before
    latency = {k: v / 1000.0 for k, v in result["latency_us"].items()}
    return LoadResult(
        server=label or target.name,
        concurrency=concurrency,
        requests=int(result["requests"]),
        seconds=result["duration_us"] / 1e6,
        statuses={int(k): int(v) for k, v in result["statuses"].items()},
        socket_errors={k: int(result["errors"][k]) for k in ("connect", "read", "write", "timeout")},
        latency_ms=latency,
        client_cpu=client_cpu,
        server_cpu=server_cpu,
    )
