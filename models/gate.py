"""The promotion gate: committee decisions, promotion to ``champion``, and withdrawal.

No model reaches staff without the committee's approval of that exact version *and* that exact audit.
``promote`` sets the ``champion`` alias only if all of these hold, and otherwise names every unmet one
(:func:`check_promotion` returns them as a list of independent reasons, so other rules can add theirs;
each is typed, :mod:`models.gate_reasons`, so the pages can word it in Dutch):

* the version has an audit on record, and the report still hashes to the recorded ``audit_sha256``;
* that latest audit has no failed gating check;
* the committee's current decision for the version approves it, reviewed that same audit hash, is signed
  by two different committee tokens (four eyes), names a ``valid_until`` and has not expired;
* **insufficient evidence is not a pass**: if any gating check is ``insufficient_evidence``, the decision
  is ``approve-with-conditions`` and names a monitoring obligation for each such check;
* the version has not been withdrawn;
* no column the version was trained on (its inputs and its label) has been ruled unlawful.

Who signs: a decision is recorded under the signing member's token identity (a :class:`Signatory`,
resolved by the pages or the command line; this layer never sees a token) and takes effect only when a
second, different committee token co-signs it. The identity that registered the version (the
``registered_by`` tag, see :func:`models.registry.register_candidate`) may not sign, and neither may any
role but ``committee``.

Decisions, promotions and withdrawals are appended to the governance database (never edited) and
mirrored as model-version tags so that the MLflow registry tells the same story.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from mlflow.entities.model_registry import ModelVersion

from models import registry
from models.gate_reasons import GateReason, short, unmet
from models.governance import (
    MAX_VALID_MONTHS,
    DecisionRecord,
    GovernanceStore,
    Obligation,
    ObligationRecord,
    PromotionRecord,
    RulingRecord,
    Signatory,
    SignatureRecord,
    WithdrawalRecord,
    check_id,
    failed_checks,
    months_ahead,
    proposed_obligations,
    undecided_checks,
)
from models.specs import load_spec
from riskscan.errors import Forbidden, GateRefusal, InvalidInput, Reason

SIGNING_ROLE = "committee"
#: Signatures a decision needs before it takes effect: the member who records it and a second one.
SIGNATURES_NEEDED = 2


@dataclass(frozen=True)
class DecisionState:
    """A decision with its signatures and obligations: what the pages show and the gate reads."""

    decision: DecisionRecord
    signatures: list[SignatureRecord]
    obligations: list[ObligationRecord]

    @property
    def cosigned(self) -> bool:
        return len({s.token_id for s in self.signatures}) >= SIGNATURES_NEEDED


@dataclass
class GateCheck:
    scan: str
    version: str
    audit_sha256: str | None
    decision: DecisionRecord | None
    reasons: list[Reason] = field(default_factory=list)

    @property
    def unmet(self) -> list[str]:
        """The reasons in English, as the API and the command line give them."""
        return [reason.text for reason in self.reasons]

    @property
    def allowed(self) -> bool:
        return not self.reasons


def today_utc() -> date:
    return datetime.now(UTC).date()


def decision_state(store: GovernanceStore, decision: DecisionRecord) -> DecisionState:
    return DecisionState(decision, store.signatures(decision.id), store.obligations(decision.id))


def latest_audit(scan: str, version: str) -> tuple[str | None, dict[str, Any] | None, str | None]:
    """The recorded audit hash, ``audit.json`` and the stored report's actual hash (None where missing)."""
    mv = registry.get_version(scan, version)
    recorded = mv.tags.get("audit_sha256")
    if not recorded:
        return None, None, None
    with tempfile.TemporaryDirectory() as tmp:
        report = registry.download_audit_file(scan, version, "report.html", Path(tmp))
        actual = hashlib.sha256(report.read_bytes()).hexdigest() if report and report.exists() else None
        document = registry.download_audit_file(scan, version, "audit.json", Path(tmp))
        audit = json.loads(document.read_text(encoding="utf-8")) if document and document.exists() else None
    return recorded, audit, actual


def _audit_reasons(
    scan: str, version: str, reasons: list[Reason]
) -> tuple[str | None, dict[str, Any] | None]:
    recorded, audit, actual = latest_audit(scan, version)
    if not recorded:
        reasons.append(unmet(GateReason.NO_AUDIT, scan=scan, version=version))
        return None, None
    if actual != recorded:
        reasons.append(unmet(GateReason.AUDIT_HASH_MISMATCH, version=version, audit=short(recorded)))
    if audit is None:
        reasons.append(unmet(GateReason.NO_AUDIT_DOCUMENT, version=version, audit=short(recorded)))
    failed = [check_id(c) for c in failed_checks(audit)] if audit else []
    if failed:
        reasons.append(
            unmet(
                GateReason.FAILED_CHECKS,
                version=version,
                audit=short(recorded),
                count=len(failed),
                checks=failed,
            )
        )
    return recorded, audit


def _obligation_reasons(
    decision: DecisionRecord, audit: Mapping[str, Any], obliged: set[str]
) -> list[Reason]:
    """Insufficient evidence is not a pass: every undecided gating check needs an obligation."""
    undecided = [check_id(c) for c in undecided_checks(audit)]
    if not undecided:
        return []
    if decision.decision != "approve-with-conditions":
        return [
            unmet(
                GateReason.PLAIN_APPROVAL_ON_UNDECIDED,
                decision_id=decision.id,
                decision=decision.decision,
                count=len(undecided),
                checks=undecided,
            )
        ]
    missing = [c for c in undecided if c not in obliged]
    if missing:
        return [unmet(GateReason.MISSING_OBLIGATIONS, decision_id=decision.id, checks=missing)]
    return []


def _decision_reasons(
    state: DecisionState, audit_sha: str | None, audit: Mapping[str, Any] | None, today: date
) -> list[Reason]:
    decision = state.decision
    if not decision.approves:
        return [unmet(GateReason.REJECTED, version=decision.version, decision_id=decision.id)]
    reasons: list[Reason] = []
    if not state.cosigned:
        signers = [s.signer_name for s in state.signatures]
        reasons.append(unmet(GateReason.NOT_COSIGNED, decision_id=decision.id, signers=signers))
    if audit_sha and decision.audit_sha256 != audit_sha:
        reasons.append(
            unmet(
                GateReason.STALE_AUDIT,
                decision_id=decision.id,
                decided_audit=short(decision.audit_sha256),
                audit=short(audit_sha),
            )
        )
    if decision.valid_until is None:
        reasons.append(unmet(GateReason.NO_VALID_UNTIL, decision_id=decision.id))
    elif decision.valid_until < today:
        reasons.append(
            unmet(GateReason.EXPIRED, decision_id=decision.id, valid_until=decision.valid_until.isoformat())
        )
    if audit is not None and decision.audit_sha256 == audit_sha:
        reasons += _obligation_reasons(decision, audit, {o.check for o in state.obligations})
    return reasons


def check_promotion(scan: str, version: str, store: GovernanceStore, today: date | None = None) -> GateCheck:
    """Every reason the version may not be promoted now (none: it may)."""
    today = today or today_utc()
    reasons: list[Reason] = []
    audit_sha, audit = _audit_reasons(scan, version, reasons)
    decision = store.current_decision(scan, version)
    if decision is None:
        reasons.append(unmet(GateReason.NO_DECISION, version=version))
    else:
        reasons += _decision_reasons(decision_state(store, decision), audit_sha, audit, today)
    if store.is_version_withdrawn(scan, version):
        reasons.append(unmet(GateReason.WITHDRAWN, version=version))
    reasons += [
        unmet(
            GateReason.BLOCKED_BY_RULING,
            version=version,
            column=ruling.column_name,
            ruling_id=ruling.id,
            ruled_on=f"{ruling.created_at:%Y-%m-%d}",
            ruling_reason=ruling.reason,
        )
        for ruling in blocking_rulings(scan, version, store.rulings())
    ]
    return GateCheck(scan, version, audit_sha, decision, reasons)


# -------------------------------------------------------------------------------------------- signing


def _check_signer(signer: Signatory, mv: ModelVersion) -> None:
    """Only committee tokens sign, and never the identity that registered the version."""
    if signer.role != SIGNING_ROLE:
        raise Forbidden(f"{signer} has role '{signer.role}'; only committee tokens sign committee decisions")
    by_token = mv.tags.get("registered_by_token_id")
    by_name = mv.tags.get("registered_by", "")
    if (by_token and by_token == str(signer.token_id)) or (
        by_name and by_name.casefold() == signer.name.casefold()
    ):
        raise Forbidden(
            f"{signer} registered version {mv.version} of {mv.name} (registered_by {by_name!r}) and may not "
            "sign its decision: who builds a model does not approve it"
        )


def _valid_until(decision: str, valid_until: date | None, today: date) -> None:
    if decision == "reject":
        return
    latest = months_ahead(today, MAX_VALID_MONTHS)
    if valid_until is None:
        raise InvalidInput(f"valid_until is required for decision {decision!r}: a date at most {latest}")
    if not today <= valid_until <= latest:
        raise InvalidInput(
            f"valid_until {valid_until.isoformat()} must lie between today ({today}) and "
            f"{MAX_VALID_MONTHS} months ahead ({latest})"
        )


def _check_against_audit(decision: str, audit: Mapping[str, Any], obligations: Sequence[Obligation]) -> None:
    """An approval on a failed audit is refused; undecided checks need 'approve-with-conditions' and an
    obligation each; an obligation must name an undecided check."""
    if decision == "reject":
        return
    failed = [check_id(c) for c in failed_checks(audit)]
    if failed:
        raise GateRefusal(
            f"decision {decision!r}", [unmet(GateReason.APPROVAL_ON_FAILED_AUDIT, checks=failed)]
        )
    undecided = [check_id(c) for c in undecided_checks(audit)]
    if decision == "approve" and undecided:
        raise GateRefusal(
            "decision 'approve'",
            [unmet(GateReason.APPROVE_ON_UNDECIDED, count=len(undecided), checks=undecided)],
        )
    obliged = {o.check for o in obligations}
    missing = [c for c in undecided if c not in obliged]
    unknown = sorted(obliged - set(undecided))
    reasons = [unmet(GateReason.NO_OBLIGATION_FOR_CHECK, check=c) for c in missing]
    reasons += [unmet(GateReason.OBLIGATION_NOT_UNDECIDED, check=c) for c in unknown]
    if reasons:
        raise GateRefusal(f"decision {decision!r}", reasons)


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
    signer: Signatory,
    rationale: str,
    checklist: dict[str, str],
    conditions: Sequence[str] = (),
    obligations: Sequence[Obligation] = (),
    valid_until: date | None = None,
    demo: bool = False,
    today: date | None = None,
) -> DecisionRecord:
    """Record a decision against the version's current audit, signed by ``signer``; it takes effect once
    a second committee member co-signs it (:func:`cosign`).

    The obligations' texts are recorded among the decision's conditions too, so the decision row reads
    complete on its own.
    """
    today = today or today_utc()
    mv = registry.get_version(scan, version)
    _check_signer(signer, mv)
    audit_sha, audit, _actual = latest_audit(scan, version)
    if not audit_sha or audit is None:
        raise GateRefusal("decision", [unmet(GateReason.DECISION_WITHOUT_AUDIT, version=version)])
    _valid_until(decision, valid_until, today)
    _check_against_audit(decision, audit, obligations)
    all_conditions = [*conditions, *(o.text_nl for o in obligations)]
    record = store.record_decision(
        scan=scan,
        version=str(version),
        audit_sha256=audit_sha,
        decision=decision,
        signer=signer,
        rationale=rationale,
        conditions=all_conditions,
        obligations=list(obligations),
        valid_until=valid_until,
        checklist=checklist,
        demo=demo,
    )
    _tag_decision(record, signed_by=[str(signer)])
    return record


def cosign(store: GovernanceStore, *, decision_id: int, signer: Signatory) -> SignatureRecord:
    """The second signature: a different committee member, on the audit that is still the latest."""
    decision = store.decision(decision_id)
    if decision is None:
        raise InvalidInput(f"decision_id {decision_id} does not exist")
    mv = registry.get_version(decision.scan, decision.version)
    _check_signer(signer, mv)
    latest = mv.tags.get("audit_sha256")
    if latest != decision.audit_sha256:
        raise GateRefusal(
            f"co-signing decision {decision_id}",
            [
                unmet(
                    GateReason.COSIGN_ON_STALE_AUDIT,
                    decision_id=decision_id,
                    decided_audit=short(decision.audit_sha256),
                    audit=short(latest),
                )
            ],
        )
    signature = store.record_signature(decision_id, signer)
    _tag_decision(decision, signed_by=[s.signer_name for s in store.signatures(decision_id)])
    return signature


def approve_as_proposed(
    store: GovernanceStore,
    *,
    scan: str,
    version: str,
    signers: tuple[Signatory, Signatory],
    rationale: str,
    checklist: dict[str, str],
    demo: bool = False,
    today: date | None = None,
) -> DecisionRecord:
    """A scripted approval of the version's latest audit, as the gate allows it: with the obligations the
    audit proposes (then ``approve-with-conditions``) or plainly when it proposes none, valid for 12
    months, signed by the first signer and co-signed by the second. For the tests and the scenario, where
    no committee reads the audit; the committee itself decides on the form."""
    today = today or today_utc()
    _sha, audit, _actual = latest_audit(scan, version)
    if audit is None:
        raise InvalidInput(f"riskscan-{scan} version {version} has no audit to approve")
    obligations = proposed_obligations(audit, today)
    record = decide(
        store,
        scan=scan,
        version=version,
        decision="approve-with-conditions" if obligations else "approve",
        signer=signers[0],
        rationale=rationale,
        checklist=checklist,
        obligations=obligations,
        valid_until=months_ahead(today, 12),
        demo=demo,
    )
    cosign(store, decision_id=record.id, signer=signers[1])
    return record


def _tag_decision(record: DecisionRecord, *, signed_by: list[str]) -> None:
    for key, value in {
        "decision": record.decision,
        "decision_id": str(record.id),
        "decision_by": ", ".join(signed_by),
        "decision_audit_sha256": record.audit_sha256,
        "decision_valid_until": record.valid_until.isoformat() if record.valid_until else "",
        "decision_demo": str(record.demo).lower(),
    }.items():
        registry.set_version_tag(record.scan, record.version, key, value)


# ------------------------------------------------------------------------------- promotion, withdrawal


def promote(store: GovernanceStore, *, scan: str, version: str, promoted_by: str) -> PromotionRecord:
    check = check_promotion(scan, version, store)
    if not check.allowed:
        raise GateRefusal(f"promotion of {registry.model_name(scan)} version {version}", check.reasons)
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
        raise GateRefusal("withdrawal", [unmet(GateReason.WITHDRAWAL_WITHOUT_REASON, scan=scan)])
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
