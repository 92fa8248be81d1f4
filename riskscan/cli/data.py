"""``riskscan data generate``: the synthetic source tables (see synthetic/DATA_CARD.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import synthetic
from riskscan import home
from riskscan.cli._verb import Outcome, Verb
from riskscan.timerange import parse_month


def _configure_generate(parser: argparse.ArgumentParser) -> None:
    defaults = synthetic.GeneratorConfig()
    parser.add_argument("--start", default=defaults.start, help="first month, YYYY-MM (default %(default)s)")
    parser.add_argument("--end", default=defaults.end, help="last month, YYYY-MM (default %(default)s)")
    parser.add_argument(
        "--applications", type=int, default=defaults.n_applications, help="rows of ww_aanvragen"
    )
    parser.add_argument(
        "--periods", type=int, default=defaults.n_periods, help="rows of ww_sollicitatieperiodes"
    )
    parser.add_argument(
        "--full-volume-from",
        default=None,
        help="YYYY-MM: generate applications from this month at the full national volume "
        "(--applications then counts the months before it)",
    )
    parser.add_argument("--control-share", type=float, default=defaults.control_share)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--first-id",
        type=int,
        default=defaults.first_id,
        help="number of the first application, period and person (a later caseload must not reuse ids)",
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder (default RISKSCAN_HOME/data)")
    parser.add_argument(
        "--with-truth", action="store_true", help="also write the hidden truth (for simulations)"
    )
    hz = synthetic.Hazards()
    parser.add_argument("--proxy-strength", type=float, default=hz.proxy_strength)
    parser.add_argument("--no-paper-selection-bias", action="store_true")
    parser.add_argument("--no-feedback-loop", action="store_true")
    parser.add_argument("--no-covid-censoring", action="store_true")
    parser.add_argument("--label-noise", type=float, default=hz.label_noise)


def generate(args: argparse.Namespace) -> Outcome:
    hazards = synthetic.Hazards(
        proxy_strength=args.proxy_strength,
        paper_selection_bias=not args.no_paper_selection_bias,
        feedback_loop=not args.no_feedback_loop,
        covid_censoring=not args.no_covid_censoring,
        label_noise=args.label_noise,
    )
    config = synthetic.GeneratorConfig(
        start=parse_month(args.start, "--start"),
        end=parse_month(args.end, "--end"),
        n_applications=args.applications,
        n_periods=args.periods,
        control_share=args.control_share,
        seed=args.seed,
        hazards=hazards,
        first_id=args.first_id,
        full_volume_from=None
        if args.full_volume_from is None
        else parse_month(args.full_volume_from, "--full-volume-from"),
    )
    # The demo's tables take a minute or more to draw: say what is being made while it is made.
    tables = {}
    for name, make in (
        (synthetic.APPLICATIONS, synthetic.generate_applications),
        (synthetic.PERIODS, synthetic.generate_periods),
    ):
        print(f"generating {name} ...", flush=True)
        tables[name] = make(config)
    out_dir = args.out or home.data_dir()
    manifest = synthetic.write_tables(tables, out_dir, config, with_truth=args.with_truth)
    summaries = {name: synthetic.summarize(table) for name, table in tables.items()}
    lines = [f"wrote {len(tables)} tables to {out_dir} (manifest {manifest.name})"]
    for name, summary in summaries.items():
        lines.append(f"  {name}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in summary.items()))
    return Outcome(lines, {"out_dir": str(out_dir), "tables": summaries})


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


VERBS = (
    Verb(
        "data",
        "generate the synthetic source tables",
        actions=(
            Verb(
                "generate",
                "generate the synthetic source tables (see synthetic/DATA_CARD.md)",
                _configure_generate,
                generate,
            ),
        ),
    ),
)
