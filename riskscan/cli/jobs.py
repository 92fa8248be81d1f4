"""The scheduled verbs and their synthetic traffic: ``retrain``, ``monitor`` and ``simulate-month``
(see README, "Jobs and schedule")."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from models.specs import scan_ids
from riskscan import home, timerange
from riskscan.cli._verb import PERIOD_FLAGS, Outcome, Verb, add_period, day
from riskscan.cli.evidence import anchor_after
from riskscan.errors import InvalidInput
from riskscan.exit_codes import ExitCode

# -- retrain --------------------------------------------------------------------------------------------


def _configure_retrain(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scan", choices=scan_ids(), required=True)
    parser.add_argument(
        "--data", type=Path, help="folder with the source extract (default RISKSCAN_HOME/data)"
    )
    parser.add_argument(
        "--as-of",
        type=day,
        help="the job's date (default today, UTC): outcomes of cases scored in the last maturity_days "
        "before it are censored",
    )
    parser.add_argument(
        "--compare-days",
        type=int,
        default=90,
        help="compare with the champion on random-control cases scored in this many days before --as-of",
    )
    parser.add_argument("--seed", type=int, default=0)


def retrain(args: argparse.Namespace) -> Outcome:
    from jobs.retrain import run_retrain_job
    from models.governance import GovernanceStore
    from riskscan.jsonio import json_safe
    from serving.store import ServingStore

    if args.compare_days < 1:
        raise InvalidInput(f"--compare-days must be at least 1, got {args.compare_days}")
    as_of = args.as_of or datetime.now(UTC).date()
    with ServingStore() as store:
        result = run_retrain_job(
            args.scan,
            store,
            work_dir=home.home() / "retrain",
            report_dir=home.home() / "reports" / "retrain",
            data_dir=args.data or home.data_dir(),
            as_of=as_of,
            compare_days=args.compare_days,
            seed=args.seed,
            register=GovernanceStore().ruled_register(),  # a column ruled unlawful is forbidden here too
        )
    trained = result.training
    lines = [
        f"{args.scan}: challenger is version {trained.version}"
        + (" (nothing new: trained on this very data before)" if trained.reused else " (newly trained)")
        + "; not promoted: promotion is the committee's",
        f"  labels from the log: {trained.accounting.labelled} ({trained.accounting.labelled_violations} "
        f"violations); left out: {trained.accounting.without_hoor_en_wederhoor} without hoor en wederhoor, "
        f"{trained.accounting.never_assessed} never assessed, {trained.accounting.censored_recent} censored",
        f"  audit: {result.audit['verdict'] if result.audit else 'none'}",
        f"  comparison: {result.comparison_note}",
    ]
    if result.comparison is not None:
        c = result.comparison
        for metric in ("precision_at_op", "roc_auc"):
            a, b, d = c.champion[metric], c.challenger[metric], c.difference[metric]
            lines.append(
                f"    {metric}: champion {a.estimate:.3f} [{a.low:.3f}, {a.high:.3f}], challenger {b.estimate:.3f} "
                f"[{b.low:.3f}, {b.high:.3f}], difference {d.estimate:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"
            )
        lines.append(f"    verdict: {result.verdict}")
    lines.append(f"  report: {result.files['html']}")
    lines.append(anchor_after(args.scan, "retrain"))
    return Outcome(lines, json_safe(result.view | {"files": result.files}))


# -- monitor --------------------------------------------------------------------------------------------


def _configure_monitor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scan", choices=scan_ids(), required=True)
    add_period(parser, from_default="the day 30 days before the last day", to_default="today, inclusive")
    parser.add_argument(
        "--data", type=Path, help="folder with the source extract (default RISKSCAN_HOME/data)"
    )
    parser.add_argument("--out", type=Path, help="folder for monitor.html and monitor.json")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log the run to MLflow")


def _window(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """The monitoring window ``[start, end)`` in UTC: ``--to`` defaults to today (the whole day) and
    ``--from`` to the day 30 days before the window's last day, so the default is 31 days."""
    end = end or date.today().isoformat()
    start = start or (timerange.last_day(timerange.parse_to(end)) - timedelta(days=30)).isoformat()
    return timerange.parse_period(start, end, names=PERIOD_FLAGS).closed()


def monitor(args: argparse.Namespace) -> Outcome:
    from jobs.monitor import monitor as run_monitor
    from riskscan.jsonio import json_safe
    from serving.store import ServingStore

    start, end = _window(args.start, args.end)
    first, last = timerange.first_day(start), timerange.last_day(end)
    out = args.out or home.home() / "reports" / "monitor" / args.scan / f"{first}_{last}"
    with ServingStore() as store:
        result = run_monitor(
            args.scan,
            store,
            start=start,
            end=end,
            out_dir=out,
            data_dir=args.data,
            log_to_mlflow=not args.no_mlflow,
        )
    health = result.process
    lines = [
        f"{args.scan}: {result.status} (champion v{result.champion}, {result.cases} cases from {first} to {last})",
        *[f"  {f.severity}: {f.subject}: {f.detail}" for f in result.findings],
        f"  process health on cases scored {result.process_window[0][:10]} up to {result.process_window[1][:10]}: "
        f"never assessed: {health.never_assessed.k} of {health.never_assessed.n} selected cases; "
        f"hoor en wederhoor: {health.hoor_en_wederhoor.k} of {health.hoor_en_wederhoor.n} outcomes",
        *[f"  note: {n}" for n in result.notes],
        f"  report: {result.files['html']}",
    ]
    return Outcome(lines, json_safe(result.as_dict()), exit_code=result.exit_code)


# -- simulate-month -------------------------------------------------------------------------------------


def _configure_simulate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", default="2025-02", help="the month to simulate, YYYY-MM")
    parser.add_argument("--cases", type=int, default=8_000, help="applications in the month")
    parser.add_argument(
        "--no-drift", action="store_true", help="draw the month from the unchanged population"
    )
    parser.add_argument(
        "--data", type=Path, help="folder with the source extract (default RISKSCAN_HOME/data)"
    )
    parser.add_argument("--seed", type=int, default=2025)


def simulate_month(args: argparse.Namespace) -> Outcome:
    import json

    from features.sources import MANIFEST_FILE
    from synthetic.simulate import TrafficConfig
    from synthetic.simulate import simulate_month as simulate

    data = args.data or home.data_dir()
    manifest = data / MANIFEST_FILE
    if not manifest.exists() or not json.loads(manifest.read_text(encoding="utf-8")).get("synthetic"):
        raise InvalidInput(
            f"the extract in {data} is not synthetic; simulated traffic is only added to generated data"
        )
    if args.cases < 1:
        raise InvalidInput(f"--cases must be at least 1, got {args.cases}")
    config = TrafficConfig(
        month=timerange.parse_month(args.month, "--month"),
        n_cases=args.cases,
        drift=not args.no_drift,
        seed=args.seed,
    )
    summary = simulate(data, home.home() / "simulation" / args.month, config)
    lines = [
        f"vw: {summary.scored} synthetic applications of {summary.month} scored by the champion and logged; "
        f"{summary.outcomes} outcomes recorded by simulated staff",
        anchor_after("vw", "simulate"),
    ]
    return Outcome(lines, summary.as_dict())


VERBS = (
    Verb(
        "retrain",
        "train a challenger from history and recorded outcomes, audit it, compare it with the champion",
        _configure_retrain,
        retrain,
    ),
    Verb(
        "simulate-month",
        "SYNTHETIC DATA ONLY: a month of generated VW applications scored by the champion, with simulated "
        "outcomes, to exercise monitor and retrain",
        _configure_simulate,
        simulate_month,
    ),
    Verb(
        "monitor",
        "drift, live selection rates by group and process health; exit "
        f"{ExitCode.RETRAIN_RECOMMENDED} retrain recommended, {ExitCode.COMMITTEE_REVIEW} committee review required",
        _configure_monitor,
        monitor,
    ),
)
