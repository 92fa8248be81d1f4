"""The promotion gate on the command line: ``riskscan promote`` and ``riskscan withdraw``."""

from __future__ import annotations

import argparse

from models.specs import SCAN_IDS
from riskscan.cli._verb import Outcome, Verb


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


VERBS = (
    Verb(
        "promote",
        "make an approved, audited version the champion (the promotion gate)",
        _configure_promote,
        promote,
    ),
    Verb("withdraw", "withdraw a scan's champion and block its scoring", _configure_withdraw, withdraw),
)
