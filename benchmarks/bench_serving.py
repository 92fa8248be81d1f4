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
import json
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _serving import SCAN
from _serving.breakdown import breakdown
from _serving.cases import load_cases, mlflow_body, riskscan_body
from _serving.load import LoadPlan, LoadResult, measure, measure_floor
from _serving.report import evaluate, print_results, progress_line
from _serving.targets import Server, Target, mlflow_target, riskscan_target
from _setup import bench_env, bench_home, bench_parser, machine_load, riskscan, use_home_in_process


def main() -> None:
    args = parse_arguments()
    signal.signal(signal.SIGTERM, _exit_on_term)
    with bench_home(args) as home:
        results = measure_servers(home.path, args)
        evaluate(results, args.concurrency)
        if not args.no_breakdown:
            compare_in_process(home.path, args, results)


def parse_arguments() -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument(
        "--concurrency", default="1,8,32", type=_levels, help="comma-separated levels (default %(default)s)"
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
        type=_levels,
        help="also serve riskscan with OMP_NUM_THREADS=1 at these levels ('' to skip; default %(default)s)",
    )
    parser.add_argument(
        "--floor-seconds",
        type=float,
        default=3.0,
        help="health-check (HTTP floor) seconds per server; 0 skips",
    )
    parser.add_argument("--no-breakdown", action="store_true", help="skip the in-process breakdown")
    return parser.parse_args()


def _levels(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _exit_on_term(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def measure_servers(home: Path, args: argparse.Namespace) -> list[LoadResult]:
    """The load runs; every server started is stopped (its process group terminated), also on errors."""
    servers: list[Server] = []
    try:
        results = load_runs(home, args, servers)
    finally:
        for server in servers:
            server.stop()
        if servers:
            print(f"stopped {', '.join(s.name for s in servers)} (process groups terminated)")
    print(f"machine after the load tests: {machine_load()}")
    return results


def load_runs(home: Path, args: argparse.Namespace, servers: list[Server]) -> list[LoadResult]:
    """Start both servers, check they agree, then the HTTP floor, every level and the what-if."""
    plan = LoadPlan(args.warmup, None if args.requests else args.duration, args.requests)
    bench = open_bench(home, args.cases)
    rs, ml = riskscan_and_mlflow(bench, args)
    start_servers([rs, ml], servers)
    check_same_scores(rs, ml)
    if args.floor_seconds > 0:
        http_floor([rs, ml], args.floor_seconds)
    results = measure_levels([rs, ml], args.concurrency, plan)
    if args.what_if_levels:
        results += what_if_one_thread(bench, rs, servers, args.what_if_levels, plan)
    print_results(results)
    return results


@dataclass(frozen=True)
class Bench:
    """What the servers share: the home, a folder for their logs, the environment and the champion."""

    home: Path
    work: Path
    env: dict[str, str]
    token: str
    version: str
    cases: list[dict[str, Any]]


def open_bench(home: Path, n_cases: int) -> Bench:
    """A token, the champion's version and the cases, described in a line."""
    work = Path(tempfile.mkdtemp(prefix="bench-serving-", dir=home))
    token = create_token(home, work)
    version = champion_version(home)
    cases = load_cases(home, n_cases)
    print(f"champion: {_model_name()} version {version}; {len(cases):,} distinct VW cases (non-Wajong)")
    return Bench(home, work, bench_env(home), token, version, cases)


def riskscan_and_mlflow(bench: Bench, args: argparse.Namespace) -> tuple[Target, Target]:
    """The champion served by riskscan (``--workers`` BentoML workers) and by MLflow, not yet started."""
    rs_env = dict(bench.env)
    if args.workers is not None:
        rs_env["RISKSCAN_SERVE_WORKERS"] = str(args.workers)
    print(f"riskscan workers: {rs_env.get('RISKSCAN_SERVE_WORKERS', 'service default')}")
    rs = riskscan_target(
        "riskscan",
        rs_env,
        bench.work / "riskscan-serve.log",
        [riskscan_body(c, args.top_n) for c in bench.cases],
        {"Authorization": f"Bearer {bench.token}"},
    )
    ml = mlflow_target(
        f"models:/{_model_name()}/{bench.version}",
        args.mlflow_workers,
        {**bench.env, "MLFLOW_TRACKING_URI": f"sqlite:///{bench.home / 'mlflow.db'}"},
        bench.work / "mlflow-serve.log",
        [mlflow_body(c) for c in bench.cases],
    )
    return rs, ml


def _model_name() -> str:
    from models import registry

    return registry.model_name(SCAN)


def create_token(home: Path, work: Path) -> str:
    """A bearer token for the case-management system (``/score`` is machine-to-machine), made with the CLI
    as an operator would."""
    token_file = work / "token.json"
    riskscan(home, "token", "create", "--role", "systeem", "--name", "bench", "--json", str(token_file))
    return str(json.loads(token_file.read_text(encoding="utf-8"))["token"])


def champion_version(home: Path) -> str:
    from models import registry

    champion = registry.version_by_alias(SCAN, registry.CHAMPION)
    if champion is None:
        raise SystemExit(f"scan {SCAN} has no champion in {home}")
    return str(champion.version)


def start_servers(targets: list[Target], servers: list[Server]) -> None:
    """Start them all, then wait for each in turn (they start up side by side)."""
    for target in targets:
        servers.append(target.server)
        target.server.start()
    for target in targets:
        seconds = target.server.wait_ready()
        print(f"{target.name} ready in {seconds:.1f} s ({target.server.describe()}; log {target.server.log})")


def check_same_scores(rs: Target, ml: Target) -> None:
    """Same model, same answer: compare the scores of a few cases."""
    differences = []
    explanation = 0
    for rs_body, ml_body in list(zip(rs.bodies, ml.bodies, strict=True))[:20]:
        a = httpx.post(
            rs.score_url,
            content=rs_body,
            headers={**rs.headers, "Content-Type": "application/json"},
            timeout=30,
        )
        b = httpx.post(
            ml.score_url, content=ml_body, headers={"Content-Type": "application/json"}, timeout=30
        )
        if a.status_code != 200 or b.status_code != 200:
            raise RuntimeError(
                f"check request failed: riskscan {a.status_code} {a.text[:300]}; mlflow {b.status_code} {b.text[:300]}"
            )
        result = a.json()["results"][0]
        explanation = len(result["explanation"])
        differences.append(abs(result["score"] - b.json()["predictions"][0]))
    print(
        f"check: 20 cases scored by both, max |score difference| {max(differences):.2e}; riskscan returns "
        f"{explanation} explanation entries per case, MLflow a score only"
    )


def http_floor(targets: list[Target], seconds: float) -> None:
    """Each server's health check at concurrency 1: HTTP and the framework, no application code."""
    print(f"HTTP floor: a health check (no application code) at concurrency 1 for {seconds:g} s")
    for target in targets:
        floor = measure_floor(target, seconds)
        print(
            f"  {target.name:<9} GET {target.floor_url.rsplit('/', 1)[1]:<6} {floor.rps:7.1f} req/s, p50 "
            f"{floor.percentile(50):6.2f} ms, server CPU {floor.cpu_ms_per_request('server'):.2f} ms/req, "
            f"load generator CPU {floor.cpu_ms_per_request('client'):.2f} ms/req"
        )


def measure_levels(targets: list[Target], levels: list[int], plan: LoadPlan) -> list[LoadResult]:
    """Every target at every level, the targets taking turns at each level."""
    results = []
    for level in levels:
        for target in targets:
            result = measure(target, level, plan)
            results.append(result)
            print(progress_line(result), flush=True)
    return results


def what_if_one_thread(
    bench: Bench, rs: Target, servers: list[Server], levels: list[int], plan: LoadPlan
) -> list[LoadResult]:
    """The same riskscan service with OMP_NUM_THREADS=1: LightGBM then predicts one row without an
    OpenMP team. A deployment setting, not a code change; it shows what num_threads=1 in the serving
    predict calls would buy. (It runs with the service's default workers, whatever ``--workers`` says.)"""
    rs.server.stop()
    variant = riskscan_target(
        "rs-omp1",
        {**bench.env, "OMP_NUM_THREADS": "1"},
        bench.work / "riskscan-serve-omp1.log",
        rs.bodies,
        rs.headers,
    )
    servers.append(variant.server)
    variant.server.start()
    print(f"what-if: riskscan serve with OMP_NUM_THREADS=1 ready in {variant.server.wait_ready():.1f} s")
    return measure_levels([variant], levels, plan)


def compare_in_process(home: Path, args: argparse.Namespace, results: list[LoadResult]) -> None:
    """The in-process breakdown, and how much of the served CPU per request is not ScanRuntime.score."""
    use_home_in_process(home)
    cases = load_cases(home, args.cases)
    inproc = breakdown(cases, args.profile_calls, args.top_n, max(200, args.profile_calls // 2))
    c1 = next((r for r in results if r.server == "riskscan" and r.concurrency == 1), None)
    if c1 is not None and c1.ok:
        served = c1.cpu_ms_per_request("server")
        print(
            f"\n  riskscan server CPU per request at concurrency 1: {served:.2f} ms (BentoML process tree) vs "
            f"{inproc.plain_cpu_ms:.2f} ms for ScanRuntime.score in-process "
            f"({inproc.one_thread_cpu_ms:.2f} ms with num_threads=1): about "
            f"{served - inproc.plain_cpu_ms:.2f} ms of CPU per request is HTTP, BentoML and JSON"
        )


if __name__ == "__main__":
    main()
