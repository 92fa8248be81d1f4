"""The evidence verb: ``log verify`` checks every hash chain, the anchors and an expected head; ``log purge``
erases old personal values from the decision log and anchors the heads it verified afterwards."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from models.specs import load_spec, scan_ids
from riskscan import timerange
from riskscan.cli._verb import Outcome, Verb
from riskscan.errors import InvalidInput
from riskscan.exit_codes import ExitCode

_EXPECTED = re.compile(r"(?:(?P<table>[a-z_]+):)?(?P<hash>[0-9a-f]{64})")


def anchor_after(scan: str, job: str) -> str:
    """Anchor the evidence heads after a batch job (:func:`serving.evidence.anchor_batch_job`); one line."""
    from riskscan import anchors
    from serving.evidence import anchor_batch_job
    from serving.store import ServingStore

    with ServingStore() as store:
        written, run_id = anchor_batch_job(store.engine, scan, job)
    log_head = written[0]
    return (
        f"  anchored {len(written)} chain head(s) in {anchors.default_directory()} and MLflow run {run_id} "
        f"(decision log: {log_head.rows} row(s), head {log_head.head_hash[:16]}...)"
    )


def _configure_verify(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--anchors",
        type=Path,
        help="a folder of anchor files (*.jsonl) to check the chains against; default: $RISKSCAN_HOME/anchors "
        "when it exists. Point it at the copy kept off this machine.",
    )
    parser.add_argument(
        "--expect-head",
        action="append",
        default=[],
        metavar="[TABLE:]HASH",
        help="the head hash a chain must have now (default table: decision_log), e.g. from a ticket; repeatable",
    )


def _expected_heads(values: list[str]) -> list[tuple[str, str]]:
    expected = []
    for value in values:
        match = _EXPECTED.fullmatch(value.strip())
        if match is None:
            raise InvalidInput(
                f"--expect-head {value!r} is not a head: expected 64 lowercase hexadecimal characters, "
                "optionally after a table name and a colon (outcomes:9f2c...)"
            )
        expected.append((match["table"] or "decision_log", match["hash"]))
    return expected


def _head_problems(engine: Any, expected: list[tuple[str, str]]) -> list[str]:
    from serving.evidence import chain_named

    problems = []
    for table, wanted in expected:
        chain = chain_named(table)
        with engine.connect() as connection:
            head = chain.head(connection)
        if head.head_hash != wanted:
            problems.append(
                f"{table}'s head is {head.head_hash} (row id {head.head_id}, {head.rows} row(s)), "
                f"not the expected {wanted}"
            )
    return problems


def _broken_sentence(report: Any) -> str:
    return (
        f"{report.table} TAMPERED OR BROKEN at row {report.first_broken_id}: {report.problem}; "
        f"{report.rows_checked} row(s) before it verified, the last intact one is row {report.head_id} "
        f"(hash {report.head_hash})"
    )


def log_verify(args: argparse.Namespace) -> Outcome:
    """Verify every evidence chain, then the anchors, then the expected heads; the first problem is the
    one sentence of a refusal (exit 2), the rest follow it."""
    from riskscan import anchors
    from serving.evidence import check_anchors, verify_all
    from serving.store import ServingStore

    expected = _expected_heads(args.expect_head)
    directory = args.anchors
    if directory is None and anchors.default_directory().is_dir():
        directory = anchors.default_directory()
    with ServingStore() as store:
        reports = verify_all(store.engine)
        written = [] if directory is None else anchors.read(directory)
        problems = [_broken_sentence(report) for report in reports if not report.ok]
        problems += check_anchors(store.engine, written)
        problems += _head_problems(store.engine, expected)
    payload = {
        "ok": not problems,
        "problems": problems,
        "chains": [report.as_dict() for report in reports],
        "anchors": {"directory": None if directory is None else str(directory), "read": len(written)},
    }
    if problems:
        # Evidence that does not verify is a refusal to vouch for it: exit REFUSED, the first problem in
        # one sentence (the payload keeps every field for scripts).
        return Outcome(problems, payload, exit_code=ExitCode.REFUSED)
    lines = [f"evidence intact: {len(reports)} hash chain(s) verified"]
    lines += [
        f"  {report.table}: {report.rows_checked} row(s), head row {report.head_id}, hash {report.head_hash}"
        + "".join(f", {name} {value}" for name, value in report.facts.items())
        for report in reports
    ]
    if directory is None:
        lines.append(
            "  no anchors checked: without a copy of the heads kept elsewhere (--anchors DIR), the newest rows "
            "could have been removed unseen"
        )
    else:
        lines.append(f"  {len(written)} anchor(s) in {directory} agree with the chains")
    lines += [f"  {table}'s head is the expected {wanted}" for table, wanted in expected]
    return Outcome(lines, payload)


def _configure_purge(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--before",
        required=True,
        help="erase the personal values of rows scored before this moment (a date is the start of that local "
        "day); refused inside any scan's retention period",
    )


def log_purge(args: argparse.Namespace) -> Outcome:
    """Erase the personal values of rows scored before ``--before`` (:func:`serving.purge.purge`), verify the
    decision log after it, and anchor the heads for every scan whose rows were erased."""
    from serving.store import ServingStore

    before = timerange.parse_from(args.before, "--before")
    with ServingStore() as store:
        report = store.purge(before, [load_spec(scan) for scan in scan_ids()])
        chain = store.verify_chain()
    lines = [
        f"erased the personal values (inputs, explanation) of {report.total_erased} row(s) scored before "
        f"{before.isoformat()}: " + ", ".join(f"{scan} {count}" for scan, count in report.erased.items()),
        "  kept whole: " + ", ".join(f"{count} {reason}" for reason, count in report.kept.items()),
        f"  database file rebuilt in {report.vacuum_seconds:.1f} s (VACUUM)"
        if report.total_erased
        else "  nothing erased, database file unchanged",
        f"  decision log {'intact' if chain.ok else 'BROKEN'}: {chain.rows_checked} row(s) verified, "
        f"{chain.facts['erased_rows']} of them erased; head {chain.head_hash}",
    ]
    if chain.ok:  # the heads just verified, kept outside the database; nothing to anchor when nothing changed
        lines += [anchor_after(scan, "purge") for scan, count in report.erased.items() if count]
    payload = {"purge": report.as_dict(), "chain": chain.as_dict()}
    return Outcome(lines, payload, exit_code=ExitCode.SUCCESS if chain.ok else ExitCode.REFUSED)


VERBS = (
    Verb(
        "log",
        "check the evidence, or erase old personal values from the decision log",
        actions=(
            Verb(
                "verify",
                "recompute every evidence hash chain and check it against the anchors",
                _configure_verify,
                log_verify,
            ),
            Verb(
                "purge",
                "erase the personal values of decision-log rows older than the scans' retention periods",
                _configure_purge,
                log_purge,
            ),
        ),
    ),
)
