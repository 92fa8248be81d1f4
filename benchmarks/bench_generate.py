"""Benchmark of the synthetic source-data generator. Prints figures; asserts nothing.

Measures rows per second of generate_applications and generate_periods, the time to write both tables
with write_tables (parquet, sha256, manifest), and compares the vectorised generator with the obvious
alternative: a per-row Python loop that draws an application field by field. The loop draws only the
core VW columns, so the printed ratio understates the real speed-up.

    python benchmarks/bench_generate.py --rows 1000000
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from _setup import timed

from features.register import default_register
from synthetic import (
    GeneratedTable,
    GeneratorConfig,
    generate_applications,
    generate_periods,
    write_tables,
)


def per_row_applications(n: int, seed: int) -> pd.DataFrame:
    """The obvious alternative: one Python iteration per application, one draw per field."""
    register = default_register()
    rng = np.random.default_rng(seed)
    nationalities = list(register["nationaliteit"].allowed_categories)
    sectors = list(register["sector"].allowed_categories)
    contracts = list(register["contractsoort"].allowed_categories)
    reasons = list(register["reden_einde_dienstverband"].allowed_categories)
    rows = []
    for i in range(n):
        nationality = rng.choice(nationalities, p=[0.78, 0.07, 0.04, 0.05, 0.06])
        contract = str(rng.choice(contracts))
        employment = int(min(600, round(12 * np.exp(rng.normal(1.5, 1.0)))))
        latent = rng.normal()
        delay = int(rng.exponential(3.0)) if rng.random() > 0.1 else int(8 + 40 * np.exp(rng.normal(0, 0.8)))
        reason = str(rng.choice(reasons))
        logit = -4.0 + (1.5 if reason in ("ontslag_staande_voet", "eigen_verzoek") else 0.0) + latent
        investigated = rng.random() < 0.25
        violation = rng.random() < 1 / (1 + np.exp(-logit))
        rows.append(
            {
                "aanvraag_id": f"A{i + 1:07d}",
                "persoon_id": f"N{i + 1:07d}",
                "nationaliteit": str(nationality),
                "sector": str(rng.choice(sectors)),
                "contractsoort": contract,
                "reden_einde_dienstverband": reason,
                "dienstverband_maanden": employment,
                "dagen_tot_aanvraag": delay,
                "eerdere_maatregelen": int(rng.poisson(0.1 * np.exp(0.7 * latent))),
                "onderzocht": investigated,
                "maatregel_vw": (violation and rng.random() < 0.85) if investigated else None,
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per table (default 1,000,000)")
    parser.add_argument("--loop-rows", type=int, default=20_000, help="rows for the per-row loop baseline")
    args = parser.parse_args()

    config = GeneratorConfig(n_applications=args.rows, n_periods=args.rows)
    # The first call per period solves the intercepts on a fixed reference sample; time it apart.
    warm_up = GeneratorConfig(n_applications=1_000, n_periods=1_000)
    _, calibration = timed(lambda: (generate_applications(warm_up), generate_periods(warm_up)))
    print(f"one-off intercept calibration (both tables): {calibration:.2f} s")

    applications, vw_seconds = timed(lambda: generate_applications(config))
    periods, periods_seconds = timed(lambda: generate_periods(config))
    for table, seconds in ((applications, vw_seconds), (periods, periods_seconds)):
        print(
            f"{table.name:<25} {args.rows:>10,} rows  {seconds:6.2f} s  {args.rows / seconds:>10,.0f} rows/s"
        )

    tables: dict[str, GeneratedTable] = {applications.name: applications, periods.name: periods}
    with tempfile.TemporaryDirectory() as directory:
        _, write_seconds = timed(lambda: write_tables(tables, Path(directory), config))
        sizes = sum(path.stat().st_size for path in Path(directory).glob("*.parquet"))
    print(f"write_tables (parquet + sha256 + manifest): {write_seconds:.2f} s, {sizes / 1e6:.1f} MB")

    _, loop_seconds = timed(lambda: per_row_applications(args.loop_rows, seed=1))
    loop_rate = args.loop_rows / loop_seconds
    print(
        f"per-row Python loop (core VW columns only): {loop_rate:,.0f} rows/s on {args.loop_rows:,} rows, "
        f"extrapolated {args.rows / loop_rate:.1f} s for {args.rows:,} rows"
    )
    print(f"vectorised / per-row loop: {args.rows / vw_seconds / loop_rate:.0f}x")


if __name__ == "__main__":
    main()
