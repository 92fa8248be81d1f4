"""Why the gate says no, typed: one code per condition, the facts it names, and its English sentence.

The gate (:mod:`models.gate`) refuses with a list of :class:`~riskscan.errors.Reason` values made here.
The API and the command line show their English ``text``; the committee's and the admin's pages word the
same code and facts in Dutch (``serving/web/_refusals.py``), so no page parses an English sentence and a
new reason cannot reach a page unworded (a test checks every code has its Dutch wording).

Facts are plain values (text, numbers, lists of text), named the same in both languages: ``version``,
``scan``, ``decision_id``, ``decision`` (the gate's English decision word), ``audit`` (the first 12
characters of an audit hash), ``checks`` (check ids), ``count``, dates as ``YYYY-MM-DD``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from riskscan.errors import Reason

#: An audit hash as a reason shows it.
SHORT_HASH = 12


class GateReason(StrEnum):
    """Every condition the gate can find unmet, when promoting, deciding, co-signing or withdrawing."""

    # promotion (models.gate.check_promotion)
    NO_AUDIT = "no_audit"
    AUDIT_HASH_MISMATCH = "audit_hash_mismatch"
    NO_AUDIT_DOCUMENT = "no_audit_document"
    FAILED_CHECKS = "failed_checks"
    NO_DECISION = "no_decision"
    REJECTED = "rejected"
    NOT_COSIGNED = "not_cosigned"
    STALE_AUDIT = "stale_audit"
    NO_VALID_UNTIL = "no_valid_until"
    EXPIRED = "expired"
    PLAIN_APPROVAL_ON_UNDECIDED = "plain_approval_on_undecided"
    MISSING_OBLIGATIONS = "missing_obligations"
    WITHDRAWN = "withdrawn"
    BLOCKED_BY_RULING = "blocked_by_ruling"
    # a decision (models.gate.decide) and its second signature (models.gate.cosign)
    DECISION_WITHOUT_AUDIT = "decision_without_audit"
    APPROVAL_ON_FAILED_AUDIT = "approval_on_failed_audit"
    APPROVE_ON_UNDECIDED = "approve_on_undecided"
    NO_OBLIGATION_FOR_CHECK = "no_obligation_for_check"
    OBLIGATION_NOT_UNDECIDED = "obligation_not_undecided"
    COSIGN_ON_STALE_AUDIT = "cosign_on_stale_audit"
    # a withdrawal (models.gate.withdraw)
    WITHDRAWAL_WITHOUT_REASON = "withdrawal_without_reason"


Wording = Callable[[Mapping[str, Any]], str]


def _checks(facts: Mapping[str, Any]) -> str:
    return "; ".join(facts["checks"])


ENGLISH: dict[GateReason, Wording] = {
    GateReason.NO_AUDIT: lambda f: (
        f"version {f['version']} has no audit on record "
        f"(run 'riskscan audit --scan {f['scan']} --version {f['version']}')"
    ),
    GateReason.AUDIT_HASH_MISMATCH: lambda f: (
        f"the stored audit report of version {f['version']} does not match its recorded hash {f['audit']}"
    ),
    GateReason.NO_AUDIT_DOCUMENT: lambda f: (
        f"the audit of version {f['version']} ({f['audit']}) has no audit.json to read its checks from"
    ),
    GateReason.FAILED_CHECKS: lambda f: (
        f"the latest audit of version {f['version']} ({f['audit']}) has {f['count']} failed check(s): "
        f"{_checks(f)}"
    ),
    GateReason.NO_DECISION: lambda f: f"no committee decision is recorded for version {f['version']}",
    GateReason.REJECTED: lambda f: (
        f"the committee rejected version {f['version']} (decision {f['decision_id']})"
    ),
    GateReason.NOT_COSIGNED: lambda f: (
        f"decision {f['decision_id']} is signed by {', '.join(f['signers']) or 'nobody'} only: it takes "
        "effect when a second, different committee member co-signs it"
    ),
    GateReason.STALE_AUDIT: lambda f: (
        f"the committee's decision {f['decision_id']} approved audit {f['decided_audit']}, but the latest "
        f"audit is {f['audit']}: the committee must review the current audit"
    ),
    GateReason.NO_VALID_UNTIL: lambda f: (
        f"decision {f['decision_id']} names no valid_until date; every approval must"
    ),
    GateReason.EXPIRED: lambda f: f"the approval (decision {f['decision_id']}) expired on {f['valid_until']}",
    GateReason.PLAIN_APPROVAL_ON_UNDECIDED: lambda f: (
        f"the audit has {f['count']} gating check(s) with insufficient evidence, and decision "
        f"{f['decision_id']} is a plain '{f['decision']}': only 'approve-with-conditions' with a monitoring "
        f"obligation per undecided check can promote ({_checks(f)})"
    ),
    GateReason.MISSING_OBLIGATIONS: lambda f: (
        f"decision {f['decision_id']} names no monitoring obligation for: {_checks(f)}"
    ),
    GateReason.WITHDRAWN: lambda f: f"version {f['version']} was withdrawn and cannot be promoted again",
    GateReason.BLOCKED_BY_RULING: lambda f: (
        f"version {f['version']} was trained on column '{f['column']}', which ruling {f['ruling_id']} of "
        f"{f['ruled_on']} found unlawful: {f['ruling_reason']}"
    ),
    GateReason.DECISION_WITHOUT_AUDIT: lambda f: (
        f"version {f['version']} has no audit; the committee decides on an audit report"
    ),
    GateReason.APPROVAL_ON_FAILED_AUDIT: lambda f: f"the audit failed check(s) {_checks(f)}",
    GateReason.APPROVE_ON_UNDECIDED: lambda f: (
        f"{f['count']} gating check(s) have insufficient evidence, which is not a pass: decide "
        f"'approve-with-conditions' with a monitoring obligation for each of {_checks(f)}"
    ),
    GateReason.NO_OBLIGATION_FOR_CHECK: lambda f: f"no obligation names the undecided check {f['check']!r}",
    GateReason.OBLIGATION_NOT_UNDECIDED: lambda f: (
        f"obligation for {f['check']!r}, which is not an undecided gating check of this audit"
    ),
    GateReason.COSIGN_ON_STALE_AUDIT: lambda f: (
        f"it was given on audit {f['decided_audit']}, but the audit was re-run since "
        f"({f['audit'] or 'none'}): the committee decides again on the current audit"
    ),
    GateReason.WITHDRAWAL_WITHOUT_REASON: lambda f: "a reason is required",
}


def unmet(code: GateReason, **facts: Any) -> Reason:
    """The typed reason ``code`` with its ``facts`` and its English sentence."""
    return Reason(code.value, ENGLISH[code](facts), facts)


def short(sha256: str | None) -> str:
    """An audit hash as the reasons show it ('' for none)."""
    return (sha256 or "")[:SHORT_HASH]
