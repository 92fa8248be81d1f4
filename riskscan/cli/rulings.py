"""A column ruled unlawful: ``riskscan register rule-unlawful`` and ``riskscan reexamination status``."""

from __future__ import annotations

import argparse
from typing import Any

from riskscan.cli._caller import TOKEN_VARIABLE, caller
from riskscan.cli._verb import Outcome, Verb


def _configure_rule(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--column", required=True, help="the register column ruled unlawful")
    parser.add_argument("--reason", required=True, help="why its collection or use is unlawful")
    parser.add_argument(
        "--token",
        help=f"a committee or admin token; the ruling is recorded under its identity (default: ${TOKEN_VARIABLE})",
    )


def rule_unlawful(args: argparse.Namespace) -> Outcome:
    from models.governance import GovernanceStore
    from serving.cascade import rule_unlawful as cascade
    from serving.store import ServingStore

    token = caller(args.token, "rule")
    store = ServingStore()
    report = cascade(GovernanceStore(), store, column=args.column, reason=args.reason, token=token)
    ruling = report.ruling
    (progress,) = store.reexamination_progress([ruling])
    blocked = ", ".join(f"{b.scan} {b.version}" for b in report.blocked) or "none"
    lines = [
        f"{'resumed' if report.resumed else 'recorded'} ruling {ruling.id}: column '{ruling.column_name}' is "
        f"unlawful from {ruling.created_at:%Y-%m-%d %H:%M} UTC "
        f"(by {ruling.ruled_by}, token {ruling.ruled_by_token_id})",
        f"  reason: {ruling.reason}",
        f"  blocked versions (promotion refused): {blocked}",
        f"  champions withdrawn: {', '.join(report.withdrawn) or 'none'}",
        f"  cases affected {progress.affected}: investigations halted {progress.halted}, re-examination tasks "
        f"{progress.tasks}",
        "  the reviewed register.yaml must now follow: role forbidden, lawful false, forbidden_reason citing "
        f"ruling {ruling.id}",
    ]
    payload = {
        "ruling": ruling.as_dict(),
        "resumed": report.resumed,
        "blocked": [b.as_dict() for b in report.blocked],
        "withdrawn": list(report.withdrawn),
        "progress": progress.as_dict(),
    }
    return Outcome(lines, payload)


def status_lines(progress: Any) -> list[str]:
    """One ruling's re-examination progress, as ``reexamination status`` and the scenario print it."""
    ruling = progress.ruling
    oldest = progress.oldest_open
    return [
        f"ruling {ruling.id} ({ruling.created_at:%Y-%m-%d}): column '{ruling.column_name}'"
        + ("" if progress.complete else " (cascade NOT complete: run rule-unlawful again to finish it)"),
        "  versions blocked: "
        + (
            ", ".join(
                f"{b.scan} {b.version}{' (was champion)' if b.was_champion else ''}"
                for b in progress.versions
            )
            or "none"
        ),
        f"  cases affected {progress.affected}; investigations halted {progress.halted}; re-examination tasks "
        f"{progress.tasks}: open {progress.open}, done {progress.done} (upheld {progress.upheld}, revised "
        f"{progress.revised}, withdrawn {progress.withdrawn})",
        "  oldest open task: "
        + (f"case {oldest.case_id}, scored {oldest.created_at:%Y-%m-%d}" if oldest is not None else "none"),
    ]


def reexamination_status(args: argparse.Namespace) -> Outcome:
    from models.governance import GovernanceStore
    from serving.store import ServingStore

    report = ServingStore().reexamination_progress(GovernanceStore().rulings())
    lines = [f"{len(report)} ruling(s)"]
    for progress in report:
        lines += status_lines(progress)
    return Outcome(lines, {"rulings": [p.as_dict() for p in report]})


VERBS = (
    Verb(
        "register",
        "rulings on the feature register",
        actions=(
            Verb(
                "rule-unlawful",
                "rule a register column unlawful: block, withdraw, halt and re-examine what used it",
                _configure_rule,
                rule_unlawful,
            ),
        ),
    ),
    Verb(
        "reexamination",
        "the re-examination of cases after a ruling",
        actions=(
            Verb(
                "status",
                "per ruling: cases affected, halted, tasks open and done, the oldest open task",
                handler=reexamination_status,
            ),
        ),
    ),
)
