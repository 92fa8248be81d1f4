"""Benchmark of the enforcement worklist page at a full decision log: page 1 of ``/ui/worklist`` against a
``/score`` call, side by side in one run. Prints figures; asserts nothing.

The decision log is filled to ``--logged`` cases (default 100,000) the fast way, as ``riskscan
score-batch`` does (generated VW applications scored by the champion, appended in batches), in a copy of
the home's governance database in a temporary folder, so the home itself is never written to. Then
``riskscan serve`` runs on that copy, enforcement staff sign in on the login page, and the benchmark sends,
one request at a time and alternating so that the machine's load falls on both alike:

* ``GET /ui/worklist?scan=vw`` (page 1 of the open list), and
* ``POST /score`` with one real VW case (top 5 explanation entries), as the case-management system.

Printed: the log's size and the open list's total; page 1's size in KB; for each kind the time to first
byte (the server's time plus a loopback round trip) and the time to the last byte, median and p90; the
server's CPU per request of each kind (from blocks of one kind); the ratio of page 1's median time to first
byte over ``/score``'s (goal: <= 2); and the load average before and after. Also page 1 of the other
statuses and the last page of the open list, for their sizes and times.

    python benchmarks/bench_web.py                      # fresh temporary home, demo set-up
    python benchmarks/bench_web.py --home /tmp/home --requests 100
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _serving.cases import load_cases, riskscan_body, write_bodies
from _serving.targets import Server, riskscan_target
from _setup import (
    FRESH_MONTHS,
    bench_env,
    bench_home,
    bench_parser,
    generated_applications,
    machine_load,
    scoring_job,
)

SCAN = "vw"
BLOCK = 10  # requests of one kind in a row, for the server's CPU per request


def main() -> None:
    args = parse_arguments()
    with bench_home(args) as home:
        work = Path(tempfile.mkdtemp(prefix="bench-web-", dir=home.path))
        url = copy_database(home.path, work)
        logged = fill_log(url, args.logged, args.seed)
        print(f"decision log: {logged:,} logged cases ({url})")
        measure(home.path, work, url, args)


def parse_arguments() -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument(
        "--logged", type=int, default=100_000, help="cases in the decision log (default 100,000)"
    )
    parser.add_argument("--requests", type=int, default=60, help="requests of each kind (default 60)")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured requests of each kind first")
    parser.add_argument("--seed", type=int, default=14, help="seed of the generated applications")
    return parser.parse_args()


def copy_database(home: Path, work: Path) -> str:
    """A consistent copy of the home's governance database (SQLite's backup, WAL included) in ``work``."""
    source, target = home / "governance.db", work / "governance.db"
    if not source.exists():
        raise SystemExit(f"no governance database in {home}: the benchmark needs a home with champions")
    with sqlite3.connect(source) as original, sqlite3.connect(target) as copy:
        original.backup(copy)
    return f"sqlite:///{target}"


def count_logged(url: str) -> int:
    from sqlalchemy import func, select

    from serving.log import LOG
    from serving.store import ServingStore

    with ServingStore(url) as store, store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(LOG)).scalar_one())


def fill_log(url: str, target: int, seed: int) -> int:
    """Score generated applications with the batch job until the log holds ``target`` cases (Wajong cases
    are routed away unscored, so a round may log fewer than it generated)."""
    os.environ["RISKSCAN_DATABASE_URL"] = url  # the in-process stores, score_batch's included
    logged = count_logged(url)
    print(f"decision log before filling: {logged:,} cases")
    if logged >= target:
        return logged
    job = scoring_job(SCAN, Path(url.removeprefix("sqlite:///")).parent, "bench-web-out-")
    for round_ in range(5):
        missing = target - logged
        if missing <= 0:
            break
        frame, generating = generated_applications(int(missing * 1.03) + 10, seed + round_, FRESH_MONTHS)
        frame = frame.head(missing) if len(frame) > missing else frame
        start = time.perf_counter()
        job.score_batch(frame, f"fill-{round_}")
        scoring = time.perf_counter() - start
        logged = count_logged(url)
        print(
            f"  filled: {len(frame):,} applications generated in {generating:.1f} s, scored and logged by "
            f"score_batch in {scoring:.1f} s; the log now holds {logged:,}"
        )
    return logged


@dataclass
class Timings:
    """One kind of request: time to first byte and to the last byte (seconds), and the body sizes."""

    first_byte: list[float] = field(default_factory=list)
    last_byte: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    cpu_per_request: list[float] = field(default_factory=list)

    def add(self, first: float, last: float, size: int) -> None:
        self.first_byte.append(first)
        self.last_byte.append(last)
        self.sizes.append(size)


def timed_request(client: httpx.Client, method: str, url: str, **kwargs: Any) -> tuple[float, float, bytes]:
    """Time to the response's first byte (its status line and headers) and to its last byte, and the body."""
    start = time.perf_counter()
    with client.stream(method, url, **kwargs) as response:
        first = time.perf_counter() - start
        body = response.read()
        last = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"{method} {url}: {response.status_code} {body[:300]!r}")
    return first, last, body


def sign_in(client: httpx.Client, token: str) -> None:
    """Log in on the login page as a browser does (the form's CSRF token, then the session cookie)."""
    form = client.get("/ui/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    if csrf is None:
        raise RuntimeError("the login page has no CSRF token")
    answer = client.post("/ui/login", data={"token": token, "csrf": csrf[1], "next": "/ui/worklist?scan=vw"})
    if answer.status_code != 303:
        raise RuntimeError(f"login refused: {answer.status_code} {answer.text[:300]}")


def tokens(url: str) -> dict[str, str]:
    from serving.store import ServingStore

    with ServingStore(url) as store:
        return {
            role: store.create_token(name=f"bench-web {role}", role=role)[0]
            for role in ("handhaving", "systeem")
        }


def measure(home: Path, work: Path, url: str, args: argparse.Namespace) -> None:
    made = tokens(url)
    cases = load_cases(home, 500)
    bodies = [riskscan_body(case, 5) for case in cases]
    env = {**bench_env(home), "RISKSCAN_DATABASE_URL": url}
    # The target names the bodies' file (what wrk reads); this script posts them itself with httpx.
    target = riskscan_target(
        "riskscan", env, work / "serve.log", write_bodies(work / "bodies.bin", bodies), {}
    )
    server = target.server
    base = target.score_url.removesuffix("/score")
    try:
        server.start()
        print(f"riskscan serve ready in {server.wait_ready():.1f} s ({base})")
        with (
            httpx.Client(base_url=base, timeout=120, follow_redirects=False) as staff,
            httpx.Client(
                base_url=base, timeout=120, headers={"Authorization": f"Bearer {made['systeem']}"}
            ) as system,
        ):
            sign_in(staff, made["handhaving"])
            run(staff, system, server, bodies, args)
    finally:
        server.stop()


def run(
    staff: httpx.Client, system: httpx.Client, server: Server, bodies: list[bytes], args: argparse.Namespace
) -> None:
    page_url = f"/ui/worklist?scan={SCAN}"
    score_headers = {"Content-Type": "application/json"}
    turn = iter(range(10**9))

    def page() -> tuple[float, float, bytes]:
        return timed_request(staff, "GET", page_url)

    def score() -> tuple[float, float, bytes]:
        return timed_request(
            system, "POST", "/score", content=bodies[next(turn) % len(bodies)], headers=score_headers
        )

    for _ in range(args.warmup):
        page(), score()
    print(f"machine before the measured requests: {machine_load()}")
    results = {"page 1": Timings(), "/score": Timings()}
    kinds: list[tuple[str, Callable[[], tuple[float, float, bytes]]]] = [("page 1", page), ("/score", score)]
    done = 0
    while done < args.requests:  # blocks of BLOCK of each kind, alternating
        block = min(BLOCK, args.requests - done)
        for name, call in kinds:
            cpu = server.cpu_seconds()
            for _ in range(block):
                results[name].add(*_sized(call()))
            results[name].cpu_per_request.append((server.cpu_seconds() - cpu) / block)
        done += block
    print(f"machine after the measured requests: {machine_load()}")

    first_page = page()[2].decode()
    total = re.search(r'<p id="total">(\d+) ', first_page)
    pages = re.search(r"Pagina 1 van (\d+)", first_page)
    print(f"open list: {total[1] if total else '?'} cases on {pages[1] if pages else '?'} pages")
    print(f"{'request':<34}{'KB':>8}{'first byte p50':>16}{'p90':>9}{'last byte p50':>15}{'server CPU':>12}")
    for name, timings in results.items():
        _row(name, timings)
    others = [f"/ui/worklist?scan={SCAN}&status=afgehandeld", f"/ui/worklist?scan={SCAN}&status=stopgezet"]
    if pages and int(pages[1]) > 1:
        others.append(f"/ui/worklist?scan={SCAN}&page={pages[1]}")
    for other in others:
        timings = Timings()
        for _ in range(max(5, args.requests // 6)):
            timings.add(*_sized(timed_request(staff, "GET", other)))
        _row(other.removeprefix("/ui/worklist?"), timings)
    ratio = statistics.median(results["page 1"].first_byte) / statistics.median(results["/score"].first_byte)
    print(f"page 1 size: {results['page 1'].sizes[-1] / 1024:.1f} KB (goal: under 200 KB)")
    print(f"worklist page 1 over /score, median time to first byte: {ratio:.2f} (goal: <= 2.00)")


def _sized(measured: tuple[float, float, bytes]) -> tuple[float, float, int]:
    first, last, body = measured
    return first, last, len(body)


def _row(name: str, timings: Timings) -> None:
    first = sorted(timings.first_byte)
    cpu = f"{statistics.mean(timings.cpu_per_request) * 1000:.1f} ms" if timings.cpu_per_request else "-"
    print(
        f"{name:<34}{statistics.median(timings.sizes) / 1024:>8.1f}"
        f"{statistics.median(first) * 1000:>13.1f} ms{first[int(0.9 * (len(first) - 1))] * 1000:>6.1f} ms"
        f"{statistics.median(timings.last_byte) * 1000:>12.1f} ms{cpu:>12}"
    )


if __name__ == "__main__":
    main()
