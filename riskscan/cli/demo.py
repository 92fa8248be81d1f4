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
from models.specs import SCAN_IDS
from riskscan import home
from riskscan.cli._verb import Outcome, Verb
from riskscan.errors import Refusal
from riskscan.exit_codes import ExitCode

#: Runs ``riskscan <argv>`` and returns its exit code.
Run = Callable[[Sequence[str]], int]


def _run_steps(run: Run, steps: list[list[str]]) -> None:
    for step in steps:
        print(f"\n$ riskscan {' '.join(step)}", flush=True)
        code = run(step)
        if code != ExitCode.SUCCESS:
            raise Refusal(f"demo stopped: 'riskscan {' '.join(step)}' exited with {code}")


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


def demo(args: argparse.Namespace, run: Run) -> Outcome:
    """The whole life cycle on embedded defaults, each step run as ``riskscan <step>`` through ``run``."""
    import ethics_review

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
    checklist = str(Path(ethics_review.__file__).resolve().parent / "demo_checklist.yaml")
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
    return Outcome([f"service stopped (exit {code})"], {}, exit_code=ExitCode(code))


def verb(run: Run) -> Verb:
    """The ``demo`` verb, running its steps through ``run``."""
    return Verb(
        "demo",
        "run the life cycle end to end on embedded defaults",
        _configure_demo,
        functools.partial(demo, run=run),
    )
