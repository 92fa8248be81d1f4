"""The promotion gate: committee decisions, promotion to ``champion``, and withdrawal.

No model reaches staff without the committee's approval of that exact version *and* that exact audit.
``promote`` sets the ``champion`` alias only if all of these hold, and otherwise names every unmet one:

* the version has an audit on record, and the report still hashes to the recorded ``audit_sha256``;
* that latest audit has no failed check;
* the committee's current decision for the version approves it, reviewed that same audit hash, and
  has not expired;
* the version has not been withdrawn;
* no column the version was trained on (its inputs and its label) has been ruled unlawful.

Decisions, promotions and withdrawals are appended to the governance database (never edited) and
mirrored as model-version tags so that the MLflow registry tells the same story.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from models import registry
from models.governance import (
    DecisionRecord,
    GovernanceStore,
    PromotionRecord,
    RulingRecord,
    WithdrawalRecord,
)
from models.specs import load_spec
from riskscan.errors import GateRefusal


@dataclass
class GateCheck:
    scan: str
    version: str
    audit_sha256: str | None
    decision: DecisionRecord | None
    unmet: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.unmet


def _verified_audit_hash(scan: str, version: str, unmet: list[str]) -> str | None:
    """The recorded audit hash, after checking the stored report still has that hash."""
    mv = registry.get_version(scan, version)
    recorded = mv.tags.get("audit_sha256")
    if not recorded:
        unmet.append(
            f"version {version} has no audit on record (run 'riskscan audit --scan {scan} --version {version}')"
        )
        return None
    with tempfile.TemporaryDirectory() as tmp:
        report = registry.download_audit_file(scan, version, "report.html", Path(tmp))
        actual = hashlib.sha256(report.read_bytes()).hexdigest() if report and report.exists() else None
    if actual != recorded:
        unmet.append(
            f"the stored audit report of version {version} does not match its recorded hash {recorded[:12]}"
        )
    verdict = mv.tags.get("audit_verdict", "unknown")
    failed = int(mv.tags.get("audit_fail_count", "0") or 0)
    if verdict == "fail" or failed:
        unmet.append(f"the latest audit of version {version} ({recorded[:12]}) has {failed} failed check(s)")
    return recorded


def check_promotion(scan: str, version: str, store: GovernanceStore, today: date | None = None) -> GateCheck:
    today = today or datetime.now(UTC).date()
    unmet: list[str] = []
    audit_sha = _verified_audit_hash(scan, version, unmet)
    decision = store.current_decision(scan, version)
    if decision is None:
        unmet.append(f"no committee decision is recorded for version {version}")
    elif decision.decision == "reject":
        unmet.append(f"the committee rejected version {version} (decision {decision.id})")
    else:
        if audit_sha and decision.audit_sha256 != audit_sha:
            unmet.append(
                f"the committee's decision {decision.id} approved audit {decision.audit_sha256[:12]}, but the latest "
                f"audit is {audit_sha[:12]}: the committee must review the current audit"
            )
        if decision.valid_until is not None and decision.valid_until < today:
            unmet.append(
                f"the approval (decision {decision.id}) expired on {decision.valid_until.isoformat()}"
            )
    if store.is_version_withdrawn(scan, version):
        unmet.append(f"version {version} was withdrawn and cannot be promoted again")
    unmet += [
        f"version {version} was trained on column '{ruling.column_name}', which {ruling.sentence} found "
        f"unlawful: {ruling.reason}"
        for ruling in blocking_rulings(scan, version, store.rulings())
    ]
    return GateCheck(scan, version, audit_sha, decision, unmet)


def trained_columns(scan: str, version: str) -> frozenset[str]:
    """The columns a registered version's training used: its inputs (the signature it was registered
    with, which the register checked) and the label of its scan."""
    signature = registry.version_signature(scan, version)
    inputs = signature.inputs.input_names() if signature is not None and signature.inputs else []
    return frozenset([*inputs, load_spec(scan).label.column])


def blocking_rulings(scan: str, version: str, rulings: list[RulingRecord]) -> list[RulingRecord]:
    """The rulings that block a version: those about a column it was trained on."""
    if not rulings:
        return []
    used = trained_columns(scan, version)
    return [ruling for ruling in rulings if ruling.column_name in used]


def decide(
    store: GovernanceStore,
    *,
    scan: str,
    version: str,
    decision: str,
    decided_by: list[str],
    rationale: str,
    checklist: dict[str, str],
    conditions: list[str] | None = None,
    valid_until: date | None = None,
    demo: bool = False,
) -> DecisionRecord:
    """Record the committee's decision against the version's current audit hash."""
    mv = registry.get_version(scan, version)
    audit_sha = mv.tags.get("audit_sha256")
    if not audit_sha:
        raise GateRefusal(
            "decision", [f"version {version} has no audit; the committee decides on an audit report"]
        )
    record = store.record_decision(
        scan=scan,
        version=str(version),
        audit_sha256=audit_sha,
        decision=decision,
        decided_by=decided_by,
        rationale=rationale,
        conditions=list(conditions or []),
        valid_until=valid_until,
        checklist=checklist,
        demo=demo,
    )
    for key, value in {
        "decision": decision,
        "decision_id": str(record.id),
        "decision_by": ", ".join(decided_by),
        "decision_audit_sha256": audit_sha,
        "decision_valid_until": valid_until.isoformat() if valid_until else "",
        "decision_demo": str(demo).lower(),
    }.items():
        registry.set_version_tag(scan, version, key, value)
    return record


def promote(store: GovernanceStore, *, scan: str, version: str, promoted_by: str) -> PromotionRecord:
    check = check_promotion(scan, version, store)
    if not check.allowed:
        raise GateRefusal(f"promotion of {registry.model_name(scan)} version {version}", check.unmet)
    assert check.decision is not None and check.audit_sha256 is not None
    current = registry.version_by_alias(scan, registry.CHAMPION)
    previous = str(current.version) if current is not None else None
    # Record first: the store re-checks the decision inside its own transaction, and a refused record
    # must leave the aliases untouched.
    record = store.record_promotion(
        scan=scan,
        version=str(version),
        previous_version=previous,
        decision_id=check.decision.id,
        audit_sha256=check.audit_sha256,
        promoted_by=promoted_by,
    )
    if previous is not None and previous != str(version):
        registry.set_alias(scan, registry.PREVIOUS, previous)
        registry.set_version_tag(scan, previous, "status", "previous")
    registry.set_alias(scan, registry.CHAMPION, version)
    registry.set_version_tag(scan, version, "status", "champion")
    return record


def withdraw(store: GovernanceStore, *, scan: str, reason: str, withdrawn_by: str) -> WithdrawalRecord:
    """Remove the champion alias and block scoring of the scan until a new promotion.

    The withdrawal is recorded before the alias goes: the service and ``score-batch`` stop a scan on its
    recorded withdrawal, so a process that dies between the two steps has already stopped the scan, and
    running the withdrawal again (or :func:`retire_champion`) removes the alias.
    """
    if not reason.strip():
        raise GateRefusal("withdrawal", ["a reason is required"])
    current = registry.version_by_alias(scan, registry.CHAMPION)
    version = str(current.version) if current is not None else None
    record = store.record_withdrawal(scan=scan, version=version, reason=reason, withdrawn_by=withdrawn_by)
    if version is not None:
        retire_champion(scan, version, reason)
    return record


def retire_champion(scan: str, version: str, reason: str) -> None:
    """Take the ``champion`` alias off ``version`` (if it still has it) and tag the version withdrawn."""
    current = registry.version_by_alias(scan, registry.CHAMPION)
    if current is not None and str(current.version) == str(version):
        registry.delete_alias(scan, registry.CHAMPION)
    registry.set_version_tag(scan, version, "status", "withdrawn")
    registry.set_version_tag(scan, version, "withdrawn_reason", reason)
