"""The audit flags a model that uses the proxies and passes one that does not; the gate refuses
promotion without approval, with a stale audit hash, and after a failed audit."""

from __future__ import annotations

import json

import pytest

from ethics_review.algoritmeregister import AlgorithmIn
from ethics_review.audit import AuditResult, audit_version
from models import registry
from models.gate import check_promotion, decide, promote, today_utc, withdraw
from models.governance import CHECKLIST_KEYS
from riskscan.errors import GateRefusal
from tests.ethics_review.conftest import World
from tests.lifecycle import committee_approval, committee_members

CHECKLIST = {key: f"test answer for {key}" for key in CHECKLIST_KEYS}


def _checks(result: AuditResult, scope: str) -> list[dict]:
    return [c for c in result.audit["checks"] if c["scope"] == scope]


def test_model_using_proxies_is_flagged(world: World) -> None:
    proxy_fails = [c for c in _checks(world.proxied, "proxy scan") if c["verdict"] == "fail"]
    assert any("aanvraagkanaal" in c["name"] or "correspondentietaal" in c["name"] for c in proxy_fails)
    assert any(c["name"].startswith("inputs together do not predict nationaliteit") for c in proxy_fails)
    counterfactual_fails = [c for c in _checks(world.proxied, "counterfactual") if c["verdict"] == "fail"]
    assert counterfactual_fails, "neutralising a proxy input must move signals"
    assert world.proxied.verdict == "fail"


def test_model_without_proxies_is_not_flagged(world: World) -> None:
    assert not [c for c in _checks(world.clean, "proxy scan") if c["verdict"] == "fail"]
    assert not [c for c in _checks(world.clean, "counterfactual") if c["verdict"] == "fail"]
    assert all(s["max_abs_shift"] == 0 for s in world.clean.audit["counterfactual"]), (
        "non-inputs cannot move scores"
    )
    assert world.clean.verdict != "fail", [c for c in world.clean.audit["checks"] if c["verdict"] == "fail"]


def test_audit_outputs_are_logged_and_hashed(world: World) -> None:
    import hashlib

    version = registry.get_version("vw", world.clean.version)
    assert version.tags["audit_sha256"] == world.clean.report_sha256
    html = world.clean.local_paths["report.html"].read_bytes()
    assert hashlib.sha256(html).hexdigest() == world.clean.report_sha256
    audit = json.loads(world.clean.local_paths["audit.json"].read_text())
    for scope in ("population", "labelled_test", "control_sample"):
        groups = audit["fairness"][scope]["attributes"]["nationaliteit"]["groups"]
        assert "nederlands" in groups
    card = world.clean.local_paths["model_card.md"].read_text()
    assert "Model card" in card and "random control sample" in card
    entry = json.loads(world.clean.local_paths["algoritmeregister.json"].read_text())
    AlgorithmIn.model_validate(entry)  # the intake API's body, publication standard 1.0
    assert (entry["status"], entry["publication_category"]) == ("In ontwikkeling", "Hoog-risico AI-systeem")
    assert "bijlage III, punt 5, onder a" in entry["risks"]
    assert world.clean.report_sha256[:12] in entry["impacttoetsen"]


def test_promotion_without_approval_is_refused(world: World) -> None:
    with pytest.raises(GateRefusal, match="no committee decision"):
        promote(world.store, scan="vw", version=world.clean.version, promoted_by="test")


def test_promotion_after_a_failed_audit_is_refused(world: World) -> None:
    first, _second = committee_members()
    with pytest.raises(GateRefusal, match="decision 'approve' refused: the audit failed check"):
        decide(
            world.store,
            scan="vw",
            version=world.proxied.version,
            decision="approve",
            signer=first,
            rationale="approving despite the failed audit, to prove the gate holds",
            checklist=CHECKLIST,
            valid_until=today_utc(),
        )
    assert world.store.current_decision("vw", world.proxied.version) is None
    with pytest.raises(GateRefusal, match="failed check"):
        promote(world.store, scan="vw", version=world.proxied.version, promoted_by="test")


def test_stale_audit_hash_is_refused_then_fresh_approval_promotes(world: World) -> None:
    committee_approval(world.store, "vw", world.clean.version)
    re_audit = audit_version("vw", world.clean.version, data_dir=world.data, progress=lambda _: None)
    assert re_audit.report_sha256 != world.clean.report_sha256  # the audit time is in the report
    with pytest.raises(GateRefusal, match="must review the current audit"):
        promote(world.store, scan="vw", version=world.clean.version, promoted_by="test")
    committee_approval(world.store, "vw", world.clean.version)
    record = promote(world.store, scan="vw", version=world.clean.version, promoted_by="test")
    champion = registry.version_by_alias("vw", registry.CHAMPION)
    assert champion is not None
    assert str(champion.version) == world.clean.version
    assert record.audit_sha256 == re_audit.report_sha256


def test_withdrawal_removes_champion_and_blocks_repromotion(world: World) -> None:
    # Runs after the promotion above (pytest keeps file order); the module shares one registry.
    assert registry.version_by_alias("vw", registry.CHAMPION) is not None
    record = withdraw(world.store, scan="vw", reason="test withdrawal", withdrawn_by="test")
    assert registry.version_by_alias("vw", registry.CHAMPION) is None
    assert world.store.active_withdrawal("vw") is not None
    assert record.version == world.clean.version
    check = check_promotion("vw", world.clean.version, world.store)
    assert any("withdrawn" in reason for reason in check.unmet)
