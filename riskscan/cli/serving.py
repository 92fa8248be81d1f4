"""The serving verbs: ``serve``, ``score-batch``, ``cases``, ``outcome``, ``token`` and ``subject-report``."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

from models.specs import load_spec, scan_ids
from riskscan import home, timerange
from riskscan.cli._caller import TOKEN_VARIABLE
from riskscan.cli._verb import PERIOD_FLAGS, Outcome, Verb, add_dask_scheduler, add_period
from riskscan.cli.evidence import anchor_after
from riskscan.errors import InvalidInput, NotFound, Unauthenticated, Unavailable


def _configure_serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--host", default="127.0.0.1")


def serve(args: argparse.Namespace) -> Outcome:
    """Run the BentoML service in the foreground (Ctrl-C stops it)."""
    bentoml = shutil.which("bentoml", path=str(Path(sys.executable).parent)) or shutil.which("bentoml")
    if bentoml is None:
        raise Unavailable("the bentoml command is not installed in this environment")
    import serving
    from serving.gate import KEEP_ALIVE_SECONDS

    root = Path(serving.__file__).resolve().parent.parent  # the folder that holds the serving package
    command = [
        bentoml,
        "serve",
        "serving.service:RiskScan",
        "--port",
        str(args.port),
        "--host",
        args.host,
        "--working-dir",
        str(root),
        "--timeout-keep-alive",
        str(KEEP_ALIVE_SECONDS),
    ]
    print(
        f"serving on http://{args.host}:{args.port} (worklist: http://{args.host}:{args.port}/ui/worklist?scan=vw)",
        flush=True,
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    # Replace this process with BentoML's server, so a stop signal reaches the server (which stops its
    # workers) instead of leaving them running without a parent.
    os.execve(bentoml, command, env)


def _configure_batch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scan", choices=scan_ids(), required=True)
    parser.add_argument(
        "--input", type=Path, required=True, help="caseload as Parquet (source-table columns)"
    )
    parser.add_argument(
        "--output", type=Path, required=True, help="scores, signals and explanations (Parquet)"
    )
    parser.add_argument("--no-progress", action="store_true")
    add_dask_scheduler(parser, "compute the scores partition by partition")


def score_batch(args: argparse.Namespace) -> Outcome:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from serving.batch import run_batch

    if not args.input.exists():
        raise NotFound(f"input file {args.input} does not exist")
    try:  # the footer only: a file someone named that is not Parquet is a refusal, not a bug
        pq.read_metadata(args.input)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"input file {args.input} is not a Parquet file ({exc})") from None
    result = run_batch(
        args.scan,
        args.input,
        args.output,
        progress=not args.no_progress,
        dask_scheduler=args.dask_scheduler,
    )
    seconds = sum(result.seconds.values())
    anchored = anchor_after(args.scan, "score-batch")
    lines = [
        f"{args.scan}: scored {result.scored} of {result.rows} cases with {result.model['name']} version "
        f"{result.model['version']} in {seconds:.1f} s ({result.routed} routed, not scored)",
        f"  signals: {result.signals} ({result.controls} random control); {result.capped_by_capacity} above the "
        "threshold left out by the capacity limit",
        f"  every scored case is in the decision log; output: {result.output}",
        "  timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in result.seconds.items()),
        anchored,
    ]
    if args.dask_scheduler:
        lines.append(
            f"  scores computed on the Dask cluster at {args.dask_scheduler}; selection and log here"
        )
    return Outcome(lines, {"result": {**result.__dict__, "output": str(result.output)}})


def _configure_cases(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scan", choices=scan_ids(), required=True)
    parser.add_argument("--model-version")
    add_period(parser, from_default="the first logged case", to_default="no end")
    parser.add_argument("--signals-only", action="store_true")
    parser.add_argument("--limit", type=int, default=None)


def cases(args: argparse.Namespace) -> Outcome:
    from serving.store import ServingStore

    period = timerange.parse_period(args.start, args.end, names=PERIOD_FLAGS)
    rows = ServingStore().cases(
        scan=args.scan,
        model_version=args.model_version,
        start=period.start,
        end=period.end,
        signal_only=args.signals_only,
        limit=args.limit,
    )
    by_status: dict[str, int] = {}
    for row in rows:
        by_status[row.status] = by_status.get(row.status, 0) + 1
    lines = [
        f"{len(rows)} logged case(s) of {args.scan}"
        + (f" version {args.model_version}" if args.model_version else "")
        + ": "
        + ", ".join(f"{k} {v}" for k, v in sorted(by_status.items()))
    ]
    lines += [
        f"  {r.case_id}  score {r.score:.3f}  {'signal' if r.signal else '      '}  {r.status}"
        for r in rows[:20]
    ]
    if len(rows) > 20:
        lines.append(f"  ... {len(rows) - 20} more (use --json FILE for all)")
    return Outcome(lines, {"count": len(rows), "cases": [r.as_dict() for r in rows]})


def _configure_outcome(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--request-id", required=True)
    parser.add_argument("--violation", choices=["yes", "no"], required=True)
    parser.add_argument(
        "--hoor-en-wederhoor", action="store_true", help="the client was heard before deciding"
    )
    parser.add_argument("--sanction")
    parser.add_argument(
        "--investigator",
        help="the name shown with the outcome (default: the name of the token in RISKSCAN_TOKEN)",
    )
    parser.add_argument("--notes", default="")


def outcome(args: argparse.Namespace) -> Outcome:
    """Record an outcome under the identity of the token in RISKSCAN_TOKEN (an environment variable, not an
    argument: arguments are visible to every user of the machine in the process list)."""
    from serving.auth import Authenticator
    from serving.store import ServingStore

    store = ServingStore()
    token = os.environ.get(TOKEN_VARIABLE, "")
    if not token.strip():
        raise Unauthenticated(
            f"{TOKEN_VARIABLE} is not set: an outcome is recorded under the identity of a handhaving or admin "
            "token (riskscan token create --role handhaving --name ...), never under a typed name"
        )
    caller = Authenticator(store).require(token.strip(), "outcome")
    record = store.record_outcome(
        recorded_by=caller,
        request_id=args.request_id,
        violation=args.violation == "yes",
        sanction=args.sanction,
        hoor_en_wederhoor=args.hoor_en_wederhoor,
        investigator=args.investigator,
        notes=args.notes,
    )
    return Outcome(
        [
            f"recorded outcome {record.id} for {args.request_id}: {record.status} (token {caller.id}, {caller.name})"
        ],
        {"outcome": record.as_dict()},
    )


def _configure_token_create(parser: argparse.ArgumentParser) -> None:
    # Spelled out rather than imported from serving.tokens, which would load SQLAlchemy for every command;
    # create_token refuses a role outside serving.tokens.ROLES anyway, and a test checks the lists agree
    # (tests/serving/test_web_sessions.py).
    roles = ["handhaving", "committee", "retrain", "admin", "systeem"]
    parser.add_argument("--role", choices=roles, required=True, help="systeem: the case-management system")
    parser.add_argument("--name", required=True)


def _configure_token_revoke(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", type=int, required=True)
    parser.add_argument("--reason", required=True)


def token_create(args: argparse.Namespace) -> Outcome:
    from serving.store import ServingStore

    token, record = ServingStore().create_token(name=args.name, role=args.role)
    return Outcome(
        [
            f"token {record.id} for {record.name} (role {record.role}); shown once, stored only as a hash:",
            token,
        ],
        {"token": token, "record": record.as_dict()},
    )


def token_list(args: argparse.Namespace) -> Outcome:
    from serving.store import ServingStore

    records = ServingStore().tokens()
    lines = [f"{len(records)} token(s)"] + [
        f"  {r.id}  {r.role:<10} {r.name}  {'active' if r.active else 'revoked: ' + str(r.revocation_reason)}"
        for r in records
    ]
    return Outcome(lines, {"tokens": [r.as_dict() for r in records]})


def token_revoke(args: argparse.Namespace) -> Outcome:
    from serving.store import ServingStore

    ServingStore().revoke_token(args.id, args.reason)
    return Outcome([f"token {args.id} revoked"], {"revoked": args.id})


def _configure_subject_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--case-id", required=True, help="an aanvraag_id or periode_id of the person")
    parser.add_argument(
        "--data", type=Path, default=None, help="the source extract (default: RISKSCAN_HOME/data)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="the letter (default: RISKSCAN_HOME/letters/inzage-<case>.html)",
    )


def subject_report(args: argparse.Namespace) -> Outcome:
    from features.register import default_register
    from models.governance import GovernanceStore
    from serving.store import ServingStore
    from serving.subject import STYLESHEET, render_letter
    from serving.subject import subject_report as build

    with ServingStore() as store:
        report = build(
            store.engine,
            args.data or home.data_dir(),
            args.case_id,
            default_register(),
            {scan: load_spec(scan) for scan in scan_ids()},
            GovernanceStore().rulings(),
        )
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", report.case_id)
    output = args.output or home.home() / "letters" / f"inzage-{safe}.html"
    output.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(STYLESHEET, output.parent / STYLESHEET.name)  # the letter links it: no inline style
    output.write_text(render_letter(report, STYLESHEET.name), encoding="utf-8")
    selected = sum(s.signal or s.control for s in report.scorings)
    lines = [
        f"access letter for the person behind {report.case_id}: {len(report.case_ids)} case(s) in the extract, "
        f"scored {len(report.scorings)} time(s), selected {selected} time(s)",
        f"  written to {output} (with {STYLESHEET.name} beside it)",
    ]
    return Outcome(
        lines, {"case_ids": report.case_ids, "scorings": len(report.scorings), "output": str(output)}
    )


VERBS = (
    Verb(
        "serve",
        "run the BentoML service (port 3000): scores, explanations, outcomes, worklist",
        _configure_serve,
        serve,
    ),
    Verb(
        "score-batch",
        "score a caseload with the champion, flag up to capacity, log every case",
        _configure_batch,
        score_batch,
    ),
    Verb(
        "cases",
        "list logged cases of a scan (and version, period) with signal, outcome and status",
        _configure_cases,
        cases,
    ),
    Verb("outcome", "record an investigation's outcome against a request id", _configure_outcome, outcome),
    Verb(
        "token",
        "create, list or revoke API tokens",
        actions=(
            Verb(
                "create",
                "create an API token (shown once, stored hashed)",
                _configure_token_create,
                token_create,
            ),
            Verb("list", "list tokens (never their values)", handler=token_list),
            Verb("revoke", "revoke a token", _configure_token_revoke, token_revoke),
        ),
    ),
    Verb(
        "subject-report",
        "write the access letter (AVG art. 15) for the person behind a case, in Dutch",
        _configure_subject_report,
        subject_report,
    ),
)
