"""Benchmark of training: ``train_scan`` per scan on ``--rows`` rows of each source table. Prints figures;
asserts nothing.

Generates ``--rows`` rows of both source tables (2019-2024), writes them with ``write_tables`` into the
home's ``data/`` folder, and times :func:`training.train.train_scan` for vw and sollicitatie: route and
validate, temporal split, LightGBM with early stopping, calibration, operating point, metrics with
bootstrap intervals on the control sample, the other model family, plots, and the MLflow run with dataset
inputs, artifacts, the logged model (and the other family's files) and the registered candidate (in the
home's SQLite store). The phases are read from the progress messages train_scan prints between its steps.

The comparison in the same run: the LightGBM fit alone (``fit_scan_model`` on the same temporal split:
pipeline, booster with early stopping and Platt calibration), without evaluation, other family or any MLflow
logging; the ratio ``train_scan / fit_scan_model`` is printed per scan. No demo is needed: the home is
empty apart from what this benchmark writes.

    python benchmarks/bench_train.py                    # 1,000,000 rows per table, fresh temporary home
    python benchmarks/bench_train.py --rows 200000 --scans vw
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _setup import bench_home, bench_parser, machine_load, timed

if TYPE_CHECKING:
    from features.sources import SourceTable
    from models.specs import ScanSpec
    from training.train import TemporalSplit

# The phases of train_scan, in the order of the progress messages it prints between them.
PHASES = (
    "route + validate + split",
    "spec's family: fit, calibrate, evaluate, bootstrap",
    "other family: fit, calibrate, evaluate, bootstrap",
    "MLflow logging (datasets, plots, model, registry)",
)


def main() -> None:
    args = parse_arguments()
    with bench_home(args, demo=False) as home:
        data_dir = write_source_tables(args.rows, home.path / "data")
        summary = [measure_scan(scan, data_dir, args) for scan in args.scans]
        print_summary(summary)
        print(f"machine after the measurements: {machine_load()}")


def parse_arguments() -> argparse.Namespace:
    parser = bench_parser(__doc__, demo=False)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of each table (default 1,000,000)")
    parser.add_argument(
        "--scans", default="vw,sollicitatie", type=_names, help="comma-separated (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument(
        "--no-one-thread", dest="one_thread", action="store_false", help="skip the num_threads=1 what-if fit"
    )
    return parser.parse_args()


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


@dataclass(frozen=True)
class ScanTimes:
    scan: str
    rows: int
    labelled: int
    train_s: float
    fit_s: float


def write_source_tables(rows: int, data_dir: Path) -> Path:
    """Generate ``rows`` rows of both source tables and write them as the home's source extract."""
    from synthetic import GeneratorConfig, generate_applications, generate_periods, write_tables

    config = GeneratorConfig(n_applications=rows, n_periods=rows)
    applications, apps_s = timed(lambda: generate_applications(config))
    periods, periods_s = timed(lambda: generate_periods(config))
    _, write_s = timed(
        lambda: write_tables({applications.name: applications, periods.name: periods}, data_dir, config)
    )
    print(
        f"set-up data: generated {rows:,} rows per table ({applications.name} {apps_s:.1f} s, "
        f"{periods.name} {periods_s:.1f} s), write_tables {write_s:.1f} s -> {data_dir}"
    )
    return data_dir


def measure_scan(scan: str, data_dir: Path, args: argparse.Namespace) -> ScanTimes:
    """train_scan on one scan's source table, then the LightGBM fit alone on the same split."""
    from features.pipeline import route
    from features.register import default_register
    from features.sources import read_source
    from models.specs import load_spec
    from training.train import temporal_split

    register = default_register()
    spec = load_spec(scan, register)
    source, read_s = timed(lambda: read_source(data_dir, spec.table))
    scored = route(source.frame, scan, register).scored
    split = temporal_split(scored, spec, register.tables[spec.table].time)
    labelled = len(split.train_labelled) + len(split.validation_labelled) + len(split.test_labelled)
    print(
        f"\n{scan}: {len(source.frame):,} rows, {len(scored):,} scored (after routing), {labelled:,} labelled "
        f"(train {len(split.train_labelled):,} / validation {len(split.validation_labelled):,} / "
        f"test {len(split.test_labelled):,}); read_source (parquet + sha256) {read_s:.1f} s"
    )
    train_s = time_train_scan(spec, source, args.seed)
    fit_s = time_fit_alone(spec, split, train_s)
    if args.one_thread:
        what_if_one_thread(spec, split)
    return ScanTimes(scan, len(source.frame), labelled, train_s, fit_s)


def time_train_scan(spec: ScanSpec, source: SourceTable, seed: int) -> float:
    """The whole train_scan, with the time between its progress messages printed per phase."""
    from features.register import default_register
    from training.train import train_scan

    marks: list[float] = []
    start = time.perf_counter()
    result = train_scan(
        spec,
        source,
        seed=seed,
        register=default_register(),
        progress=lambda _message: marks.append(time.perf_counter()),
    )
    train_s = time.perf_counter() - start
    print(f"  train_scan: {train_s:.1f} s (registered version {result.version})")
    previous = start
    for name, moment in zip(PHASES, marks, strict=False):
        print(f"    {name:<52} {moment - previous:7.1f} s")
        previous = moment
    if marks:
        print(f"    {'rest':<52} {start + train_s - previous:7.1f} s")
    return train_s


def time_fit_alone(spec: ScanSpec, split: TemporalSplit, train_s: float) -> float:
    from training.train import fit_scan_model

    (_, trees), fit_s = timed(
        partial(fit_scan_model, spec, split, ipw=spec.model.inverse_probability_weighting)
    )
    print(
        f"  alternative, LightGBM fit alone (fit_scan_model, no evaluation/other family/MLflow): {fit_s:.1f} s"
    )
    print(f"  train_scan / fit_scan_model: {train_s / fit_s:.1f}x  ({trees} trees)")
    return fit_s


def what_if_one_thread(spec: ScanSpec, split: TemporalSplit) -> None:
    """The same fit with LightGBM on one thread. _lgb_params hard-codes num_threads=2; on a 2-core machine
    that other work also uses, an OpenMP team of 2 waits for a descheduled thread at every barrier, so the
    fit's time depends on the neighbours more than on the data."""
    from training.train import fit_scan_model

    with _lightgbm_threads(1):
        _, one_s = timed(partial(fit_scan_model, spec, split, ipw=spec.model.inverse_probability_weighting))
    print(f"  what-if, fit_scan_model with num_threads=1: {one_s:.1f} s  ({machine_load()})")


@contextmanager
def _lightgbm_threads(threads: int) -> Iterator[None]:
    """training.fit's LightGBM parameters with ``num_threads`` overridden, for the duration."""
    import training.fit as train_module

    params: Callable[..., dict[str, Any]] = train_module._lgb_params
    train_module._lgb_params = lambda spec, seed: {**params(spec, seed), "num_threads": threads}
    try:
        yield
    finally:
        train_module._lgb_params = params


def print_summary(summary: list[ScanTimes]) -> None:
    print(
        f"\n{'scan':<13} {'rows':>10} {'labelled':>9} {'train_scan s':>13} {'fit alone s':>12} {'ratio':>6}"
    )
    for t in summary:
        print(
            f"{t.scan:<13} {t.rows:>10,} {t.labelled:>9,} {t.train_s:>13.1f} {t.fit_s:>12.1f} "
            f"{t.train_s / t.fit_s:>5.1f}x"
        )


if __name__ == "__main__":
    main()
