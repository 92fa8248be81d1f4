"""Benchmark of batch scoring: ``score_batch`` on a fresh caseload against bare LightGBM. Prints figures;
asserts nothing.

Generates ``--rows`` fresh VW applications (January-March 2025, after the training data), scores them with
the home's champion through :func:`serving.batch.score_batch` (validate the whole table, route, score,
select signals up to capacity, random-control draws, explain the selected cases, append every case to the
hash-chained decision log, write the output) and prints the total and the per-step times.

Then, on the same scored rows, the bare baseline: ``model.encode(frame, validate=False)``,
``booster.predict(raw_score=True)`` and ``booster.predict(pred_contrib=True)`` on every row. The two do not
do the same work: score-batch explains only the selected cases (signals up to capacity plus the random
control sample) but validates and logs every row; the baseline explains every row and logs nothing. So two
ratios are printed: the total, and the comparable compute part (score + explain steps). Goal: ratio <= 1.25.

    python benchmarks/bench_batch.py                   # 1,000,000 rows, fresh temporary home
    python benchmarks/bench_batch.py --rows 200000 --home var
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from _profile import print_lines, profiled, stats_lines, table
from _setup import (
    FRESH_MONTHS,
    ScoringJob,
    bench_home,
    bench_parser,
    generated_applications,
    machine_load,
    scoring_job,
    timed,
)

if TYPE_CHECKING:
    import pandas as pd

    from serving.batch import BatchResult

SCAN = "vw"
GOAL_RATIO = 1.25


def main() -> None:
    args = parse_arguments()
    with bench_home(args) as home:
        job = scoring_job(SCAN, home.path, "bench-batch-")
        frame = caseload(args)
        result, wall = timed(lambda: job.score_batch(frame, "scores"))
        print_score_batch(result, wall)
        bare = bare_lightgbm(job, frame)
        print_ratios(result, bare)
        explain_apart(job, result, bare)
        if args.profile_rows > 0:
            profile_score_batch(job, frame.iloc[: args.profile_rows])
        job.store.close()
        print(f"\nmachine after the measurements: {machine_load()}")


def parse_arguments() -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="applications to score (default 1,000,000)"
    )
    parser.add_argument(
        "--start", default=FRESH_MONTHS[0], help="first month of the caseload (default %(default)s)"
    )
    parser.add_argument(
        "--end", default=FRESH_MONTHS[1], help="last month of the caseload (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=2025_01)
    parser.add_argument(
        "--profile-rows", type=int, default=50_000, help="cProfile score_batch on this many rows (0: skip)"
    )
    return parser.parse_args()


@dataclass(frozen=True)
class Bare:
    """Bare LightGBM on the scored rows: the encoded rows and the time of each call."""

    cases: pd.DataFrame
    encoded: np.ndarray
    encode_s: float
    predict_s: float
    contrib_s: float

    @property
    def total(self) -> float:
        return self.encode_s + self.predict_s + self.contrib_s


def caseload(args: argparse.Namespace) -> pd.DataFrame:
    from features.register import default_register
    from models.specs import load_spec

    frame, seconds = generated_applications(args.rows, args.seed, (args.start, args.end))
    dates = frame[default_register().tables[load_spec(SCAN).table].time]
    print(
        f"caseload: {len(frame):,} applications generated in {seconds:.1f} s, dated {dates.min():%Y-%m-%d} to "
        f"{dates.max():%Y-%m-%d} (the generator takes 2024's volumes for months after 2024)"
    )
    return frame


def print_score_batch(result: BatchResult, wall: float) -> None:
    steps = result.seconds
    total = sum(steps.values())
    print(
        f"\nscore_batch: {result.rows:,} rows, {result.scored:,} scored, {result.routed:,} routed; "
        f"{result.signals:,} selected ({result.controls:,} random control, "
        f"{result.capped_by_capacity:,} above threshold left out by capacity)"
    )
    print(f"  total {wall:.2f} s wall ({total:.2f} s in steps), {result.scored / wall:,.0f} rows/s")
    for name, seconds in steps.items():
        print(f"  {name:<9} {seconds:7.2f} s  {seconds / total:6.1%}")
    print(
        f"  explain per selected case: {steps.get('explain', 0) / max(result.signals, 1) * 1e6:.0f} us; "
        f"log per row: {steps.get('log', 0) / result.scored * 1e6:.1f} us"
    )


def bare_lightgbm(job: ScoringJob, frame: pd.DataFrame) -> Bare:
    """The baseline on the same scored rows: encode, predict raw scores, pred_contrib on every row."""
    from features.pipeline import route

    cases = route(frame, SCAN).scored
    booster = job.model.booster
    encoded, encode_s = timed(lambda: job.model.encode(cases, validate=False))
    _, predict_s = timed(lambda: booster.predict(encoded, raw_score=True))
    _, contrib_s = timed(lambda: booster.predict(encoded, pred_contrib=True))
    bare = Bare(cases, encoded, encode_s, predict_s, contrib_s)
    print(f"\nbare LightGBM on the same {len(cases):,} scored rows (every row explained):")
    print(f"  encode (model.encode, validate=False) {encode_s:7.2f} s")
    print(f"  predict raw_score                     {predict_s:7.2f} s")
    print(f"  predict pred_contrib (all rows)       {contrib_s:7.2f} s")
    print(
        f"  bare total                            {bare.total:7.2f} s  ({len(cases) / bare.total:,.0f} rows/s)"
    )
    return bare


def _verdict(ratio: float) -> str:
    return "MET" if ratio <= GOAL_RATIO else "NOT MET"


def print_ratios(result: BatchResult, bare: Bare) -> None:
    steps = result.seconds
    total = sum(steps.values())
    compute = steps.get("score", 0.0) + steps.get("explain", 0.0)
    ratio_total, ratio_compute = total / bare.total, compute / bare.total
    print("\nratios (score_batch / bare; goal <= 1.25):")
    print(f"  total (validate+score+explain+log+write) / bare: {ratio_total:.2f} -> {_verdict(ratio_total)}")
    print(
        f"  comparable compute (score+explain) / bare:        {ratio_compute:.2f} -> {_verdict(ratio_compute)}"
    )
    print(
        f"  score step / (encode + predict raw_score):        "
        f"{steps.get('score', 0.0) / (bare.encode_s + bare.predict_s):.2f}"
    )
    print(
        f"  note: score-batch explains {result.signals:,} of {result.scored:,} rows "
        f"({result.signals / result.scored:.1%}); the bare baseline explains all of them"
    )


def explain_apart(job: ScoringJob, result: BatchResult, bare: Bare) -> None:
    """Where the explain step goes: TreeSHAP on as many rows as were selected vs the Python that lists them."""
    steps = result.seconds
    compute = steps.get("score", 0.0) + steps.get("explain", 0.0)
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(len(bare.cases), size=min(result.signals, len(bare.cases)), replace=False))
    _, shap_s = timed(lambda: job.model.explain(bare.encoded[rows]))
    listing = steps.get("explain", 0.0) - shap_s
    print(f"\nexplain step, apart ({len(rows):,} rows, as many as score-batch explained):")
    print(f"  pred_contrib on those rows:                        {shap_s:7.2f} s")
    print(
        f"  rest of the explain step (top-5 lists in Python): {listing:7.2f} s "
        f"({listing / max(len(rows), 1) * 1e6:.0f} us per case)"
    )
    same_work = bare.encode_s + bare.predict_s + shap_s
    print(
        f"  like for like: (score + explain) / (encode + predict all rows + pred_contrib on {len(rows):,} rows) = "
        f"{compute:.2f} / {same_work:.2f} s = {compute / same_work:.2f}"
    )


def profile_score_batch(job: ScoringJob, part: pd.DataFrame) -> None:
    profiler = profiled(lambda: job.score_batch(part, "profile"))
    print(f"\ncProfile of score_batch on {len(part):,} rows, top functions by own time (tottime):")
    print_lines(table(stats_lines(profiler, "tottime", 15)), "  ")
    print("  project functions by cumulative time:")
    print_lines(table(stats_lines(profiler, "cumulative", r"serving/|models/scorer", 14), header=False), "  ")


if __name__ == "__main__":
    main()
