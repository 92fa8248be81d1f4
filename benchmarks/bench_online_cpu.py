"""Server CPU per ``POST /score`` request, measured in this process: riskscan's service against the bare
alternative, side by side. Prints figures; asserts nothing.

wrk's requests/s on a shared 2-core machine move with whatever else runs there; the CPU a request costs
the server does not, much. Both BentoML services (``serving.service.RiskScan`` and
``_serving/bare_service.py``'s ``Bare``, with its ``/noop`` as the floor) are built as ASGI apps in this
process and called directly (``_serving/asgi.py``: the same ASGI messages uvicorn would send, without
sockets), with the same real VW cases as ``bench_serving.py``. Printed:

* per target and concurrency: ``time.process_time`` (every thread of this process) per request over
  ``--requests`` requests, ``--rounds`` times with the targets interleaved, and the ratio riskscan / bare
  of the medians, which bounds the throughput ratio when the server's CPU is the limit;
* riskscan's requests at concurrency 1 again with a CPU timer (``time.thread_time`` of the thread that
  runs it) around each part: the token check, the gate's body validation, ``ScanRuntime.score`` and its
  steps (the decision-log append split into encode and the chained INSERT + COMMIT), the answer's JSON;
  the rest is BentoML, Starlette, the gate's plumbing and the thread hand-offs;
* with ``--profile``: cProfile (own time) of the event-loop thread for both services.

    python benchmarks/bench_online_cpu.py --home var --requests 2000
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, cast

import bentoml
from _profile import print_lines, stats_lines, table
from _serving import SCAN
from _serving.asgi import post_all, running
from _serving.breakdown import StepTimer
from _serving.cases import load_cases, riskscan_body
from _serving.plain_model import export_plain
from _setup import bench_home, bench_parser, machine_load
from bench_serving import champion_version, create_token

SERVING_DIR = Path(__file__).resolve().parent / "_serving"


def main() -> None:
    args = parse_arguments()
    with bench_home(args) as home:
        work = Path(tempfile.mkdtemp(prefix="bench-online-cpu-", dir=home.path))
        token = create_token(home.path, work)
        version = champion_version(home.path)
        cases = load_cases(home.path, args.cases)
        bodies = [riskscan_body(case, args.top_n) for case in cases]
        apps = build_apps(version, work)
        print(
            f"champion version {version}; {len(cases):,} distinct VW cases; {args.requests:,} requests a run"
        )
        asyncio.run(measure(apps, bodies, token, args))
        print(f"machine load: {machine_load()}")


def parse_arguments() -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="requests per run (default 2000)")
    parser.add_argument("--concurrency", default="1,8", help="comma-separated levels (default 1,8)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs per target (default 3)")
    parser.add_argument("--cases", type=int, default=2000, help="distinct cases to cycle through")
    parser.add_argument("--top-n", type=int, default=5, help="explanation entries per case")
    parser.add_argument("--profile", action="store_true", help="cProfile the event-loop thread too")
    return parser.parse_args()


def build_apps(version: str, work: Path) -> dict[str, Any]:
    """Both services as ASGI apps; the bare one reads the champion exported as plain files."""
    import os

    from models import registry

    plain = export_plain(registry.load_scan_model(SCAN, version), work / "plain")
    os.environ["BENCH_PLAIN_MODEL"] = str(plain)
    sys.path.insert(0, str(SERVING_DIR))  # bare_service imports plain_model as a top-level module
    from bare_service import Bare

    from serving.service import RiskScan

    services = {"riskscan": RiskScan, "bare": Bare}
    return {name: cast("bentoml.Service[Any]", service).to_asgi() for name, service in services.items()}


async def measure(apps: dict[str, Any], bodies: list[bytes], token: str, args: argparse.Namespace) -> None:
    auth = ((b"authorization", f"Bearer {token}".encode()),)
    runs = (
        ("floor", "bare", "/noop", ()),
        ("bare", "bare", "/score", ()),
        ("riskscan", "riskscan", "/score", auth),
    )
    async with running(apps["riskscan"]), running(apps["bare"]):
        for _, app, path, headers in runs:  # warm-up: caches, pydantic, SQLite pages, thread pools
            await _check(await post_all(apps[app], path, bodies[:200], 200, 1, headers), path)
        levels = [int(level) for level in args.concurrency.split(",")]
        rounds: dict[tuple[str, int], list[float]] = defaultdict(list)
        for level in levels:
            for _ in range(args.rounds):  # interleaved, so a burst of other work hits every target alike
                for name, app, path, headers in runs:
                    cpu = time.process_time()
                    statuses = await post_all(apps[app], path, bodies, args.requests, level, headers)
                    rounds[name, level].append((time.process_time() - cpu) / args.requests * 1000)
                    await _check(statuses, path)
        print(f"\n{'target':<10} {'conc':>4} {'median CPU ms/request':>22}  rounds")
        per_request = {key: statistics.median(values) for key, values in rounds.items()}
        for (name, level), values in rounds.items():
            each = " ".join(f"{value:.3f}" for value in values)
            print(f"{name:<10} {level:>4} {per_request[name, level]:>22.3f}  {each}")
        for level in levels:
            rs, bare = per_request["riskscan", level], per_request["bare", level]
            print(
                f"c={level}: riskscan {rs:.3f} ms, bare {bare:.3f} ms, floor {per_request['floor', level]:.3f} ms "
                f"of CPU a request (medians); riskscan/bare {rs / bare:.2f}x CPU, so at most {bare / rs:.2f}x "
                "the throughput of bare when the server's CPU is the limit"
            )
        await parts(apps["riskscan"], apps["bare"], bodies, auth, args.requests)
        if args.profile:
            await profile("riskscan", apps["riskscan"], bodies, auth, args.requests)
            await profile("bare", apps["bare"], bodies, (), args.requests)


async def _check(statuses: list[int], path: str) -> None:
    wrong = [status for status in statuses if status != 200]
    if wrong:
        raise SystemExit(f"{len(wrong)} requests to {path} were not answered 200 (first: {wrong[0]})")


#: (owner path, attribute, part); parts indented under a part are inside it (inclusive timers).
RISKSCAN_PARTS = (
    ("serving.auth:Authenticator", "require_cached", "token check (Authenticator.require_cached, gate)"),
    ("serving.gate", "validate_body", "gate: body validation (json + pydantic)"),
    ("serving.runtime:ScanRuntime", "score", "ScanRuntime.score"),
    ("serving.runtime:ScanRuntime", "_validate", "  case validation again (if the gate's model differs)"),
    ("serving.runtime", "score_records", "  score_records"),
    ("serving.scoring", "explanation_entries", "    explanation (Dutch labels)"),
    ("serving.runtime:ScanRuntime", "_log_entry", "  LogEntry build"),
    ("serving.store:ServingStore", "append_request_ids", "  decision-log append"),
    ("serving.log._encode", "entry_columns", "    check rows"),
    ("serving.log._encode", "encode", "    encode (canonical JSON)"),
    ("serving.log._chain:DecisionLog", "_chain", "    chain: lock, hash, INSERT, COMMIT"),
    ("serving.runtime", "result_json", "  result JSON build"),
    ("serving.service", "_json", "answer: JSON encoding + Response"),
)
BARE_PARTS = (("plain_model:PlainModel", "score", "PlainModel.score"),)


def _owner(path: str) -> Any:
    import importlib

    module_name, _, class_name = path.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name) if class_name else module


async def parts(rs_app: Any, bare_app: Any, bodies: list[bytes], auth: Any, n: int) -> None:
    """Each part's CPU per request at concurrency 1 (timers on), against the whole request's."""
    for name, app, path, headers, wanted in (
        ("riskscan", rs_app, "/score", auth, RISKSCAN_PARTS),
        ("bare", bare_app, "/score", (), BARE_PARTS),
    ):
        timer = StepTimer(clock=time.thread_time)  # the CPU of the thread that runs each part
        for owner, attribute, part in wanted:
            timer.wrap(_owner(owner), attribute, part)
        try:
            cpu = time.process_time()
            await _check(await post_all(app, path, bodies, n, 1, headers), path)
            total = (time.process_time() - cpu) / n * 1000
        finally:
            timer.restore()
        print(f"\n{name}, concurrency 1, CPU timers on: {total:.3f} ms a request")
        top = 0.0
        for _, _, part in wanted:
            ms = sum(timer.seconds[part]) / n * 1000
            top += ms if not part.startswith(" ") else 0.0
            print(f"  {part:<55} {ms:>7.3f} ms")
        print(f"  {'rest: BentoML, Starlette, gate plumbing, thread hops':<55} {total - top:>7.3f} ms")


async def profile(name: str, app: Any, bodies: list[bytes], headers: Any, n: int) -> None:
    """cProfile of the event-loop thread (the work in BentoML's worker thread shows as waiting)."""
    profiler = cProfile.Profile()
    profiler.enable()
    await post_all(app, "/score", bodies, n, 1, headers)
    profiler.disable()
    print(f"\ncProfile of {name}'s event-loop thread, {n} requests, by own time:")
    print_lines(table(stats_lines(profiler, "tottime", 25)), "   ")


if __name__ == "__main__":
    main()
