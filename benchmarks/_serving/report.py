"""What bench_serving prints about the load runs: progress lines, the results table, ratios and the final line.

The goals (issue 14), both measured side by side in one run: governance (riskscan) at least
``GOAL_THROUGHPUT`` times the bare service's throughput, with a p99 at most ``GOAL_P99`` times its p99,
at concurrency 8; and no dropped connection at any level (overload is a 503). Printed, never asserted.
"""

from __future__ import annotations

import os

from _serving.load import LoadResult

GOAL_THROUGHPUT = 0.8
GOAL_P99 = 1.5
NAMES = ("floor", "bare", "riskscan", "mlflow", "rs-threads0")


def progress_line(r: LoadResult) -> str:
    return (
        f"  {r.server:<11} c={r.concurrency:<3} {r.rps:7.1f} req/s, p50 {r.percentile('p50'):7.2f} ms, "
        f"p99 {r.percentile('p99'):7.2f} ms; {r.status_text()}"
    )


def print_results(results: list[LoadResult]) -> None:
    print(
        f"\n{'server':<11} {'conc':>4} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'server ms/req':>14} {'wrk ms/req':>11}  statuses and socket errors"
    )
    for r in sorted(results, key=lambda r: (r.concurrency, NAMES.index(r.server))):
        print(
            f"{r.server:<11} {r.concurrency:>4} {r.requests:>9,} {r.rps:>8.1f} {r.percentile('p50'):>8.2f} "
            f"{r.percentile('p99'):>8.2f} {r.percentile('max'):>8.1f} {r.cpu_ms_per_request('server'):>14.2f} "
            f"{r.cpu_ms_per_request('client'):>11.3f}  {r.status_text()}"
        )
    print(
        "  (req/s counts 200 answers; CPU per request over all requests: the server's process tree and wrk's, "
        f"user + system; floor = bare's /noop; the machine has {os.cpu_count()} cores, shared by all of them)"
    )
    dropped = [r for r in results if r.dropped]
    if dropped:
        print(
            "dropped connections: " + "; ".join(f"{r.server} c={r.concurrency}: {r.dropped}" for r in dropped)
        )
    else:
        print("dropped connections: none at any level (every request was answered with an HTTP status)")


def print_ratios(results: list[LoadResult], levels: list[int]) -> None:
    """riskscan over bare (governance's cost), bare over the floor, MLflow over bare, at every level."""
    by = {(r.server, r.concurrency): r for r in results}
    print(
        f"\n{'conc':>4} {'riskscan/bare req/s':>20} {'p99':>7} {'bare/floor req/s':>17} {'p99':>7} "
        f"{'mlflow/bare req/s':>18} {'p99':>7}"
    )
    for level in levels:
        cells = []
        for a, b in (("riskscan", "bare"), ("bare", "floor"), ("mlflow", "bare")):
            x, y = by.get((a, level)), by.get((b, level))
            if x and y and x.ok and y.ok:
                cells.append(f"{x.rps / y.rps:.2f}x {x.percentile('p99') / y.percentile('p99'):.2f}x")
            else:
                cells.append("n/a n/a")
        widths = (20, 17, 18)
        print(
            f"{level:>4} "
            + " ".join(f"{c.split()[0]:>{w}} {c.split()[1]:>7}" for c, w in zip(cells, widths, strict=True))
        )
    for t in (r for r in results if r.server == "rs-threads0"):
        one = by.get(("riskscan", t.concurrency))
        if one and one.ok and t.ok:
            print(
                f"LightGBM threads at c={t.concurrency}: riskscan num_threads=1 (default) {one.rps:.1f} req/s, "
                f"p99 {one.percentile('p99'):.2f} ms, {one.cpu_ms_per_request('server'):.2f} ms CPU/req; "
                f"LightGBM's default threads {t.rps:.1f} req/s, p99 {t.percentile('p99'):.2f} ms, "
                f"{t.cpu_ms_per_request('server'):.2f} ms CPU/req"
            )


def print_final(results: list[LoadResult], level: int) -> None:
    """The goal lines and, last, ``online ratio at c=8: throughput X.XX, p99 Y.YY`` (riskscan over bare)."""
    by = {(r.server, r.concurrency): r for r in results}
    rs, bare = by.get(("riskscan", level)), by.get(("bare", level))
    if rs is None or bare is None or not rs.ok or not bare.ok:
        print(f"online ratio at c={level}: not measured")
        return
    throughput, p99 = rs.rps / bare.rps, rs.percentile("p99") / bare.percentile("p99")
    print(
        f"goal: throughput >= {GOAL_THROUGHPUT:g}x bare at c={level}: {throughput:.2f}x -> "
        f"{'MET' if throughput >= GOAL_THROUGHPUT else 'NOT MET'}; p99 <= {GOAL_P99:g}x bare: {p99:.2f}x -> "
        f"{'MET' if p99 <= GOAL_P99 else 'NOT MET'}"
    )
    print(f"online ratio at c={level}: throughput {throughput:.2f}, p99 {p99:.2f}")
