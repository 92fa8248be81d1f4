"""What bench_serving prints about the load runs: progress lines, the results table, ratios and goals.

The goals (issue 14 will replace them by ratios against a bare service): riskscan, with explanations and
the decision log, at least ``GOAL_THROUGHPUT_RATIO`` times MLflow's throughput, and its p99 at most
``GOAL_P99_MS``, both at concurrency ``GOAL_CONCURRENCY``.
"""

from __future__ import annotations

import itertools
import os

from _serving.load import LoadResult

GOAL_THROUGHPUT_RATIO = 5.0
GOAL_P99_MS = 25.0
GOAL_CONCURRENCY = 8

Results = dict[tuple[str, int], LoadResult]


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


def evaluate(results: list[LoadResult], levels: list[int]) -> None:
    """The ratios riskscan / MLflow per level, then the goals at ``GOAL_CONCURRENCY``."""
    by = {(r.server, r.concurrency): r for r in results}
    print_ratios(by, levels)
    a, b = by.get(("riskscan", GOAL_CONCURRENCY)), by.get(("mlflow", GOAL_CONCURRENCY))
    if a is None or b is None or not b.rps:
        print(f"goals: not evaluated (concurrency {GOAL_CONCURRENCY} was not measured)")
        return
    print_goals(a, b, by.get(("rs-omp1", GOAL_CONCURRENCY)))


def print_ratios(by: Results, levels: list[int]) -> None:
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


def print_goals(a: LoadResult, b: LoadResult, what_if: LoadResult | None) -> None:
    """``a`` is riskscan, ``b`` MLflow and ``what_if`` riskscan with OMP_NUM_THREADS=1, at the goal's level."""
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
    if what_if is not None and what_if.ok:
        print(
            f"what-if (riskscan with OMP_NUM_THREADS=1, MLflow unchanged) at concurrency {GOAL_CONCURRENCY}: "
            f"{what_if.rps / b.rps:.2f}x MLflow's throughput, p99 {what_if.percentile(99):.2f} ms"
        )
