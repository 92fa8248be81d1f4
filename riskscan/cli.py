"""``riskscan <verb>``: one command for every job in the life cycle.

Every verb prints a short human summary, can write its result as JSON with ``--json FILE``, and exits
non-zero with one clear sentence when it refuses. This module only parses arguments and calls the
packages; the work itself lives in features/, training/, models/, ethics_review/, serving/ and jobs/.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from riskscan import jsonio
from riskscan.errors import Refusal


@dataclass
class Outcome:
    """What a verb reports: lines for people, a payload for ``--json``, and the exit code."""

    lines: list[str]
    payload: dict[str, Any] = field(default_factory=dict)
    exit_code: int = 0


Handler = Callable[[argparse.Namespace], Outcome]
# Every refusal in the packages is a ValueError (InvalidInput, ConfigError, ConfigError,
# ForbiddenColumn, GateRefusal, ...) or a lookup of something that does not exist. They end the verb
# with one sentence, not a traceback; RISKSCAN_DEBUG=1 shows the traceback for developers.
_REFUSALS = (Refusal, ValueError, LookupError, FileNotFoundError)


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write the result as JSON to FILE")


def build_parser() -> argparse.ArgumentParser:
    from riskscan import verbs, verbs_ethics, verbs_jobs, verbs_serving  # imported here: `--help` stays fast

    parser = argparse.ArgumentParser(
        prog="riskscan",
        description="Risk scans for WW enforcement. A signal selects a case for investigation; it never decides.",
    )
    sub = parser.add_subparsers(dest="verb", required=True, metavar="<verb>")
    every_verb = {**verbs.VERBS, **verbs_ethics.VERBS, **verbs_serving.VERBS, **verbs_jobs.VERBS}
    for name, (help_text, configure, handler) in every_verb.items():
        verb_parser = sub.add_parser(name, help=help_text, description=help_text)
        configure(verb_parser)
        if not any(a.dest == "json" for a in verb_parser._actions):
            _add_json(verb_parser)
        if handler is not None:  # grouped verbs (data, log, token) set handlers on their sub-verbs
            verb_parser.set_defaults(handler=handler)
    return parser


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    jsonio.write_json(path, payload)


def _quiet_mlflow() -> None:
    """MLflow's INFO lines and per-file download bars drown the verbs' own summaries; its warnings stay.
    Set before any package imports mlflow; an explicit environment setting wins, and so does debugging."""
    if not os.environ.get("RISKSCAN_DEBUG"):
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_mlflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    verb = args.verb
    try:
        outcome = handler(args)
    except _REFUSALS as exc:
        if os.environ.get("RISKSCAN_DEBUG"):
            raise
        text = str(exc)
        first, _, rest = text.partition("\n")
        print(f"riskscan {verb}: refused: {first}", file=sys.stderr)
        if rest:
            print(rest, file=sys.stderr)
        if getattr(args, "json", None):
            _write_json(args.json, {"verb": verb, "refused": True, "reason": text})
        return 2
    for line in outcome.lines:
        print(line)
    if getattr(args, "json", None):
        _write_json(args.json, {"verb": verb, **outcome.payload})
    return outcome.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
