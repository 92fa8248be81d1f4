"""The entry point: build the parser from every stage's verbs, run one, and turn its end into an exit code.

Only a :class:`~riskscan.errors.Refusal` ends a verb politely (one sentence, :attr:`ExitCode.REFUSED`).
Anything else is a bug: one line on stderr naming the exception, :attr:`ExitCode.BUG`, and with
``RISKSCAN_DEBUG`` set the exception propagates so its traceback shows.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

from riskscan import jsonio, timerange
from riskscan.cli._verb import Outcome, Verb
from riskscan.errors import Refusal
from riskscan.exit_codes import ExitCode, table

DEBUG_VARIABLE = "RISKSCAN_DEBUG"


def _verbs() -> list[Verb]:
    # Imported here, not at the top: the stage modules import their packages, and a parser is all
    # `riskscan --help` needs from them.
    from riskscan.cli import (
        data,
        demo,
        ethics,
        evidence,
        features,
        governance,
        jobs,
        rulings,
        scenario,
        serving,
        training,
    )

    stages = (data, features, training, ethics, governance, serving, evidence, rulings, jobs, scenario)
    return [verb for stage in stages for verb in stage.VERBS] + [demo.verb(main)]


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``riskscan`` with every verb; its help ends with the exit-code table."""
    parser = argparse.ArgumentParser(
        prog="riskscan",
        description="Risk scans for WW enforcement. A signal selects a case for investigation; it never decides.",
        epilog=table()
        + "\n\n"
        + textwrap.fill(f"dates (--from/--to on every verb): {timerange.RULES}.", 100),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="<verb>")
    for verb in _verbs():
        verb.install(verbs)
    return parser


def invoke(argv: Sequence[str]) -> Outcome:
    """Run one verb as ``riskscan`` would and hand back its :class:`Outcome`, printing and writing
    nothing; a refusal or a bug propagates (for tests and for programs that embed a verb)."""
    args = build_parser().parse_args(argv)
    outcome: Outcome = args.handler(args)
    return outcome


def _debugging() -> bool:
    return bool(os.environ.get(DEBUG_VARIABLE))


def _quiet_mlflow() -> None:
    """MLflow's INFO lines and per-file download bars drown the verbs' own summaries; its warnings stay.
    Set before any package imports mlflow; an explicit environment setting wins, and so does debugging."""
    if not _debugging():
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _write_json(args: argparse.Namespace, payload: dict[str, Any]) -> None:
    if getattr(args, "json", None):
        jsonio.write_json(args.json, {"verb": args.verb, **payload})


def _refused(args: argparse.Namespace, exc: Refusal) -> ExitCode:
    text = str(exc)
    first, _, rest = text.partition("\n")
    print(f"riskscan {args.verb}: refused: {first}", file=sys.stderr)
    if rest:
        print(rest, file=sys.stderr)
    _write_json(args, {"refused": True, "reason": text})
    return ExitCode.REFUSED


def _bug(args: argparse.Namespace, exc: Exception) -> ExitCode:
    message = " ".join(str(exc).split())  # one line, whatever the exception holds
    print(
        f"riskscan {args.verb}: bug: {type(exc).__name__}: {message} (this is a bug in riskscan, not a refusal; "
        f"run again with {DEBUG_VARIABLE}=1 to see the traceback)",
        file=sys.stderr,
    )
    return ExitCode.BUG


def main(argv: Sequence[str] | None = None) -> int:
    """``riskscan``: run the verb ``argv`` names and return its exit code (see :mod:`.exit_codes`)."""
    _quiet_mlflow()
    args = build_parser().parse_args(argv)
    try:
        outcome: Outcome = args.handler(args)
    except Refusal as exc:
        if _debugging():
            raise
        return _refused(args, exc)
    except Exception as exc:
        if _debugging():
            raise
        return _bug(args, exc)
    for line in outcome.lines:
        print(line)
    _write_json(args, outcome.payload)
    return int(outcome.exit_code)
