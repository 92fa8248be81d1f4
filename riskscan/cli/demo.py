"""``riskscan demo``: the whole life cycle on embedded defaults, one verb after another.

The demo runs each step as a user would type it, through a ``run`` callable it is given (``riskscan``'s
own entry point, handed in by the parser that builds this verb), so no verb imports the command line's
entry point and every step prints, refuses and exits exactly as it does on its own.
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import synthetic
from features.register import default_register
from models.specs import SCANS_DIR, scan_ids
from riskscan import home
from riskscan.cli._demo_committee import Member, start_service
from riskscan.cli._verb import Outcome, Verb
from riskscan.errors import Refusal
from riskscan.exit_codes import ExitCode

#: Runs ``riskscan <argv>`` and returns its exit code.
Run = Callable[[Sequence[str]], int]

#: The deliberately wrong VW variant with the nationality proxies, clearly marked as an experiment.
EXPERIMENT_SPEC = SCANS_DIR / "vw-proxy-experiment.yaml"
DEMO_REJECTION = (
    "DEMO-BESLUIT door 'make demo', geen echte beoordeling: afgewezen, de audit voldoet niet; het experiment "
    "gebruikt proxykenmerken voor nationaliteit."
)
DEMO_APPROVAL = (
    "DEMO-BESLUIT door 'make demo', geen echte beoordeling: goedgekeurd onder voorwaarden; elke toets met "
    "onvoldoende bewijs wordt gevolgd met een monitoringsverplichting."
)


def _shown(step: Sequence[str]) -> str:
    """A step as printed: a ``--token`` value as a placeholder, since the tokens are shown once, at the end."""
    return " ".join("<token>" if i > 0 and step[i - 1] == "--token" else part for i, part in enumerate(step))


def _run_steps(run: Run, steps: list[list[str]]) -> None:
    for step in steps:
        print(f"\n$ riskscan {_shown(step)}", flush=True)
        code = run(step)
        if code != ExitCode.SUCCESS:
            raise Refusal(f"demo stopped: 'riskscan {_shown(step)}' exited with {code}")


#: The demo's audit year (the validation and test months of its six years) holds every national VW
#: application, so that its audits can decide: on a 7% sample 60 of the VW audit's 81 gating checks were
#: undecided. The months before it stay a sample (training learns from investigated cases only).
DEMO_FULL_VOLUME_FROM = "2024-01"
#: Sollicitatie periods over the six years: a 4.7% sample, the most that keeps `make demo` under ten minutes
#: on two cores; its big groups decide, its small ones cannot (a full year would be 2.75 million periods).
DEMO_PERIODS = 1_000_000


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--applications",
        type=int,
        default=synthetic.GeneratorConfig().n_applications,
        help="VW applications in the sampled months before --full-volume-from",
    )
    parser.add_argument(
        "--full-volume-from", default=DEMO_FULL_VOLUME_FROM, help="YYYY-MM (default %(default)s)"
    )
    parser.add_argument("--periods", type=int, default=DEMO_PERIODS)
    parser.add_argument("--no-serve", action="store_true", help="stop after promotion and a batch run")
    parser.add_argument("--port", type=int, default=3000)


def _expect_refusal(run: Run, step: list[str]) -> None:
    """Run a step that must be refused (exit 2); anything else stops the demo."""
    print(f"\n$ riskscan {_shown(step)}", flush=True)
    code = run(step)
    if code != ExitCode.REFUSED:
        raise Refusal(f"demo stopped: 'riskscan {_shown(step)}' should have been refused, but exited {code}")
    print("(refused, as it must be)", flush=True)


def _trained(run: Run, scan: str, name: str, extra: list[str]) -> str:
    """Train and audit; the registered version."""
    out = home.home() / "demo" / f"train-{name}.json"
    _run_steps(run, [["train", "--scan", scan, *extra, "--json", str(out)]])
    version = str(json.loads(out.read_text())["result"]["version"])
    _run_steps(run, [["audit", "--scan", scan, "--version", version]])
    return version


def _committee_story(run: Run, members: tuple[Member, Member], admin: str, checklist: Path) -> None:
    """The refusal path, then the happy path, each decided by two DEMO members through the pages and
    promoted (or refused) under the DEMO admin's token."""
    first, second = members
    proxied = _trained(run, "vw", "vw-proxy-experiment", ["--spec", str(EXPERIMENT_SPEC)])
    print(
        f"\n[committee] DEMO member A rejects the proxy experiment (vw version {proxied}) on the decision form"
    )
    rejection = first.decide("vw", proxied, "afwijzen", DEMO_REJECTION, checklist)
    second.cosign("vw", proxied, rejection)
    print(f"[committee] decision {rejection} (afwijzen) co-signed by DEMO member B")
    _expect_refusal(run, ["promote", "--scan", "vw", "--version", proxied, "--token", admin])
    for scan in scan_ids():
        version = _trained(run, scan, scan, [])
        print(
            f"\n[committee] DEMO member A approves {scan} version {version} under conditions on the decision form"
        )
        decision = first.decide(scan, version, "goedkeuren-onder-voorwaarden", DEMO_APPROVAL, checklist)
        second.cosign(scan, version, decision)
        print(f"[committee] decision {decision} (goedkeuren onder voorwaarden) co-signed by DEMO member B")
        _run_steps(run, [["promote", "--scan", scan, "--version", version, "--token", admin]])


def demo(args: argparse.Namespace, run: Run) -> Outcome:
    """The whole life cycle on embedded defaults, each step run as ``riskscan <step>`` through ``run``."""
    import ethics_review
    from serving.store import ServingStore

    steps: list[list[str]] = [
        [
            "data",
            "generate",
            "--applications",
            str(args.applications),
            "--full-volume-from",
            args.full_volume_from,
            "--periods",
            str(args.periods),
        ],
        ["features", "build"],
    ]
    _run_steps(run, steps)
    checklist = Path(ethics_review.__file__).resolve().parent / "demo_checklist.yaml"
    store = ServingStore()
    tokens = {
        "A": store.create_token(name="DEMO commissielid A", role="committee")[0],
        "B": store.create_token(name="DEMO commissielid B", role="committee")[0],
        "admin": store.create_token(name="DEMO beheerder", role="admin")[0],
        "staff": store.create_token(name="DEMO handhaving", role="handhaving")[0],
        # /score is machine-to-machine: the case-management system calls it, never a person (serving/service.py)
        "system": store.create_token(name="DEMO zaaksysteem", role="systeem")[0],
    }
    service = start_service(args.port, home.home() / "demo" / "service.log")
    try:
        members = (Member(service, tokens["A"]), Member(service, tokens["B"]))
        _committee_story(run, members, tokens["admin"], checklist)
        _after_promotion(run)
    except BaseException:
        service.stop()
        raise
    lines = [
        "",
        "demo: a VW experiment with proxy columns failed its audit, was rejected by two DEMO committee members "
        "and refused at the gate; both clean scans approved under conditions (DEMO decisions, co-signed) and "
        "promoted; a simulated month monitored, a VW challenger retrained (not promoted), a caseload scored",
        f"  committee member A token (shown once): {tokens['A']}",
        f"  committee member B token (shown once): {tokens['B']}",
        f"  admin token (shown once):              {tokens['admin']}",
        f"  enforcement staff token (shown once):  {tokens['staff']}",
        f"  case-system token for /score (shown once): {tokens['system']}",
        f"  committee page:  http://localhost:{args.port}/ui/audits",
        f"  admin page:      http://localhost:{args.port}/ui/admin",
        f"  worklist:        http://localhost:{args.port}/ui/worklist?scan=vw",
    ]
    if args.no_serve:
        service.stop()
        return Outcome(lines, {"tokens": tokens})
    for line in lines:
        print(line, flush=True)
    print(f"\nthe service runs on port {args.port} (Ctrl-C stops it)", flush=True)
    try:
        code = service.process.wait()
    finally:
        service.stop()
    return Outcome([f"service stopped (exit {code})"], {}, exit_code=ExitCode(code))


def _after_promotion(run: Run) -> None:
    """The feedback loop on synthetic time, and a fresh caseload through the batch job."""
    # The feedback loop, on synthetic time: a month of drifted VW traffic with simulated outcomes, then the
    # two scheduled jobs. Monitoring exits 3 or 4 when it has findings; in the demo that is the point.
    _run_steps(run, [["simulate-month", "--month", "2025-01", "--cases", "8000", "--seed", "2026"]])
    monitor = ["monitor", "--scan", "vw", "--from", "2025-01-01", "--to", "2025-03-15"]
    print(f"\n$ riskscan {' '.join(monitor)}", flush=True)
    print(
        f"(exit code {run(monitor)}: {ExitCode.SUCCESS} healthy, {ExitCode.RETRAIN_RECOMMENDED} retrain "
        f"recommended, {ExitCode.COMMITTEE_REVIEW} committee review required)"
    )
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
    for scan in scan_ids():
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


def verb(run: Run) -> Verb:
    """The ``demo`` verb, running its steps through ``run``."""
    return Verb(
        "demo",
        "run the life cycle end to end on embedded defaults",
        _configure_demo,
        functools.partial(demo, run=run),
    )
