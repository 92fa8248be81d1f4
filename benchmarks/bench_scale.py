"""Benchmark of the Dask scale-out: training and batch scoring on this machine (no Dask) and on a local
Dask cluster of 1, 2 and 4 one-thread workers, in the same run. Prints figures; asserts nothing.

Three measurements, each first without Dask and then on every cluster size:

* **training fit**: :func:`training.train.fit_scan_model` (pipeline, booster, calibration) on a VW table of
  ``--train-applications`` rows; the rest of ``train_scan`` (metrics, plots, MLflow) is the same local
  code either way and is not repeated here. The Dask fit trains all ``n_estimators`` rounds and applies
  early stopping afterwards (training/distributed.py), so it does more work than the local fit.
* **score step**: encode + predict + calibrate of ``--rows`` fresh cases, which is what moves to the
  cluster (:func:`serving.batch_dask.score_on_dask` against the same three lines run locally).
* **score_batch**: the whole job on ``--batch-rows`` cases (validation, selection, explanations and the
  decision log stay local), so the share that Dask cannot speed up is visible.

Each cluster is started and warmed up (every worker imports lightgbm, scikit-learn and the scan model's
modules once) before it is timed; the start-up is printed apart. Ratios are local time / Dask time
(above 1: Dask is faster). On a 2-core machine 4 workers share 2 cores, so they cannot be faster than 2.

    python benchmarks/bench_scale.py                          # fresh temporary home, moderate sizes
    python benchmarks/bench_scale.py --rows 1000000 --home var
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from _setup import add_home_arguments, machine_load, prepare_home, print_setup, timed

SCAN = "vw"
WORKERS = (1, 2, 4)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_home_arguments(parser)
    parser.add_argument(
        "--train-applications",
        type=int,
        default=400_000,
        help="rows of the generated VW table to train on (default 400,000)",
    )
    parser.add_argument(
        "--rows", type=int, default=500_000, help="cases for the score step (default 500,000)"
    )
    parser.add_argument(
        "--batch-rows", type=int, default=50_000, help="cases for the whole score_batch job (default 50,000)"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=list(WORKERS))
    parser.add_argument("--seed", type=int, default=2025_01)
    args = parser.parse_args()

    home = prepare_home(args)
    try:
        print_setup(home)
        run(args, home.path)
    finally:
        home.cleanup(args.keep_home)


def _warm_up() -> None:
    """Run on every worker: import what unpickling a ScanModel and training need, once."""
    import lightgbm  # noqa: F401
    import sklearn.compose  # noqa: F401

    import serving.batch_dask  # noqa: F401


def run(args: argparse.Namespace, home: Path) -> None:
    from distributed import Client, LocalCluster

    from features.pipeline import route
    from features.register import default_register
    from models.governance import GovernanceStore
    from models.specs import load_spec
    from serving.batch import champion, score_batch
    from serving.batch_dask import score_on_dask
    from serving.store import ServingStore
    from synthetic import GeneratorConfig, generate_applications
    from training.train import fit_scan_model, temporal_split

    spec = load_spec(SCAN)
    register = default_register()
    (model, ref), load_seconds = timed(lambda: champion(SCAN, GovernanceStore()))
    print(f"champion: {ref.name} version {ref.version} (loaded in {load_seconds:.2f} s)")

    history, gen_seconds = timed(
        lambda: (
            generate_applications(
                GeneratorConfig(n_applications=args.train_applications, seed=args.seed)
            ).frame
        )
    )
    scored_history = route(history, SCAN, register).scored
    split = temporal_split(scored_history, spec, register.tables[spec.table].time)
    print(
        f"training table: {len(history):,} applications generated in {gen_seconds:.1f} s; labelled "
        f"train/validation = {len(split.train_labelled):,}/{len(split.validation_labelled):,} rows"
    )
    caseload = generate_applications(
        GeneratorConfig(start="2025-01", end="2025-03", n_applications=args.rows, seed=args.seed + 1)
    ).frame
    cases = route(caseload, SCAN, register).scored
    batch_frame = caseload.iloc[: args.batch_rows]
    print(
        f"caseload: {len(caseload):,} fresh applications (2025-01..03), {len(cases):,} scored; "
        f"score_batch on the first {len(batch_frame):,}"
    )

    store = ServingStore()
    out_dir = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=home))

    def fit(scheduler: str | None) -> tuple[Any, int]:
        return fit_scan_model(spec, split, ipw=True, dask_scheduler=scheduler)

    def score_step(scheduler: str | None) -> np.ndarray:
        if scheduler is None:
            encoded = model.encode(cases, validate=False)
            return model.calibration.apply(np.asarray(model.booster.predict(encoded, raw_score=True)))
        return score_on_dask(model, cases, scheduler)

    def whole_batch(scheduler: str | None, label: str) -> float:
        result = score_batch(
            spec,
            batch_frame,
            out_dir / f"{label}.parquet",
            model=model,
            ref=ref,
            store=store,
            progress=False,
            dask_scheduler=scheduler,
        )
        return sum(result.seconds.values())

    print(f"\nmachine before the measurements: {machine_load()}")
    rows: list[tuple[str, float, float, float, str]] = []
    (local_model, local_rounds), fit_local = timed(lambda: fit(None))
    local_scores, score_local = timed(lambda: score_step(None))
    batch_local = whole_batch(None, "local")
    test = split.test
    local_test = local_model.predict_proba(test, validate=False)
    rows.append(("local (no Dask)", fit_local, score_local, batch_local, f"{local_rounds} trees"))
    print(f"local: fit {fit_local:.2f} s, score step {score_local:.2f} s, score_batch {batch_local:.2f} s")

    for k in args.workers:
        start = time.perf_counter()
        with LocalCluster(
            n_workers=k, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster:
            with Client(cluster.scheduler_address, set_as_default=False) as client:
                client.run(_warm_up)
            startup = time.perf_counter() - start
            address = cluster.scheduler_address
            (dask_model, rounds), fit_s = timed(partial(fit, address))
            scores, score_s = timed(partial(score_step, address))
            batch_s = whole_batch(address, f"dask-{k}")
        dask_test = dask_model.predict_proba(test, validate=False)
        note = (
            f"{rounds} trees; test scores vs local: mean |diff| {np.mean(np.abs(dask_test - local_test)):.4f}, "
            f"max {np.max(np.abs(dask_test - local_test)):.4f}; batch scores max |diff| "
            f"{np.max(np.abs(scores - local_scores)):.1e}"
        )
        rows.append((f"Dask, {k} worker{'s' if k > 1 else ''}", fit_s, score_s, batch_s, note))
        print(
            f"{k} worker(s): cluster start + warm-up {startup:.1f} s; fit {fit_s:.2f} s, "
            f"score step {score_s:.2f} s, score_batch {batch_s:.2f} s"
        )
    store.close()

    print(
        f"\n{'engine':<17} {'fit s':>7} {'ratio':>6}  {'score s':>7} {'ratio':>6}  {'batch s':>7} {'ratio':>6}  notes"
    )
    for name, fit_s, score_s, batch_s, note in rows:
        print(
            f"{name:<17} {fit_s:7.2f} {fit_local / fit_s:6.2f}  {score_s:7.2f} {score_local / score_s:6.2f}  "
            f"{batch_s:7.2f} {batch_local / batch_s:6.2f}  {note}"
        )
    print(
        f"  fit: {len(split.train_labelled):,} labelled training rows; score step: {len(cases):,} cases; "
        f"score_batch: {len(batch_frame):,} cases, decision log included. ratio = local / this (above 1: faster)."
    )
    print(f"\nmachine after the measurements: {machine_load()}")


if __name__ == "__main__":
    main()
