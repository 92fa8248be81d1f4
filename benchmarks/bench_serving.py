"""Benchmark of online scoring: governance over the bare alternative, side by side in one run. Prints figures;
asserts nothing.

The VW champion is served three ways, and wrk (``_serving/cycle.lua``) drives each with the same real cases:

* ``riskscan``: ``riskscan serve``, the governed service: the gate (overload, token, strict body),
  validation against the register, calibrated score, exact TreeSHAP explanation with Dutch labels, and a
  hash-chained decision-log write per case before the answer leaves;
* ``bare``: a minimal ``@bentoml.service`` (``_serving/bare_service.py``) that takes the same JSON body,
  builds the feature row and returns the calibrated score and ``pred_contrib``: no validation, no auth,
  no log; LightGBM on one thread, one worker, like riskscan;
* ``mlflow``: ``mlflow models serve`` of a plain pyfunc (``_serving/plain_pyfunc.py``) doing the bare
  service's work, the way a user would serve the booster; not the registered riskscan pyfunc, whose
  pandera validation made MLflow look slow for a reason of ours.

The HTTP floor is the bare service's ``/noop`` (same body, no work): the physical limit of a BentoML
endpoint on this machine. One real VW case (non-Wajong) per request, cycling through ``--cases`` distinct
cases; at each level of ``--concurrency`` every target gets a warm-up, then ``--duration`` seconds.
Printed per run: requests/s, p50/p99, the count of every HTTP status and of socket errors (a dropped
connection), and the CPU per request of the server (its process tree) and of wrk. Then riskscan with
``RISKSCAN_PREDICT_THREADS=0`` (LightGBM's default threads) at ``--threads-level``, optionally the
in-process breakdown of ``ScanRuntime.score`` (``--breakdown``), the load average, and as the last line
the ratio of riskscan over bare at concurrency 8 (goal: throughput >= 0.8, p99 <= 1.5).

    python benchmarks/bench_serving.py                      # fresh temporary home, demo set-up
    python benchmarks/bench_serving.py --home var --duration 30 --concurrency 1,8,32,64
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _serving import SCAN
from _serving.cases import load_cases, mlflow_body, read_bodies, riskscan_body, write_bodies
from _serving.load import LoadPlan, LoadResult, measure, wrk_command
from _serving.plain_model import export_plain
from _serving.report import print_final, print_ratios, print_results, progress_line
from _serving.targets import Server, Target, bare_target, mlflow_target, riskscan_target
from _setup import bench_env, bench_home, bench_parser, machine_load, riskscan, use_home_in_process

RATIO_LEVEL = 8


def main() -> None:
    args = parse_arguments()
    wrk_command()  # refuse before any set-up when wrk is missing
    signal.signal(signal.SIGTERM, _exit_on_term)
    with bench_home(args) as home:
        results = measure_servers(home.path, args)
        if args.breakdown:
            compare_in_process(home.path, args, results)
        print_ratios(results, args.concurrency)
        print(f"machine load: {machine_load()}")
        print_final(results, RATIO_LEVEL)


def parse_arguments() -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument(
        "--concurrency",
        default="1,8,32,64",
        type=_levels,
        help="comma-separated levels (default %(default)s)",
    )
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per run (default 15)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per run (default 3)")
    parser.add_argument("--cases", type=int, default=2000, help="distinct cases to cycle through")
    parser.add_argument("--top-n", type=int, default=5, help="explanation entries per case (riskscan)")
    parser.add_argument(
        "--threads-level",
        type=int,
        default=RATIO_LEVEL,
        help="level of the LightGBM-threads run (riskscan with RISKSCAN_PREDICT_THREADS=0); 0 skips",
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="also time the steps of ScanRuntime.score in-process"
    )
    parser.add_argument("--profile-calls", type=int, default=1000, help="in-process breakdown calls")
    return parser.parse_args()


def _levels(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _exit_on_term(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


@dataclass(frozen=True)
class Bench:
    """What the servers share: the home, a folder for their files and logs, the environment, the champion."""

    home: Path
    work: Path
    env: dict[str, str]
    token: str
    version: str
    cases: list[dict[str, Any]]


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
    print_results(results)
    return results


def load_runs(home: Path, args: argparse.Namespace, servers: list[Server]) -> list[LoadResult]:
    plan = LoadPlan(args.warmup, args.duration)
    bench = open_bench(home, args.cases)
    rs, bare, ml = targets(bench, args)
    start_servers([rs, bare, ml], servers)
    check_same_scores(rs, bare, ml)
    floor = bare.score_url.rsplit("/", 1)[0] + "/noop"
    results = []
    for level in args.concurrency:
        runs = [
            (bare, floor, "floor"),
            (bare, bare.score_url, ""),
            (rs, rs.score_url, ""),
            (ml, ml.score_url, ""),
        ]
        for target, url, label in runs:
            result = measure(target, url, level, plan, label)
            results.append(result)
            print(progress_line(result), flush=True)
    if args.threads_level:
        results.append(default_threads_run(bench, rs, servers, args.threads_level, plan))
    return results


def open_bench(home: Path, n_cases: int) -> Bench:
    work = Path(tempfile.mkdtemp(prefix="bench-serving-", dir=home))
    token = create_token(home, work)
    version = champion_version(home)
    cases = load_cases(home, n_cases)
    print(f"champion: {_model_name()} version {version}; {len(cases):,} distinct VW cases (non-Wajong)")
    return Bench(home, work, bench_env(home), token, version, cases)


def targets(bench: Bench, args: argparse.Namespace) -> tuple[Target, Target, Target]:
    """riskscan, bare and MLflow, not yet started; the bodies written once, bare takes riskscan's."""
    from models import registry

    rs_bodies = write_bodies(
        bench.work / "riskscan.jsonl", [riskscan_body(c, args.top_n) for c in bench.cases]
    )
    ml_bodies = write_bodies(bench.work / "mlflow.jsonl", [mlflow_body(c) for c in bench.cases])
    plain = export_plain(registry.load_scan_model(SCAN, bench.version), bench.work / "plain")
    pyfunc = save_plain_pyfunc(plain, bench.work / "plain-pyfunc")
    rs = riskscan_target(
        "riskscan",
        bench.env,
        bench.work / "riskscan.log",
        rs_bodies,
        {"Authorization": f"Bearer {bench.token}"},
    )
    bare = bare_target(
        "bare", {**bench.env, "BENCH_PLAIN_MODEL": str(plain)}, bench.work / "bare.log", rs_bodies
    )
    ml = mlflow_target(str(pyfunc), bench.env, bench.work / "mlflow.log", ml_bodies)
    return rs, bare, ml


def save_plain_pyfunc(plain: Path, path: Path) -> Path:
    """The plain pyfunc as MLflow "models from code", its model folder as an artifact."""
    import mlflow.pyfunc

    here = Path(__file__).parent / "_serving"
    sys.path.insert(0, str(here))  # saving runs the code file, which imports plain_model as a top module
    try:
        mlflow.pyfunc.save_model(
            path=str(path),
            python_model=str(here / "plain_pyfunc.py"),
            artifacts={"plain": str(plain)},
            code_paths=[str(here / "plain_model.py")],
            pip_requirements=["lightgbm", "numpy", "pandas"],  # served with --env-manager local: no inference
        )
    finally:
        sys.path.remove(str(here))
    return path


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


def start_servers(started: list[Target], servers: list[Server]) -> None:
    """Start them all, then wait for each in turn (they start up side by side)."""
    for target in started:
        servers.append(target.server)
        target.server.start()
    for target in started:
        seconds = target.server.wait_ready()
        print(f"{target.name} ready in {seconds:.1f} s ({target.server.describe()}; log {target.server.log})")


def check_same_scores(rs: Target, bare: Target, ml: Target) -> None:
    """Same model, same answer: the scores of 20 cases from all three, and the contributions of bare and
    riskscan's explanation entries."""
    differences = []
    contribution = 0.0
    pairs = zip(read_bodies(rs.bodies)[:20], read_bodies(ml.bodies)[:20], strict=True)
    for rs_body, ml_body in pairs:
        answers = [_post(target, body) for target, body in ((rs, rs_body), (bare, rs_body), (ml, ml_body))]
        a, b = answers[0]["results"][0], answers[1]["results"][0]
        c = answers[2]["predictions"][0]
        differences += [abs(a["score"] - b["score"]), abs(a["score"] - c["score"])]
        for entry in a["explanation"]:
            contribution = max(
                contribution, abs(entry["contribution"] - b["contributions"][entry["feature"]])
            )
    print(
        f"check: 20 cases scored by all three, max |score difference| {max(differences):.2e}, max |contribution "
        f"difference| (riskscan's top entries vs bare's pred_contrib) {contribution:.2e}"
    )


def _post(target: Target, body: bytes) -> Any:
    answer = httpx.post(
        target.score_url,
        content=body,
        headers={**target.headers, "Content-Type": "application/json"},
        timeout=30,
    )
    if answer.status_code != 200:
        raise RuntimeError(f"check request to {target.name} failed: {answer.status_code} {answer.text[:300]}")
    return answer.json()


def default_threads_run(
    bench: Bench, rs: Target, servers: list[Server], level: int, plan: LoadPlan
) -> LoadResult:
    """riskscan again with ``RISKSCAN_PREDICT_THREADS=0``: LightGBM's default OpenMP team per predict
    instead of one thread (the service's default)."""
    rs.server.stop()
    variant = riskscan_target(
        "rs-threads0",
        {**bench.env, "RISKSCAN_PREDICT_THREADS": "0"},
        bench.work / "riskscan-threads0.log",
        rs.bodies,
        rs.headers,
    )
    servers.append(variant.server)
    variant.server.start()
    print(f"riskscan with RISKSCAN_PREDICT_THREADS=0 ready in {variant.server.wait_ready():.1f} s")
    result = measure(variant, variant.score_url, level, plan)
    print(progress_line(result), flush=True)
    return result


def compare_in_process(home: Path, args: argparse.Namespace, results: list[LoadResult]) -> None:
    """The in-process breakdown, and how much of the served CPU per request is not ScanRuntime.score."""
    from _serving.breakdown import breakdown

    use_home_in_process(home)
    cases = load_cases(home, args.cases)
    inproc = breakdown(cases, args.profile_calls, args.top_n, max(200, args.profile_calls // 2))
    c1 = next((r for r in results if r.server == "riskscan" and r.concurrency == 1), None)
    if c1 is not None and c1.ok:
        served = c1.cpu_ms_per_request("server")
        print(
            f"\n  riskscan server CPU per request at concurrency 1: {served:.2f} ms (BentoML process tree) vs "
            f"{inproc.plain_cpu_ms:.2f} ms for ScanRuntime.score in-process: about "
            f"{served - inproc.plain_cpu_ms:.2f} ms of CPU per request is HTTP, the gate, BentoML and JSON"
        )


if __name__ == "__main__":
    main()
