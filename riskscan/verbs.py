"""The verbs of ``riskscan``: argument definitions and the handlers that call the packages."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

import synthetic as generator
from features.pipeline import build_feature_matrix, build_tree_pipeline, route
from features.register import default_register
from features.sources import read_source
from models.specs import SCAN_IDS, load_spec
from riskscan import home
from riskscan.cli import Outcome
from riskscan.errors import Refusal

Configure = Callable[[argparse.ArgumentParser], None]


# -- data -----------------------------------------------------------------------------------------------


def _configure_data(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_verb", required=True, metavar="<action>")
    gen = sub.add_parser("generate", help="generate the synthetic source tables (see features/DATA_CARD.md)")
    defaults = generator.GeneratorConfig()
    gen.add_argument("--start", default=defaults.start, help="first month, YYYY-MM (default %(default)s)")
    gen.add_argument("--end", default=defaults.end, help="last month, YYYY-MM (default %(default)s)")
    gen.add_argument("--applications", type=int, default=defaults.n_applications, help="rows of ww_aanvragen")
    gen.add_argument(
        "--periods", type=int, default=defaults.n_periods, help="rows of ww_sollicitatieperiodes"
    )
    gen.add_argument("--control-share", type=float, default=defaults.control_share)
    gen.add_argument("--seed", type=int, default=defaults.seed)
    gen.add_argument(
        "--first-id",
        type=int,
        default=defaults.first_id,
        help="number of the first application, period and person (a later caseload must not reuse ids)",
    )
    gen.add_argument("--out", type=Path, default=None, help="output folder (default RISKSCAN_HOME/data)")
    gen.add_argument(
        "--with-truth", action="store_true", help="also write the hidden truth (for simulations)"
    )
    hz = generator.Hazards()
    gen.add_argument("--proxy-strength", type=float, default=hz.proxy_strength)
    gen.add_argument("--no-paper-selection-bias", action="store_true")
    gen.add_argument("--no-feedback-loop", action="store_true")
    gen.add_argument("--no-covid-censoring", action="store_true")
    gen.add_argument("--label-noise", type=float, default=hz.label_noise)
    gen.add_argument("--json", metavar="FILE", type=Path)
    gen.set_defaults(handler=data_generate)


def data_generate(args: argparse.Namespace) -> Outcome:
    hazards = generator.Hazards(
        proxy_strength=args.proxy_strength,
        paper_selection_bias=not args.no_paper_selection_bias,
        feedback_loop=not args.no_feedback_loop,
        covid_censoring=not args.no_covid_censoring,
        label_noise=args.label_noise,
    )
    config = generator.GeneratorConfig(
        start=args.start,
        end=args.end,
        n_applications=args.applications,
        n_periods=args.periods,
        control_share=args.control_share,
        seed=args.seed,
        hazards=hazards,
        first_id=args.first_id,
    )
    tables = generator.generate(config)
    out_dir = args.out or home.data_dir()
    manifest = generator.write_tables(tables, out_dir, config, with_truth=args.with_truth)
    summaries = {name: generator.summarize(table) for name, table in tables.items()}
    lines = [f"wrote {len(tables)} tables to {out_dir} (manifest {manifest.name})"]
    for name, summary in summaries.items():
        lines.append(f"  {name}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in summary.items()))
    return Outcome(lines, {"out_dir": str(out_dir), "tables": summaries})


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# -- features -------------------------------------------------------------------------------------------


def _configure_features(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="features_verb", required=True, metavar="<action>")
    build = sub.add_parser("build", help="validate the source tables and build each scan's feature matrix")
    build.add_argument("--scan", choices=SCAN_IDS, action="append", help="scan(s) to build (default: all)")
    build.add_argument("--json", metavar="FILE", type=Path)
    build.set_defaults(handler=features_build)


def features_build(args: argparse.Namespace) -> Outcome:
    register = default_register()
    lines: list[str] = []
    payload: dict[str, Any] = {"register_hash": register.content_hash, "scans": {}}
    out_dir = home.home() / "features"
    out_dir.mkdir(parents=True, exist_ok=True)
    for scan in args.scan or SCAN_IDS:
        spec = load_spec(scan, register)
        frame = read_source(home.data_dir(), spec.table).frame
        routing = route(frame, scan, register)
        features = spec.feature_set(register)
        key = register.tables[spec.table].key
        matrix = build_feature_matrix(
            routing.scored, features, build_tree_pipeline(features), key_column=key, fit=True
        )
        table = pa.Table.from_pandas(matrix.to_frame(), preserve_index=True)
        table = table.replace_schema_metadata(
            {
                **(table.schema.metadata or {}),
                b"riskscan": json.dumps(
                    {
                        "scan": scan,
                        "register_hash": matrix.register_hash,
                        "spec_hash": spec.content_hash,
                    }
                ).encode(),
            }
        )
        path = out_dir / f"{scan}.parquet"
        pq.write_table(table, path)
        info = {
            "rows": matrix.shape[0],
            "features": matrix.shape[1],
            "routed": len(routing.routed),
            "routed_to": routing.destination,
            "register_hash": matrix.register_hash,
            "path": str(path),
        }
        payload["scans"][scan] = info
        routed = f", {len(routing.routed)} routed to {routing.destination}" if len(routing.routed) else ""
        lines.append(
            f"{scan}: feature matrix {matrix.shape[0]} x {matrix.shape[1]}{routed}; "
            f"register {matrix.register_hash[:12]} -> {path}"
        )
    return Outcome(lines, payload)


# -- train --------------------------------------------------------------------------------------------


def _configure_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scan", choices=SCAN_IDS, required=True)
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
    parser.add_argument(
        "--dask-scheduler",
        metavar="ADDRESS",
        help="fit the LightGBM booster on the Dask cluster at ADDRESS (e.g. tcp://10.0.0.5:8786); "
        "default: this machine",
    )


def train(args: argparse.Namespace) -> Outcome:
    from training.train import train_scan

    spec = load_spec(args.spec or args.scan)
    if spec.id != args.scan:
        raise Refusal(f"spec {args.spec} is for scan '{spec.id}', not '{args.scan}'")
    source = read_source(args.data or home.data_dir(), spec.table)
    result = train_scan(spec, source, ipw=args.ipw, seed=args.seed, dask_scheduler=args.dask_scheduler)
    m, ci = result.metrics, result.control_intervals
    lines = [
        f"{spec.id}: registered riskscan-{spec.id} version {result.version} (status=candidate), run {result.run_id}",
        f"  operating point: flag {result.flag_fraction:.2%} of cases (capacity "
        f"{spec.capacity.investigations_per_week}/week), threshold {result.threshold:.4f}, IPW {result.ipw}",
        f"  test (investigated cases, n={int(m['test_n'])}): ROC-AUC {m.get('test_roc_auc', float('nan')):.3f}, "
        f"PR-AUC {m.get('test_pr_auc', float('nan')):.3f}, Brier {m.get('test_brier', float('nan')):.4f}, "
        f"precision@op {m.get('test_precision_at_op', float('nan')):.3f}, "
        f"recall@op {m.get('test_recall_at_op', float('nan')):.3f}",
        f"  random control sample (n={int(m.get('control_n', 0))}, unbiased): precision at capacity "
        f"{_ci(ci['precision_at_op'])}, base rate {_ci(ci['base_rate'])}, lift vs random {_ci(ci['lift'])}",
        f"  logistic baseline: test ROC-AUC {result.baseline_metrics.get('baseline_test_roc_auc', float('nan')):.3f}, "
        f"control precision@op {result.baseline_metrics.get('baseline_control_precision_at_op', float('nan')):.3f}",
    ]
    if args.dask_scheduler:
        lines.append(
            f"  booster fitted on the Dask cluster at {args.dask_scheduler} (run tag training_engine=dask)"
        )
    return Outcome(lines, {"result": result.__dict__})


def _ci(interval: dict[str, float]) -> str:
    return f"{interval['estimate']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]"


# -- audit and the committee ---------------------------------------------------------------------------


def _configure_audit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scan", choices=SCAN_IDS, required=True)
    parser.add_argument("--version", required=True, help="registered model version to audit")
    parser.add_argument(
        "--data", type=Path, help="folder with the source tables (default RISKSCAN_HOME/data)"
    )
    parser.add_argument(
        "--allow-other-data",
        action="store_true",
        help="audit on data other than the version was trained on (the report says so)",
    )


def audit(args: argparse.Namespace) -> Outcome:
    from ethics_review.audit import audit_version

    result = audit_version(
        args.scan, args.version, data_dir=args.data, allow_other_data=args.allow_other_data
    )
    s = result.summary
    lines = [
        f"{args.scan} version {args.version}: audit verdict {result.verdict} "
        f"({s['pass']} pass, {s['fail']} fail, {s['insufficient_evidence']} insufficient evidence)",
        f"  report: {result.local_paths['report.html']}",
        f"  audit sha256: {result.report_sha256} (tagged on the model version; artifacts under {result.artifact_path})",
    ]
    lines += [
        f"  FAIL {c['name']} [{c['scope']}]: {c['detail']}"
        for c in result.audit["checks"]
        if c["verdict"] == "fail"
    ]
    return Outcome(
        lines,
        {
            "verdict": result.verdict,
            "summary": s,
            "report_sha256": result.report_sha256,
            "paths": {k: str(v) for k, v in result.local_paths.items()},
            "checks": result.audit["checks"],
        },
        exit_code=0,
    )


def _configure_decide(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scan", choices=SCAN_IDS, required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--decision", choices=["approve", "reject", "approve-with-conditions"], required=True)
    parser.add_argument("--by", action="append", required=True, help="committee member (repeat for each)")
    parser.add_argument("--rationale", required=True)
    parser.add_argument("--condition", action="append", default=[], help="a condition (repeat)")
    parser.add_argument("--valid-until", type=_date, help="YYYY-MM-DD; the approval expires after this day")
    parser.add_argument("--checklist", type=Path, help="YAML file answering the assessment checklist")
    parser.add_argument(
        "--answer",
        action="append",
        default=[],
        metavar="KEY=TEXT",
        help="one checklist answer (repeat); overrides the file",
    )
    parser.add_argument("--demo", action="store_true", help="mark the decision clearly as a demo decision")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; expected YYYY-MM-DD") from None


def _checklist(args: argparse.Namespace) -> dict[str, str]:
    import yaml

    answers: dict[str, str] = {}
    if args.checklist:
        loaded = yaml.safe_load(args.checklist.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise Refusal(f"checklist {args.checklist} must map each question to an answer")
        answers.update({str(k): str(v) for k, v in loaded.items()})
    for item in args.answer:
        key, sep, text = item.partition("=")
        if not sep:
            raise Refusal(f"--answer '{item}' must look like KEY=TEXT")
        answers[key.strip()] = text.strip()
    return answers


def decide(args: argparse.Namespace) -> Outcome:
    from models.gate import decide as record
    from models.governance import GovernanceStore

    decision = record(
        GovernanceStore(),
        scan=args.scan,
        version=args.version,
        decision=args.decision,
        decided_by=args.by,
        rationale=args.rationale,
        checklist=_checklist(args),
        conditions=args.condition,
        valid_until=args.valid_until,
        demo=args.demo,
    )
    demo = " [DEMO DECISION]" if args.demo else ""
    return Outcome(
        [
            f"recorded decision {decision.id}{demo}: {args.decision} {args.scan} version {args.version} "
            f"against audit {decision.audit_sha256[:12]} by {', '.join(args.by)}"
        ],
        {"decision": decision.as_dict()},
    )


def _configure_promote(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scan", choices=SCAN_IDS, required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--by", default=_whoami(), help="who promotes (default: the current user)")


def _whoami() -> str:
    import getpass

    return getpass.getuser()


def promote(args: argparse.Namespace) -> Outcome:
    from models.gate import promote as gate_promote
    from models.governance import GovernanceStore

    record = gate_promote(GovernanceStore(), scan=args.scan, version=args.version, promoted_by=args.by)
    previous = (
        f"; previous champion {record.previous_version} is now 'previous'" if record.previous_version else ""
    )
    return Outcome(
        [
            f"riskscan-{args.scan} version {args.version} is champion (decision {record.decision_id}, "
            f"audit {record.audit_sha256[:12]}){previous}"
        ],
        {"promotion": record.as_dict()},
    )


def _configure_withdraw(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scan", choices=SCAN_IDS, required=True)
    parser.add_argument("--reason", required=True)
    parser.add_argument("--by", default=_whoami())


def withdraw(args: argparse.Namespace) -> Outcome:
    from models.gate import withdraw as gate_withdraw
    from models.governance import GovernanceStore

    record = gate_withdraw(GovernanceStore(), scan=args.scan, reason=args.reason, withdrawn_by=args.by)
    which = f"version {record.version}" if record.version else "no champion was set"
    return Outcome(
        [
            f"withdrew riskscan-{args.scan} ({which}): scoring of '{args.scan}' is blocked until a new promotion",
            f"  reason: {args.reason}",
        ],
        {"withdrawal": record.as_dict()},
    )


# -- demo -----------------------------------------------------------------------------------------------


def _run_steps(run: Callable[[list[str]], int], steps: list[list[str]]) -> None:
    for step in steps:
        print(f"\n$ riskscan {' '.join(step)}", flush=True)
        code = run(step)
        if code != 0:
            raise Refusal(f"demo stopped: 'riskscan {' '.join(step)}' exited with {code}")


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--applications", type=int, default=generator.GeneratorConfig().n_applications)
    parser.add_argument("--periods", type=int, default=generator.GeneratorConfig().n_periods)
    parser.add_argument("--no-serve", action="store_true", help="stop after promotion and a batch run")
    parser.add_argument("--port", type=int, default=3000)


def demo(args: argparse.Namespace) -> Outcome:
    """The whole life cycle on embedded defaults. Grows as the life cycle is built."""
    from riskscan.cli import main as run

    steps: list[list[str]] = [
        ["data", "generate", "--applications", str(args.applications), "--periods", str(args.periods)],
        ["features", "build"],
    ]
    _run_steps(run, steps)
    checklist = str(Path(__file__).resolve().parent.parent / "ethics_review" / "demo_checklist.yaml")
    for scan in SCAN_IDS:
        out = home.home() / "demo" / f"train-{scan}.json"
        _run_steps(run, [["train", "--scan", scan, "--json", str(out)]])
        version = json.loads(out.read_text())["result"]["version"]
        _run_steps(
            run,
            [
                ["audit", "--scan", scan, "--version", version],
                [
                    "decide",
                    "--scan",
                    scan,
                    "--version",
                    version,
                    "--decision",
                    "approve",
                    "--demo",
                    "--by",
                    "DEMO committee member A",
                    "--by",
                    "DEMO committee member B",
                    "--rationale",
                    "DEMO DECISION made by 'make demo' to show the gate; not a real committee review.",
                    "--checklist",
                    checklist,
                ],
                ["promote", "--scan", scan, "--version", version, "--by", "make demo"],
            ],
        )
    # The feedback loop, on synthetic time: a month of drifted VW traffic with simulated outcomes, then the
    # two scheduled jobs. Monitoring exits 3 or 4 when it has findings; in the demo that is the point.
    _run_steps(run, [["simulate-month", "--month", "2025-01", "--cases", "8000", "--seed", "2026"]])
    monitor = ["monitor", "--scan", "vw", "--from", "2025-01-01", "--to", "2025-03-15"]
    print(f"\n$ riskscan {' '.join(monitor)}", flush=True)
    print(f"(exit code {run(monitor)}: 0 healthy, 3 retrain recommended, 4 committee review required)")
    _run_steps(run, [["retrain", "--scan", "vw", "--as-of", "2025-04-01"]])
    # A fresh caseload (the first month after the training data) fills the worklists through the batch job.
    caseload = home.home() / "demo" / "caseload"
    _run_steps(
        run,
        [
            [
                "data",
                "generate",
                "--start",
                "2025-01",
                "--end",
                "2025-01",
                "--applications",
                "20000",
                "--periods",
                "30000",
                "--seed",
                "2025",
                "--first-id",  # after every id of the extract, so logged cases join back to the right one
                "100000001",
                "--out",
                str(caseload),
            ]
        ],
    )
    for scan in SCAN_IDS:
        table = default_register().table_for_scan(scan)
        _run_steps(
            run,
            [
                [
                    "score-batch",
                    "--scan",
                    scan,
                    "--input",
                    str(caseload / f"{table}.parquet"),
                    "--output",
                    str(home.home() / "demo" / f"scores-{scan}.parquet"),
                ]
            ],
        )
    _run_steps(run, [["log", "verify"]])
    from serving.store import ServingStore

    store = ServingStore()
    staff_token, _ = store.create_token(name="demo handhaving", role="handhaving")
    committee_token, _ = store.create_token(name="demo committee", role="committee")
    lines = [
        "",
        "demo: both scans trained, audited, approved (DEMO decision), promoted; a simulated month monitored "
        "and a VW challenger retrained (not promoted); a January 2025 caseload scored",
        f"  enforcement staff token (shown once): {staff_token}",
        f"  committee token (shown once):         {committee_token}",
        f"  worklist:        http://localhost:{args.port}/ui/worklist?scan=vw",
        f"  committee page:  http://localhost:{args.port}/ui/audits",
    ]
    if args.no_serve:
        return Outcome(lines, {"staff_token": staff_token, "committee_token": committee_token})
    for line in lines:
        print(line, flush=True)
    print(f"\nstarting the service on port {args.port} (Ctrl-C stops it)", flush=True)
    code = run(["serve", "--port", str(args.port), "--host", "0.0.0.0"])
    return Outcome([f"service stopped (exit {code})"], {}, exit_code=code)


VERBS: dict[str, tuple[str, Configure, Callable[[argparse.Namespace], Outcome] | None]] = {
    "data": ("generate the synthetic source tables", _configure_data, None),
    "features": ("build the feature matrices from the register", _configure_features, None),
    "train": (
        "train a scan, log the run to MLflow and register a candidate version",
        _configure_train,
        train,
    ),
    "audit": (
        "audit a registered model version (fairness, proxies, counterfactuals)",
        _configure_audit,
        audit,
    ),
    "decide": (
        "record the data-ethics committee's decision on an audited version",
        _configure_decide,
        decide,
    ),
    "promote": (
        "make an approved, audited version the champion (the promotion gate)",
        _configure_promote,
        promote,
    ),
    "withdraw": ("withdraw a scan's champion and block its scoring", _configure_withdraw, withdraw),
    "demo": ("run the life cycle end to end on embedded defaults", _configure_demo, demo),
}
