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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
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

    from models.scorer import ScanModel
    from training.train import TemporalSplit

SCAN = "vw"
WORKERS = (1, 2, 4)


def main() -> None:
    args = parse_arguments()
    with bench_home(args) as home:
        bench = open_bench(args, home.path)
        print(f"\nmachine before the measurements: {machine_load()}")
        local = measure_local(bench)
        rows = [local.row] + [measure_dask(bench, k, local) for k in args.workers]
        bench.job.store.close()
        print_table(rows, bench)
        print(f"\nmachine after the measurements: {machine_load()}")


def parse_arguments() -> argparse.Namespace:
    parser = bench_parser(__doc__)
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
    return parser.parse_args()


def _warm_up() -> None:
    """Run on every worker: import what unpickling a ScanModel and training need, once."""
    import lightgbm  # noqa: F401
    import sklearn.compose  # noqa: F401

    import serving.batch_dask  # noqa: F401


@dataclass(frozen=True)
class Bench:
    """The three measurements, each run without Dask (``scheduler`` None) or on a cluster's scheduler."""

    job: ScoringJob
    split: TemporalSplit
    cases: pd.DataFrame
    batch_frame: pd.DataFrame

    def fit(self, scheduler: str | None) -> tuple[ScanModel, int]:
        from training.train import fit_scan_model

        return fit_scan_model(self.job.spec, self.split, ipw=True, dask_scheduler=scheduler)

    def score_step(self, scheduler: str | None) -> np.ndarray:
        from serving.batch_dask import score_on_dask

        model = self.job.model
        if scheduler is None:
            encoded = model.encode(self.cases, validate=False)
            return model.calibration.apply(np.asarray(model.booster.predict(encoded, raw_score=True)))
        return score_on_dask(model, self.cases, scheduler)

    def whole_batch(self, scheduler: str | None, label: str) -> float:
        return sum(self.job.score_batch(self.batch_frame, label, dask_scheduler=scheduler).seconds.values())


@dataclass(frozen=True)
class Row:
    engine: str
    fit_s: float
    score_s: float
    batch_s: float
    note: str


@dataclass(frozen=True)
class Local:
    """The local measurements, and the scores the Dask runs are compared with."""

    row: Row
    test_scores: np.ndarray
    step_scores: np.ndarray


def open_bench(args: argparse.Namespace, home: Path) -> Bench:
    """The champion, the training split and the caseload, each described in a line."""
    from features.pipeline import route
    from features.register import default_register
    from training.train import temporal_split

    job = scoring_job(SCAN, home, "bench-scale-")
    spec, register = job.spec, default_register()
    history, gen_seconds = generated_applications(args.train_applications, args.seed)
    scored_history = route(history, SCAN, register).scored
    split = temporal_split(scored_history, spec, register.tables[spec.table].time)
    print(
        f"training table: {len(history):,} applications generated in {gen_seconds:.1f} s; labelled "
        f"train/validation = {len(split.train_labelled):,}/{len(split.validation_labelled):,} rows"
    )
    caseload, _ = generated_applications(args.rows, args.seed + 1, FRESH_MONTHS)
    cases = route(caseload, SCAN, register).scored
    batch_frame = caseload.iloc[: args.batch_rows]
    print(
        f"caseload: {len(caseload):,} fresh applications (2025-01..03), {len(cases):,} scored; "
        f"score_batch on the first {len(batch_frame):,}"
    )
    return Bench(job, split, cases, batch_frame)


def measure_local(bench: Bench) -> Local:
    (model, rounds), fit_s = timed(lambda: bench.fit(None))
    scores, score_s = timed(lambda: bench.score_step(None))
    batch_s = bench.whole_batch(None, "local")
    test_scores = model.predict_proba(bench.split.test, validate=False)
    print(f"local: fit {fit_s:.2f} s, score step {score_s:.2f} s, score_batch {batch_s:.2f} s")
    return Local(Row("local (no Dask)", fit_s, score_s, batch_s, f"{rounds} trees"), test_scores, scores)


def measure_dask(bench: Bench, k: int, local: Local) -> Row:
    """The three measurements on a fresh local cluster of ``k`` one-thread workers, warmed up first."""
    from distributed import Client, LocalCluster

    start = time.perf_counter()
    with LocalCluster(n_workers=k, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster.scheduler_address, set_as_default=False) as client:
            client.run(_warm_up)
        startup = time.perf_counter() - start
        address = cluster.scheduler_address
        (model, rounds), fit_s = timed(lambda: bench.fit(address))
        scores, score_s = timed(lambda: bench.score_step(address))
        batch_s = bench.whole_batch(address, f"dask-{k}")
    test_diff = np.abs(model.predict_proba(bench.split.test, validate=False) - local.test_scores)
    note = (
        f"{rounds} trees; test scores vs local: mean |diff| {np.mean(test_diff):.4f}, "
        f"max {np.max(test_diff):.4f}; batch scores max |diff| "
        f"{np.max(np.abs(scores - local.step_scores)):.1e}"
    )
    print(
        f"{k} worker(s): cluster start + warm-up {startup:.1f} s; fit {fit_s:.2f} s, "
        f"score step {score_s:.2f} s, score_batch {batch_s:.2f} s"
    )
    return Row(f"Dask, {k} worker{'s' if k > 1 else ''}", fit_s, score_s, batch_s, note)


def print_table(rows: list[Row], bench: Bench) -> None:
    local = rows[0]
    print(
        f"\n{'engine':<17} {'fit s':>7} {'ratio':>6}  {'score s':>7} {'ratio':>6}  {'batch s':>7} {'ratio':>6}  notes"
    )
    for r in rows:
        print(
            f"{r.engine:<17} {r.fit_s:7.2f} {local.fit_s / r.fit_s:6.2f}  {r.score_s:7.2f} "
            f"{local.score_s / r.score_s:6.2f}  {r.batch_s:7.2f} {local.batch_s / r.batch_s:6.2f}  {r.note}"
        )
    print(
        f"  fit: {len(bench.split.train_labelled):,} labelled training rows; score step: {len(bench.cases):,} "
        f"cases; score_batch: {len(bench.batch_frame):,} cases, decision log included. "
        "ratio = local / this (above 1: faster)."
    )


if __name__ == "__main__":
    main()
