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
import cProfile
import io
import pstats
import tempfile
from pathlib import Path

import numpy as np
from _setup import ROOT, VENV_BIN, add_home_arguments, machine_load, prepare_home, print_setup, timed

SCAN = "vw"
GOAL_RATIO = 1.25


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_home_arguments(parser)
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="applications to score (default 1,000,000)"
    )
    parser.add_argument(
        "--start", default="2025-01", help="first month of the caseload (default %(default)s)"
    )
    parser.add_argument("--end", default="2025-03", help="last month of the caseload (default %(default)s)")
    parser.add_argument("--seed", type=int, default=2025_01)
    parser.add_argument(
        "--profile-rows", type=int, default=50_000, help="cProfile score_batch on this many rows (0: skip)"
    )
    args = parser.parse_args()

    home = prepare_home(args)
    try:
        print_setup(home)
        run(args, home.path)
    finally:
        home.cleanup(args.keep_home)


def run(args: argparse.Namespace, home: Path) -> None:
    from features.pipeline import route
    from features.register import default_register
    from models.governance import GovernanceStore
    from models.specs import load_spec
    from serving.batch import champion, score_batch
    from serving.store import ServingStore
    from synthetic import GeneratorConfig, generate_applications

    spec = load_spec(SCAN)
    register = default_register()
    table = register.tables[spec.table]
    (model, ref), load_seconds = timed(lambda: champion(SCAN, GovernanceStore()))
    print(f"champion: {ref.name} version {ref.version} (loaded in {load_seconds:.2f} s)")

    config = GeneratorConfig(start=args.start, end=args.end, n_applications=args.rows, seed=args.seed)
    generated, gen_seconds = timed(lambda: generate_applications(config))
    frame = generated.frame
    dates = frame[table.time]
    print(
        f"caseload: {len(frame):,} applications generated in {gen_seconds:.1f} s, dated {dates.min():%Y-%m-%d} to "
        f"{dates.max():%Y-%m-%d} (the generator takes 2024's volumes for months after 2024)"
    )

    store = ServingStore()
    out_dir = Path(tempfile.mkdtemp(prefix="bench-batch-", dir=home))
    result, wall = timed(
        lambda: score_batch(
            spec, frame, out_dir / "scores.parquet", model=model, ref=ref, store=store, progress=False
        )
    )
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
    explained = result.signals
    print(
        f"  explain per selected case: {steps.get('explain', 0) / max(explained, 1) * 1e6:.0f} us; "
        f"log per row: {steps.get('log', 0) / result.scored * 1e6:.1f} us"
    )

    # Bare LightGBM on the same scored rows.
    cases = route(frame, SCAN, register).scored
    encoded, encode_s = timed(lambda: model.encode(cases, validate=False))
    _, predict_s = timed(lambda: model.booster.predict(encoded, raw_score=True))
    _, contrib_s = timed(lambda: model.booster.predict(encoded, pred_contrib=True))
    bare = encode_s + predict_s + contrib_s
    print(f"\nbare LightGBM on the same {len(cases):,} scored rows (every row explained):")
    print(f"  encode (model.encode, validate=False) {encode_s:7.2f} s")
    print(f"  predict raw_score                     {predict_s:7.2f} s")
    print(f"  predict pred_contrib (all rows)       {contrib_s:7.2f} s")
    print(f"  bare total                            {bare:7.2f} s  ({len(cases) / bare:,.0f} rows/s)")

    compute = steps.get("score", 0.0) + steps.get("explain", 0.0)
    ratio_total, ratio_compute = total / bare, compute / bare
    print("\nratios (score_batch / bare; goal <= 1.25):")
    print(
        f"  total (validate+score+explain+log+write) / bare: {ratio_total:.2f} -> "
        f"{'MET' if ratio_total <= GOAL_RATIO else 'NOT MET'}"
    )
    print(
        f"  comparable compute (score+explain) / bare:        {ratio_compute:.2f} -> "
        f"{'MET' if ratio_compute <= GOAL_RATIO else 'NOT MET'}"
    )
    print(
        f"  score step / (encode + predict raw_score):        {steps.get('score', 0.0) / (encode_s + predict_s):.2f}"
    )
    print(
        f"  note: score-batch explains {explained:,} of {result.scored:,} rows "
        f"({explained / result.scored:.1%}); the bare baseline explains all of them"
    )

    # Where the explain step goes: TreeSHAP on as many rows as were selected vs the Python that lists them.
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(len(cases), size=min(explained, len(cases)), replace=False))
    _, shap_s = timed(lambda: model.explain(encoded[rows]))
    listing = steps.get("explain", 0.0) - shap_s
    print(f"\nexplain step, apart ({len(rows):,} rows, as many as score-batch explained):")
    print(f"  pred_contrib on those rows:                        {shap_s:7.2f} s")
    print(
        f"  rest of the explain step (top-5 lists in Python): {listing:7.2f} s "
        f"({listing / max(len(rows), 1) * 1e6:.0f} us per case)"
    )
    same_work = encode_s + predict_s + shap_s
    print(
        f"  like for like: (score + explain) / (encode + predict all rows + pred_contrib on {len(rows):,} rows) = "
        f"{compute:.2f} / {same_work:.2f} s = {compute / same_work:.2f}"
    )

    if args.profile_rows > 0:
        n = min(args.profile_rows, len(frame))
        part = frame.iloc[:n]
        profiler = cProfile.Profile()
        profiler.enable()
        score_batch(
            spec, part, out_dir / "profile.parquet", model=model, ref=ref, store=store, progress=False
        )
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        print(f"\ncProfile of score_batch on {n:,} rows, top functions by own time (tottime):")
        lines = out.getvalue().splitlines()
        first = next((i for i, line in enumerate(lines) if line.strip().startswith("ncalls")), 0)
        for line in lines[first:]:
            if line.strip():
                print("  " + line.replace(str(ROOT) + "/", "").replace(str(VENV_BIN.parent) + "/", "")[:150])
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(r"serving/|models/scorer", 14)
        print("  project functions by cumulative time:")
        lines = out.getvalue().splitlines()
        first = next((i for i, line in enumerate(lines) if line.strip().startswith("ncalls")), 0)
        for line in lines[first + 1 :]:
            if line.strip():
                print("  " + line.replace(str(ROOT) + "/", "").replace(str(VENV_BIN.parent) + "/", "")[:150])
    store.close()
    print(f"\nmachine after the measurements: {machine_load()}")


if __name__ == "__main__":
    main()
