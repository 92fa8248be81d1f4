"""Benchmark of online scoring: the VW champion served by riskscan (BentoML) and by MLflow. Prints figures;
asserts nothing.

The same registered champion is served two ways and driven by one load generator (asyncio + httpx):

* ``riskscan serve``: validation against the register, calibrated score, exact TreeSHAP explanation (top 5
  contributions with Dutch labels) and a hash-chained decision-log write per case, behind a bearer token;
* ``mlflow models serve -m models:/riskscan-vw/<champion>``: the pyfunc (feature pipeline + booster +
  calibration), scores only.

One real VW case (non-Wajong, from the home's ww_aanvragen) per request, cycling through ``--cases``
distinct cases; concurrency 1, 8 and 32; for each a warm-up, then a fixed duration (or ``--requests``).
Printed per server and concurrency: requests/s, p50/p99 latency, and the CPU the load generator and the
server used (all share the machine's cores), in share of a core and in CPU ms per request. Also: an HTTP
floor (each server's health check at concurrency 1), a what-if run of riskscan with OMP_NUM_THREADS=1
(``--what-if-levels``), the ratios, the goals (riskscan >= 5x MLflow's throughput at concurrency 8, riskscan
p99 <= 25 ms at concurrency 8) with a Little's-law check of what the latency goal needs, and, in-process,
where the time of one ``ScanRuntime.score`` call goes (timers around each step, then cProfile). Both
servers run in their own process groups and are terminated at the end, also on errors.

    python benchmarks/bench_serving.py                      # fresh temporary home, demo set-up
    python benchmarks/bench_serving.py --home var --duration 30 --concurrency 1,8,32,64
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import itertools
import json
import os
import pstats
import signal
import socket
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import psutil
from _setup import (
    ROOT,
    VENV_BIN,
    Home,
    add_home_arguments,
    bench_env,
    machine_load,
    prepare_home,
    print_setup,
    riskscan,
    timed,
)

SCAN = "vw"
GOAL_THROUGHPUT_RATIO = 5.0
GOAL_P99_MS = 25.0
GOAL_CONCURRENCY = 8


# -- cases ------------------------------------------------------------------------------------------------


def load_cases(home: Path, n: int) -> list[dict[str, Any]]:
    """The newest ``n`` non-Wajong VW applications as JSON-ready dicts: case_id, the features, wajong."""
    from features.register import default_register
    from models.specs import load_spec

    spec = load_spec(SCAN)
    key = default_register().tables[spec.table].key
    frame = pd.read_parquet(home / "data" / f"{spec.table}.parquet")
    frame = frame.loc[~frame["wajong"]].tail(n)
    columns: dict[str, list[Any]] = {"case_id": frame[key].astype(str).tolist()}
    for name in spec.features:
        series = frame[name].astype(object)
        columns[name] = [_plain(v) for v in series.where(series.notna(), None).tolist()]
    names = list(columns)
    return [
        {**dict(zip(names, row, strict=True)), "wajong": False} for row in zip(*columns.values(), strict=True)
    ]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def riskscan_body(case: dict[str, Any], top_n: int) -> bytes:
    return json.dumps({"scan": SCAN, "cases": [case], "top_n": top_n}).encode()


def mlflow_body(case: dict[str, Any]) -> bytes:
    record = {k: v for k, v in case.items() if k not in ("case_id", "wajong")}
    return json.dumps({"dataframe_records": [record]}).encode()


# -- servers ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server started in its own process group, stopped by terminating the whole group."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], ready_url: str, log: Path) -> None:
        self.name, self.command, self.env, self.ready_url, self.log = name, command, env, ready_url, log
        self.process: subprocess.Popen[bytes] | None = None
        self._seen: dict[int, psutil.Process] = {}

    def start(self) -> None:
        with self.log.open("wb") as handle:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=ROOT,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 240.0) -> float:
        assert self.process is not None
        start = time.perf_counter()
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.ready_url, timeout=2).status_code == 200:
                    return time.perf_counter() - start
            if time.perf_counter() - start > timeout:
                raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.5)

    def log_tail(self, lines: int = 25) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _tree(self) -> list[psutil.Process]:
        assert self.process is not None
        try:
            root = psutil.Process(self.process.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        for proc in tree:
            self._seen.setdefault(proc.pid, proc)
        return tree

    def cpu_seconds(self) -> float:
        """User + system CPU of the live process tree (worker processes included)."""
        total = 0.0
        for proc in self._tree():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def describe(self) -> str:
        names = []
        for proc in self._tree():
            with contextlib.suppress(psutil.Error):
                names.append(f"{proc.pid}:{' '.join(proc.cmdline()[:3])[-60:]}")
        return f"{len(names)} process(es)"

    def stop(self) -> None:
        if self.process is None:
            return
        self._tree()  # remember every descendant, in case one left the group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):  # stragglers still in the group
            os.killpg(self.process.pid, signal.SIGKILL)
        for proc in self._seen.values():  # and any descendant that started its own session
            with contextlib.suppress(psutil.Error):
                if proc.is_running():
                    proc.kill()
        self.process = None


# -- load generator ---------------------------------------------------------------------------------------


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


# -- in-process breakdown of ScanRuntime.score -----------------------------------------------------------


class StepTimer:
    """Wraps callables so each call's wall time is added to a named step (inclusive of nested steps)."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self._restore: list[Callable[[], None]] = []

    def wrap(self, owner: Any, attribute: str, step: str | Callable[..., str]) -> None:
        original = getattr(owner, attribute)
        had_own = attribute in getattr(owner, "__dict__", {})
        record = self.seconds

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                name = step(*args, **kwargs) if callable(step) else step
                record[name].append(time.perf_counter() - start)

        setattr(owner, attribute, timed_call)
        if had_own:
            self._restore.append(lambda: setattr(owner, attribute, original))
        else:
            self._restore.append(lambda: delattr(owner, attribute))

    def restore(self) -> None:
        for undo in reversed(self._restore):
            undo()
        self._restore.clear()


def _predict_step(*_args: Any, **kwargs: Any) -> str:
    return "  lightgbm predict pred_contrib" if kwargs.get("pred_contrib") else "  lightgbm predict raw_score"


def breakdown(cases: list[dict[str, Any]], n: int, top_n: int, profile_cases: int) -> dict[str, float]:
    """Time the steps of ScanRuntime.score for one case per call, in this process, on the home's stores."""
    import serving.log._encode as encode_module
    import serving.runtime as runtime_module
    import serving.scoring as scoring_module
    from serving.runtime import ScanRuntime

    runtime, load_seconds = timed(ScanRuntime)
    print(
        f"\nin-process ScanRuntime.score, one case per call ({n} calls; runtime loaded in {load_seconds:.2f} s)"
    )
    state = runtime.state(SCAN)
    model = state.model
    assert model is not None
    for case in cases[:50]:  # warm-up: caches (_lookups), SQLite pages, pydantic
        runtime.score(SCAN, [{**case, "case_id": f"warm-{case['case_id']}"}], top_n)

    def whole_calls() -> tuple[np.ndarray, float]:
        wall = []
        cpu = time.process_time()
        for i in range(n):
            case = cases[i % len(cases)]
            start = time.perf_counter()
            runtime.score(SCAN, [case], top_n)
            wall.append(time.perf_counter() - start)
        return np.asarray(wall) * 1000, (time.process_time() - cpu) / n * 1000

    # Whole calls, nothing wrapped; then the same with LightGBM told to use one thread (what-if).
    plain_ms, plain_cpu_ms = whole_calls()
    predict = model.booster.predict
    model.booster.predict = lambda data, **kw: predict(data, **{"num_threads": 1, **kw})  # type: ignore[method-assign]
    try:
        one_ms, one_cpu_ms = whole_calls()
    finally:
        del model.booster.predict

    timer = StepTimer()
    timer.wrap(runtime, "state", "state (refresh_if_changed)")
    timer.wrap(runtime, "_validate", "validate (pydantic strict model)")
    timer.wrap(runtime, "_routed", "route (wajong)")
    timer.wrap(runtime_module, "score_records", "score_records (total)")
    timer.wrap(model, "encode_records", "  encode_records")
    timer.wrap(model.booster, "predict", _predict_step)
    timer.wrap(scoring_module, "control_draw", "  control_draw (HMAC)")
    timer.wrap(scoring_module, "explanation_entries", "  explanation_entries")
    timer.wrap(runtime, "_log_entry", "log entry (LogEntry build)")
    timer.wrap(runtime.store, "append_scores", "store.append_scores (total)")
    timer.wrap(encode_module, "entry_columns", "  entry_columns (validate)")
    timer.wrap(encode_module, "encode", "  encode (canonical JSON)")
    timer.wrap(runtime_module, "result_json", "result_json")
    totals = []
    try:
        for i in range(n):
            case = cases[i % len(cases)]
            start = time.perf_counter()
            runtime.score(SCAN, [case], top_n)
            totals.append(time.perf_counter() - start)
    finally:
        timer.restore()
    total_ms = float(np.mean(totals) * 1000)
    steps = {name: float(np.sum(values) / n * 1000) for name, values in timer.seconds.items()}
    children = [
        "  encode_records",
        "  lightgbm predict raw_score",
        "  lightgbm predict pred_contrib",
        "  control_draw (HMAC)",
        "  explanation_entries",
    ]
    if "score_records (total)" in steps:
        steps["  rest of score_records (ScoredCase, calibration)"] = steps["score_records (total)"] - sum(
            steps.get(c, 0.0) for c in children
        )
    if "store.append_scores (total)" in steps:
        steps["  rest of append_scores (lock, hash, INSERT, commit)"] = (
            steps["store.append_scores (total)"]
            - steps.get("  entry_columns (validate)", 0.0)
            - steps.get("  encode (canonical JSON)", 0.0)
        )
    top = [
        "state (refresh_if_changed)",
        "validate (pydantic strict model)",
        "route (wajong)",
        "score_records (total)",
        "log entry (LogEntry build)",
        "store.append_scores (total)",
        "result_json",
    ]
    steps["other (runtime.score itself)"] = total_ms - sum(steps.get(t, 0.0) for t in top)
    order = [
        "state (refresh_if_changed)",
        "validate (pydantic strict model)",
        "route (wajong)",
        "score_records (total)",
        "  encode_records",
        "  lightgbm predict raw_score",
        "  lightgbm predict pred_contrib",
        "  explanation_entries",
        "  control_draw (HMAC)",
        "  rest of score_records (ScoredCase, calibration)",
        "log entry (LogEntry build)",
        "store.append_scores (total)",
        "  entry_columns (validate)",
        "  encode (canonical JSON)",
        "  rest of append_scores (lock, hash, INSERT, commit)",
        "result_json",
        "other (runtime.score itself)",
    ]
    print(
        f"  whole call, unwrapped: mean {plain_ms.mean():.3f} ms, p50 {np.percentile(plain_ms, 50):.3f} ms, "
        f"p99 {np.percentile(plain_ms, 99):.3f} ms"
    )
    print(f"    CPU (all threads of this process) per call: {plain_cpu_ms:.3f} ms")
    print(
        f"  what-if, booster.predict(..., num_threads=1): mean {one_ms.mean():.3f} ms, "
        f"p50 {np.percentile(one_ms, 50):.3f} ms, p99 {np.percentile(one_ms, 99):.3f} ms, "
        f"CPU per call {one_cpu_ms:.3f} ms"
    )
    print(f"  whole call, with step timers: mean {total_ms:.3f} ms")
    print(f"  {'step':<55} {'mean ms/call':>12} {'share':>7}")
    for name in order:
        if name in steps:
            print(f"  {name:<55} {steps[name]:>12.3f} {steps[name] / total_ms:>7.1%}")
    for name, values in timer.seconds.items():
        if name not in order:
            print(f"  {name:<55} {np.sum(values) / n * 1000:>12.3f}")

    # LightGBM single-row prediction: default threads (OpenMP, all cores) against one thread.
    encoded = model.encode_records([runtime._validate(state, [cases[0]])[0]])
    booster = model.booster
    reps = 2000
    print(f"\n  LightGBM on one row, {reps} calls each (mean ms/call):")
    for label, kwargs in (
        ("raw_score, default threads", {"raw_score": True}),
        ("raw_score, num_threads=1", {"raw_score": True, "num_threads": 1}),
        ("pred_contrib, default threads", {"pred_contrib": True}),
        ("pred_contrib, num_threads=1", {"pred_contrib": True, "num_threads": 1}),
    ):
        booster.predict(encoded, **kwargs)
        _, seconds = timed(lambda kw=kwargs: [booster.predict(encoded, **kw) for _ in range(reps)])
        print(f"    {label:<32} {seconds / reps * 1000:.3f}")
    _, seconds = timed(lambda: [model.encoded_names for _ in range(reps)])
    print(
        f"  model.encoded_names (property: preprocessor.get_feature_names_out()): {seconds / reps * 1000:.3f} ms/call"
    )

    # cProfile of whole calls: the functions that cost the most time of their own.
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(profile_cases):
        runtime.score(SCAN, [cases[i % len(cases)]], top_n)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(18)
    print(f"\n  cProfile of {profile_cases} calls, top functions by own time (tottime):")
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith("ncalls")), 0)
    for line in lines[start:]:
        if line.strip():
            print("   " + line.replace(str(ROOT) + "/", "").replace(str(VENV_BIN.parent) + "/", "")[:150])
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_callees("explanation_entries")
    print("\n  cProfile: what explanation_entries calls (cumulative):")
    for line in out.getvalue().splitlines()[-14:]:
        if line.strip():
            print("   " + line.replace(str(ROOT) + "/", "").replace(str(VENV_BIN.parent) + "/", "")[:150])
    runtime.store.close()
    return {
        "plain_p50_ms": float(np.percentile(plain_ms, 50)),
        "plain_cpu_ms": plain_cpu_ms,
        "one_thread_cpu_ms": one_cpu_ms,
    }


# -- main ----------------------------------------------------------------------------------------------------


def progress_line(r: LoadResult) -> str:
    return (
        f"  {r.server:<9} concurrency {r.concurrency:>3}: {r.rps:7.1f} req/s, p50 {r.percentile(50):7.2f} ms, "
        f"p99 {r.percentile(99):7.2f} ms, {r.errors} errors"
    )


def print_results(results: list[LoadResult]) -> None:
    print(
        f"\n{'server':<9} {'conc':>4} {'requests':>9} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'mean ms':>8} {'loadgen CPU':>12} {'server CPU':>11} {'loadgen ms/req':>15} {'server ms/req':>14}"
    )
    for r in results:
        print(
            f"{r.server:<9} {r.concurrency:>4} {r.ok:>9,} {r.errors:>6} {r.rps:>8.1f} {r.percentile(50):>8.2f} "
            f"{r.percentile(99):>8.2f} {r.latencies_ms.mean() if r.ok else float('nan'):>8.2f} "
            f"{r.client_cpu / r.seconds:>11.0%} {r.server_cpu / r.seconds:>10.0%} "
            f"{r.cpu_ms_per_request('client'):>15.2f} {r.cpu_ms_per_request('server'):>14.2f}"
        )
        if r.first_error:
            print(f"    first error: {r.first_error}")
    print(
        "  (CPU: share of one core over the measured phase, and CPU milliseconds per request; "
        f"the machine has {os.cpu_count()} cores)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_home_arguments(parser)
    parser.add_argument(
        "--concurrency", default="1,8,32", help="comma-separated levels (default %(default)s)"
    )
    parser.add_argument(
        "--duration", type=float, default=15.0, help="measured seconds per level (default 15)"
    )
    parser.add_argument("--requests", type=int, default=None, help="measure this many requests instead")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per level (default 3)")
    parser.add_argument("--cases", type=int, default=2000, help="distinct cases to cycle through")
    parser.add_argument("--top-n", type=int, default=5, help="explanation entries per case (riskscan)")
    parser.add_argument("--mlflow-workers", type=int, default=1, help="uvicorn workers of MLflow (default 1)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="riskscan BentoML workers (RISKSCAN_SERVE_WORKERS; default: the service's)",
    )
    parser.add_argument("--profile-calls", type=int, default=1000, help="in-process breakdown calls")
    parser.add_argument(
        "--what-if-levels",
        default="1,8",
        help="also serve riskscan with OMP_NUM_THREADS=1 at these levels ('' to skip; default %(default)s)",
    )
    parser.add_argument(
        "--floor-seconds",
        type=float,
        default=3.0,
        help="health-check (HTTP floor) seconds per server; 0 skips",
    )
    parser.add_argument("--no-breakdown", action="store_true", help="skip the in-process breakdown")
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    duration = None if args.requests else args.duration

    def on_term(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    home = prepare_home(args)
    servers: list[Server] = []
    try:
        print_setup(home)
        results = bench(home, args, levels, duration, servers)
    finally:
        for server in servers:
            server.stop()
        if servers:
            print(f"stopped {', '.join(s.name for s in servers)} (process groups terminated)")
    print(f"machine after the load tests: {machine_load()}")
    evaluate(results, levels)
    if not args.no_breakdown:
        from _setup import use_home_in_process

        use_home_in_process(home.path)
        cases = load_cases(home.path, args.cases)
        inproc = breakdown(cases, args.profile_calls, args.top_n, max(200, args.profile_calls // 2))
        c1 = next((r for r in results if r.server == "riskscan" and r.concurrency == 1), None)
        if c1 is not None and c1.ok:
            served = c1.cpu_ms_per_request("server")
            print(
                f"\n  riskscan server CPU per request at concurrency 1: {served:.2f} ms (BentoML process tree) vs "
                f"{inproc['plain_cpu_ms']:.2f} ms for ScanRuntime.score in-process "
                f"({inproc['one_thread_cpu_ms']:.2f} ms with num_threads=1): about "
                f"{served - inproc['plain_cpu_ms']:.2f} ms of CPU per request is HTTP, BentoML and JSON"
            )
    home.cleanup(args.keep_home)


def bench(
    home: Home, args: argparse.Namespace, levels: list[int], duration: float | None, servers: list[Server]
) -> list[LoadResult]:
    from models import registry

    work = Path(tempfile.mkdtemp(prefix="bench-serving-", dir=home.path))
    token_file = work / "token.json"
    riskscan(
        home.path, "token", "create", "--role", "handhaving", "--name", "bench", "--json", str(token_file)
    )
    token = json.loads(token_file.read_text(encoding="utf-8"))["token"]
    champion = registry.version_by_alias(SCAN, registry.CHAMPION)
    if champion is None:
        raise SystemExit(f"scan {SCAN} has no champion in {home.path}")
    version = str(champion.version)
    cases = load_cases(home.path, args.cases)
    print(
        f"champion: {registry.model_name(SCAN)} version {version}; {len(cases):,} distinct VW cases (non-Wajong)"
    )

    env = bench_env(home.path)
    rs_env = dict(env)
    if args.workers is not None:
        rs_env["RISKSCAN_SERVE_WORKERS"] = str(args.workers)
    print(f"riskscan workers: {rs_env.get('RISKSCAN_SERVE_WORKERS', 'service default')}")
    p1, p2 = free_port(), free_port()
    rs = Server(
        "riskscan",
        [str(VENV_BIN / "riskscan"), "serve", "--port", str(p1), "--host", "127.0.0.1"],
        rs_env,
        f"http://127.0.0.1:{p1}/readyz",
        work / "riskscan-serve.log",
    )
    ml = Server(
        "mlflow",
        [
            str(VENV_BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            f"models:/{registry.model_name(SCAN)}/{version}",
            "--env-manager",
            "local",
            "-p",
            str(p2),
            "--host",
            "127.0.0.1",
            "--workers",
            str(args.mlflow_workers),
        ],
        {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{home.path / 'mlflow.db'}"},
        f"http://127.0.0.1:{p2}/ping",
        work / "mlflow-serve.log",
    )
    for server in (rs, ml):
        servers.append(server)
        server.start()
    for server in (rs, ml):
        seconds = server.wait_ready()
        print(f"{server.name} ready in {seconds:.1f} s ({server.describe()}; log {server.log})")

    rs_url, ml_url = f"http://127.0.0.1:{p1}/score", f"http://127.0.0.1:{p2}/invocations"
    rs_headers = {"Authorization": f"Bearer {token}"}
    rs_bodies = [riskscan_body(c, args.top_n) for c in cases]
    ml_bodies = [mlflow_body(c) for c in cases]

    # Same model, same answer: compare the scores of a few cases.
    differences = []
    for rs_body, ml_body in list(zip(rs_bodies, ml_bodies, strict=True))[:20]:
        a = httpx.post(
            rs_url, content=rs_body, headers={**rs_headers, "Content-Type": "application/json"}, timeout=30
        )
        b = httpx.post(ml_url, content=ml_body, headers={"Content-Type": "application/json"}, timeout=30)
        if a.status_code != 200 or b.status_code != 200:
            raise RuntimeError(
                f"check request failed: riskscan {a.status_code} {a.text[:300]}; mlflow {b.status_code} {b.text[:300]}"
            )
        result = a.json()["results"][0]
        differences.append(abs(result["score"] - b.json()["predictions"][0]))
    print(
        f"check: 20 cases scored by both, max |score difference| {max(differences):.2e}; riskscan returns "
        f"{len(result['explanation'])} explanation entries per case, MLflow a score only"
    )

    if args.floor_seconds > 0:
        print(
            f"HTTP floor: a health check (no application code) at concurrency 1 for {args.floor_seconds:g} s"
        )
        for server, url in ((rs, f"http://127.0.0.1:{p1}/livez"), (ml, f"http://127.0.0.1:{p2}/ping")):
            floor = asyncio.run(
                run_load(server, url, [b""], {}, 1, warmup=1.0, duration=args.floor_seconds, count=None)
            )
            print(
                f"  {server.name:<9} GET {url.rsplit('/', 1)[1]:<6} {floor.rps:7.1f} req/s, p50 "
                f"{floor.percentile(50):6.2f} ms, server CPU {floor.cpu_ms_per_request('server'):.2f} ms/req, "
                f"load generator CPU {floor.cpu_ms_per_request('client'):.2f} ms/req"
            )

    results = []
    for level in levels:
        for server, url, bodies, headers in (
            (rs, rs_url, rs_bodies, rs_headers),
            (ml, ml_url, ml_bodies, {}),
        ):
            result = asyncio.run(
                run_load(
                    server,
                    url,
                    bodies,
                    headers,
                    level,
                    warmup=args.warmup,
                    duration=duration,
                    count=args.requests,
                )
            )
            results.append(result)
            print(progress_line(result), flush=True)
    if args.what_if_levels:
        results += what_if_one_thread(home, args, rs, servers, env, work, rs_bodies, rs_headers, duration)
    print_results(results)
    return results


def what_if_one_thread(
    home: Home,
    args: argparse.Namespace,
    rs: Server,
    servers: list[Server],
    env: dict[str, str],
    work: Path,
    bodies: list[bytes],
    headers: dict[str, str],
    duration: float | None,
) -> list[LoadResult]:
    """The same riskscan service with OMP_NUM_THREADS=1: LightGBM then predicts one row without an
    OpenMP team. A deployment setting, not a code change; it shows what num_threads=1 in the serving
    predict calls would buy."""
    levels = [int(x) for x in args.what_if_levels.split(",") if x.strip()]
    rs.stop()
    port = free_port()
    variant = Server(
        "rs-omp1",
        [str(VENV_BIN / "riskscan"), "serve", "--port", str(port), "--host", "127.0.0.1"],
        {**env, "OMP_NUM_THREADS": "1"},
        f"http://127.0.0.1:{port}/readyz",
        work / "riskscan-serve-omp1.log",
    )
    servers.append(variant)
    variant.start()
    print(f"what-if: riskscan serve with OMP_NUM_THREADS=1 ready in {variant.wait_ready():.1f} s")
    results = []
    for level in levels:
        result = asyncio.run(
            run_load(
                variant,
                f"http://127.0.0.1:{port}/score",
                bodies,
                headers,
                level,
                warmup=args.warmup,
                duration=duration,
                count=args.requests,
            )
        )
        results.append(result)
        print(progress_line(result), flush=True)
    return results


def evaluate(results: list[LoadResult], levels: list[int]) -> None:
    by = {(r.server, r.concurrency): r for r in results}
    print(
        f"\n{'conc':>4} {'':<6}{'throughput riskscan/mlflow':>27} {'p50 riskscan/mlflow':>20} "
        f"{'p99 riskscan/mlflow':>20}"
    )
    for level, name in itertools.product(levels, ("riskscan", "rs-omp1")):
        a, b = by.get((name, level)), by.get(("mlflow", level))
        if a and b and b.rps and a.ok and b.ok:
            label = "(omp1)" if name == "rs-omp1" else ""
            print(
                f"{level:>4} {label:<6}{a.rps / b.rps:>26.2f}x "
                f"{a.percentile(50) / b.percentile(50):>19.2f}x {a.percentile(99) / b.percentile(99):>19.2f}x"
            )
    a, b = by.get(("riskscan", GOAL_CONCURRENCY)), by.get(("mlflow", GOAL_CONCURRENCY))
    if a is None or b is None or not b.rps:
        print(f"goals: not evaluated (concurrency {GOAL_CONCURRENCY} was not measured)")
        return
    ratio, p99 = a.rps / b.rps, a.percentile(99)
    print(
        f"goal: riskscan (with explanations) >= {GOAL_THROUGHPUT_RATIO:g}x MLflow's throughput at concurrency "
        f"{GOAL_CONCURRENCY}: {ratio:.2f}x -> {'MET' if ratio >= GOAL_THROUGHPUT_RATIO else 'NOT MET'}"
    )
    print(
        f"goal: riskscan p99 <= {GOAL_P99_MS:g} ms at concurrency {GOAL_CONCURRENCY}: {p99:.2f} ms -> "
        f"{'MET' if p99 <= GOAL_P99_MS else 'NOT MET'}"
    )
    needed = GOAL_CONCURRENCY / (GOAL_P99_MS / 1000)  # closed loop: mean latency = concurrency / throughput
    per_request = a.cpu_ms_per_request("server") + a.cpu_ms_per_request("client")
    print(
        f"  Little's law: {GOAL_CONCURRENCY} requests always in flight and p99 <= {GOAL_P99_MS:g} ms need a mean "
        f"latency below {GOAL_P99_MS:g} ms, i.e. more than {needed:.0f} req/s; at the measured "
        f"{a.cpu_ms_per_request('server'):.2f} ms server + {a.cpu_ms_per_request('client'):.2f} ms load-generator "
        f"CPU per request that is {needed * per_request / 1000:.2f} cores (this machine: {os.cpu_count()})"
    )
    w = by.get(("rs-omp1", GOAL_CONCURRENCY))
    if w is not None and w.ok:
        print(
            f"what-if (riskscan with OMP_NUM_THREADS=1, MLflow unchanged) at concurrency {GOAL_CONCURRENCY}: "
            f"{w.rps / b.rps:.2f}x MLflow's throughput, p99 {w.percentile(99):.2f} ms"
        )


if __name__ == "__main__":
    main()
