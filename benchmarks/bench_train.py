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
from pathlib import Path

from _setup import add_home_arguments, machine_load, prepare_home, print_setup, timed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_home_arguments(parser, demo=False)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of each table (default 1,000,000)")
    parser.add_argument("--scans", default="vw,sollicitatie", help="comma-separated (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument(
        "--no-one-thread", dest="one_thread", action="store_false", help="skip the num_threads=1 what-if fit"
    )
    args = parser.parse_args()

    home = prepare_home(args, demo=False)
    try:
        print_setup(home)
        run(args, home.path)
    finally:
        home.cleanup(args.keep_home)


def run(args: argparse.Namespace, home: Path) -> None:
    from features.pipeline import route
    from features.register import default_register
    from features.sources import read_source
    from models.specs import load_spec
    from synthetic import GeneratorConfig, generate_applications, generate_periods, write_tables
    from training.train import fit_scan_model, temporal_split, train_scan

    register = default_register()
    config = GeneratorConfig(n_applications=args.rows, n_periods=args.rows)
    applications, apps_s = timed(lambda: generate_applications(config))
    periods, periods_s = timed(lambda: generate_periods(config))
    data_dir = home / "data"
    start = time.perf_counter()
    write_tables({applications.name: applications, periods.name: periods}, data_dir, config)
    write_s = time.perf_counter() - start
    print(
        f"set-up data: generated {args.rows:,} rows per table ({applications.name} {apps_s:.1f} s, "
        f"{periods.name} {periods_s:.1f} s), write_tables {write_s:.1f} s -> {data_dir}"
    )
    del applications, periods

    summary = []
    for scan in [s.strip() for s in args.scans.split(",") if s.strip()]:
        spec = load_spec(scan, register)
        table = register.tables[spec.table]
        source, read_s = timed(lambda spec=spec: read_source(data_dir, spec.table))
        scored = route(source.frame, scan, register).scored
        split = temporal_split(scored, spec, table.time)
        labelled = len(split.train_labelled) + len(split.validation_labelled) + len(split.test_labelled)
        print(
            f"\n{scan}: {len(source.frame):,} rows, {len(scored):,} scored (after routing), {labelled:,} labelled "
            f"(train {len(split.train_labelled):,} / validation {len(split.validation_labelled):,} / "
            f"test {len(split.test_labelled):,}); read_source (parquet + sha256) {read_s:.1f} s"
        )

        marks: list[tuple[float, str]] = []

        def progress(message: str, marks: list[tuple[float, str]] = marks) -> None:
            marks.append((time.perf_counter(), message))

        start = time.perf_counter()
        result = train_scan(spec, source, seed=args.seed, register=register, progress=progress)
        train_s = time.perf_counter() - start
        phases = [
            "route + validate + split",
            "spec's family: fit, calibrate, evaluate, bootstrap",
            "other family: fit, calibrate, evaluate, bootstrap",
        ]
        phases.append("MLflow logging (datasets, plots, models, registry)")
        previous = start
        print(f"  train_scan: {train_s:.1f} s (registered version {result.version})")
        for name, (moment, _message) in zip(phases, marks, strict=False):
            print(f"    {name:<52} {moment - previous:7.1f} s")
            previous = moment
        if marks:
            print(f"    {'rest':<52} {start + train_s - previous:7.1f} s")

        ipw = spec.model.inverse_probability_weighting
        (_, trees), fit_s = timed(
            lambda spec=spec, split=split, ipw=ipw: fit_scan_model(spec, split, ipw=ipw)
        )
        print(
            f"  alternative, LightGBM fit alone (fit_scan_model, no evaluation/other family/MLflow): {fit_s:.1f} s"
        )
        print(f"  train_scan / fit_scan_model: {train_s / fit_s:.1f}x  ({trees} trees)")
        if args.one_thread:
            # What-if: the same fit with LightGBM on one thread. _lgb_params hard-codes num_threads=2; on a
            # 2-core machine that other work also uses, an OpenMP team of 2 waits for a descheduled thread
            # at every barrier, so the fit's time depends on the neighbours more than on the data.
            import training.fit as train_module

            params = train_module._lgb_params
            train_module._lgb_params = lambda spec, seed, params=params: {
                **params(spec, seed),
                "num_threads": 1,
            }
            try:
                _, one_s = timed(lambda spec=spec, split=split, ipw=ipw: fit_scan_model(spec, split, ipw=ipw))
            finally:
                train_module._lgb_params = params
            print(f"  what-if, fit_scan_model with num_threads=1: {one_s:.1f} s  ({machine_load()})")
        summary.append((scan, len(source.frame), labelled, train_s, fit_s))
        del source, scored, split

    print(
        f"\n{'scan':<13} {'rows':>10} {'labelled':>9} {'train_scan s':>13} {'fit alone s':>12} {'ratio':>6}"
    )
    for scan, rows, labelled, train_s, fit_s in summary:
        print(
            f"{scan:<13} {rows:>10,} {labelled:>9,} {train_s:>13.1f} {fit_s:>12.1f} {train_s / fit_s:>5.1f}x"
        )
    print(f"machine after the measurements: {machine_load()}")


if __name__ == "__main__":
    main()
