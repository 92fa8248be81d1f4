"""``riskscan train``: train a scan, log the run to MLflow and register a candidate version."""

from __future__ import annotations

import argparse
from pathlib import Path

from features.sources import read_source
from models.specs import load_spec, scan_ids
from riskscan import fmt, home
from riskscan.cli._verb import Outcome, Verb, add_dask_scheduler
from riskscan.errors import InvalidInput


def _configure_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scan", choices=scan_ids(), required=True)
    parser.add_argument("--spec", type=Path, help="a spec file instead of models/scans/<scan>.yaml")
    parser.add_argument(
        "--data", type=Path, help="folder with the source tables (default RISKSCAN_HOME/data)"
    )
    ipw = parser.add_mutually_exclusive_group()
    ipw.add_argument(
        "--ipw",
        dest="ipw",
        action="store_true",
        default=None,
        help="weight investigated cases by 1 / selection probability (spec default)",
    )
    ipw.add_argument("--no-ipw", dest="ipw", action="store_false")
    parser.add_argument("--seed", type=int, default=0)
    add_dask_scheduler(parser, "fit the LightGBM booster")


def train(args: argparse.Namespace) -> Outcome:
    from models.governance import GovernanceStore
    from training.train import train_scan

    register = GovernanceStore().ruled_register()  # a column ruled unlawful is forbidden here too
    spec = load_spec(args.spec or args.scan, register)
    if spec.id != args.scan:
        raise InvalidInput(f"spec {args.spec} is for scan '{spec.id}', not '{args.scan}'")
    source = read_source(args.data or home.data_dir(), spec.table)
    result = train_scan(
        spec, source, ipw=args.ipw, seed=args.seed, register=register, dask_scheduler=args.dask_scheduler
    )
    m, ci = result.metrics, result.control_intervals
    other = result.comparison
    # Undefined, not zero: no control case above the threshold (precision, lift) or none at all (base rate).
    undefined = "undefined (too few control cases)"
    lines = [
        f"{spec.id}: registered riskscan-{spec.id} version {result.version} ({result.family}, status=candidate), "
        f"run {result.run_id}",
        f"  operating point: flag {result.flag_fraction:.2%} of cases (capacity "
        f"{spec.capacity.investigations_per_week}/week), threshold {result.threshold:.4f}, IPW {result.ipw}",
        f"  test (investigated cases, n={int(m['test_n'])}): ROC-AUC {m.get('test_roc_auc', float('nan')):.3f}, "
        f"PR-AUC {m.get('test_pr_auc', float('nan')):.3f}, Brier {m.get('test_brier', float('nan')):.4f}, "
        f"precision@op {m.get('test_precision_at_op', float('nan')):.3f}, "
        f"recall@op {m.get('test_recall_at_op', float('nan')):.3f}",
        f"  random control sample (n={int(m.get('control_n', 0))}, unbiased): precision at capacity "
        f"{fmt.interval(ci['precision_at_op'], missing=undefined)}, "
        f"base rate {fmt.interval(ci['base_rate'], missing=undefined)}, "
        f"lift vs random {fmt.interval(ci['lift'], missing=undefined)}",
        f"  {other['family']} on the same split (not registered): test ROC-AUC "
        f"{other['metrics'].get('test_roc_auc', float('nan')):.3f}, control precision at capacity "
        f"{fmt.interval(other['control_intervals']['precision_at_op'], missing=undefined)}, lift vs random "
        f"{fmt.interval(other['control_intervals']['lift'], missing=undefined)}",
    ]
    if args.dask_scheduler:
        lines.append(
            f"  booster fitted on the Dask cluster at {args.dask_scheduler} (run tag training_engine=dask)"
        )
    return Outcome(lines, {"result": result.__dict__})


VERBS = (
    Verb(
        "train",
        "train a scan, log the run to MLflow and register a candidate version",
        _configure_train,
        train,
    ),
)
