"""The audit flags a model that uses the proxies and passes one that does not; the gate refuses
promotion without approval, with a stale audit hash, and after a failed audit."""

from __future__ import annotations

import json
import re

import pytest

from ethics_review.algoritmeregister import AlgorithmIn
from ethics_review.audit import AuditResult, audit_version
from models import registry
from models.gate import check_promotion, decide, promote, today_utc
from models.governance import CHECKLIST_KEYS
from riskscan.cli import main
from riskscan.errors import GateRefusal
from serving.store import ServingStore
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
    # The committee reads the card in Dutch, in the report's verdict words and decimal commas.
    verdict = {"pass": "voldoet", "fail": "voldoet niet", "insufficient_evidence": "onvoldoende bewijs"}
    assert card.startswith(f"# Modelkaart: riskscan-vw versie {world.clean.version}")
    assert f"Oordeel: **{verdict[world.clean.verdict]}**" in card
    assert "onvoldoende bewijs)." in card and "aselecte controlesteekproef" in card
    assert re.search(r"\| ROC-AUC \| 0,\d{3} \| 0,\d{3} \|", card), "decimal commas"
    assert re.search(r"\| lift ten opzichte van aselecte selectie \| — \| \d+,\d{2} \(95%-BI ", card)
    assert "Model card" not in card and "Overall verdict" not in card and "insufficient evidence" not in card
    entry = json.loads(world.clean.local_paths["algoritmeregister.json"].read_text())
    AlgorithmIn.model_validate(entry)  # the intake API's body, publication standard 1.0
    assert (entry["status"], entry["publication_category"]) == ("In ontwikkeling", "Hoog-risico AI-systeem")
    assert "bijlage III, punt 5, onder a" in entry["risks"]
    assert world.clean.report_sha256[:12] in entry["impacttoetsen"]
    # The register says the verdict in the report's words, not a second vocabulary.
    assert f"): {verdict[world.clean.verdict]} (" in entry["risks"] and "geslaagd" not in json.dumps(entry)


def test_the_audit_pools_validation_and_test_months_and_counts_each_person_once(world: World) -> None:
    audit = world.clean.audit
    model = registry.load_scan_model("vw", world.clean.version)
    split = model.meta["split"]
    assert (audit["evidence"]["start"], audit["evidence"]["end"]) == (
        split["validation_start"],
        split["test_end"],
    )
    assert len(audit["evidence"]["months"]) == 12, "six validation and six test months"
    assert "early stopping" in audit["evidence"]["why"]
    assert audit["data"]["control_cases"] > 0


def test_each_question_gates_once_on_its_best_evidence(world: World) -> None:
    """Selection rates gate on every scored case; on the control sample they are shown, not gating."""
    checks = world.clean.audit["checks"]
    control_rates = [c for c in checks if c["id"].startswith("control:selection_rate:")]
    assert control_rates and not any(c["gating"] for c in control_rates)
    assert all("reported, not gating" in c["detail"] for c in control_rates)
    population_rates = [c for c in checks if c["id"].startswith("population:selection_rate:")]
    assert population_rates and all(c["gating"] for c in population_rates)
    assert {c["id"].split(":", 2)[2] for c in control_rates} <= {
        c["id"].split(":", 2)[2] for c in population_rates
    }
    error_rates = [c for c in checks if c["id"].startswith("control:false_positive_rate:")]
    assert error_rates and all(c["gating"] for c in error_rates)


def test_a_group_the_scan_routes_away_is_checked_as_never_scored(world: World) -> None:
    """Wajong applicants go to a labour expert, not to the VW scan: one group among the scored cases is what
    the routing must achieve, so the audit checks it (and does not call it undecided)."""
    (wajong,) = [c for c in world.clean.audit["checks"] if c["id"] == "comparability:wajong"]
    assert (wajong["verdict"], wajong["gating"]) == ("pass", True)
    assert "routed away" in wajong["detail"] and "wajong = False" in wajong["detail"]
    routed = int(wajong["detail"].split(" cases of the same months were routed away")[0].rsplit(" ", 1)[1])
    assert routed > 0, wajong["detail"]


def test_every_undecided_ratio_check_says_what_would_decide_it(world: World) -> None:
    checks = world.clean.audit["checks"]
    undecided = [c for c in checks if c["verdict"] == "insufficient_evidence" and c["id"].count(":") == 2]
    assert undecided, "a 120,000-row world leaves small groups undecided"
    for check in undecided:
        power = check["power"]
        assert set(power) >= {"minimum_detectable_ratio", "cases_needed", "months_needed"}
        if power["cases_needed"] is not None:
            assert power["months_needed"] is not None and power["months_needed"] >= 0
            assert power["minimum_detectable_ratio"] > 1.25
    assert not any("power" in c for c in checks if c["verdict"] != "insufficient_evidence")
    assert len({c["id"] for c in checks}) == len(checks), "check ids are unique"


def test_the_audit_proposes_one_obligation_per_undecided_gating_check(world: World) -> None:
    audit = world.clean.audit
    undecided = [c["id"] for c in audit["checks"] if c["gating"] and c["verdict"] == "insufficient_evidence"]
    obligations = audit["proposed_obligations"]
    assert [o["check"] for o in obligations] == undecided
    audited = audit["audited_at"][:10]
    for obligation in obligations:
        assert set(obligation) == {"check", "text_nl", "cases_needed", "due"}
        assert audited < obligation["due"] <= f"{int(audited[:4]) + 1}{audited[4:]}", "due within 12 months"
        assert obligation["text_nl"].startswith("Her-audit ") and obligation["due"] in obligation["text_nl"]


def test_the_report_opens_with_a_dutch_summary_and_one_table_of_undecided_checks(world: World) -> None:
    html = world.clean.local_paths["report.html"].read_text()
    summary = html[html.index("Samenvatting") : html.index("<h2>1.")]
    assert "Oordeel:" in summary and "Voorgestelde verplichtingen" in summary and "lift" in summary
    assert "logistic" in summary and "lightgbm" in summary, "both model families side by side"
    table = html[html.index('<table class="undecided">') :]
    table = table[: table.index("</table>")]
    ratio_checks = [
        c for c in world.clean.audit["checks"] if c["verdict"] == "insufficient_evidence" and "power" in c
    ]
    assert table.count("<tr>") == 1 + len(ratio_checks)
    assert "100,0% tegen" not in table or "te kleine groep" in table
    assert "Flagged disparities" not in html and "Verdict: insufficient evidence" not in html


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


def _admin_and_member() -> tuple[tuple[str, str], str]:
    """A fresh admin token (with the identity it records) and a committee token, for the command line."""
    store = ServingStore()
    admin, record = store.create_token(name="cli beheerder", role="admin")
    member, _ = store.create_token(name="cli commissielid", role="committee")
    return (admin, f"cli beheerder (token {record.id})"), member


def test_stale_audit_hash_is_refused_then_fresh_approval_promotes_with_an_admin_token(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    committee_approval(world.store, "vw", world.clean.version)
    re_audit = audit_version("vw", world.clean.version, data_dir=world.data, progress=lambda _: None)
    assert re_audit.report_sha256 != world.clean.report_sha256  # the audit time is in the report
    with pytest.raises(GateRefusal, match="must review the current audit"):
        promote(world.store, scan="vw", version=world.clean.version, promoted_by="test")
    committee_approval(world.store, "vw", world.clean.version)

    (admin, identity), member = _admin_and_member()
    argv = ["promote", "--scan", "vw", "--version", world.clean.version]
    monkeypatch.delenv("RISKSCAN_TOKEN", raising=False)
    assert main(argv) == 2
    assert "a token is required: pass --token or set RISKSCAN_TOKEN" in capsys.readouterr().err
    assert main([*argv, "--token", member]) == 2
    assert "role 'committee' may not promote; allowed roles: admin" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="2"):  # a typed name is no identity: --by is gone
        main([*argv, "--by", "typed name", "--token", admin])
    assert "unrecognized arguments: --by typed name" in capsys.readouterr().err
    assert world.store.promotions("vw") == [] and registry.version_by_alias("vw", registry.CHAMPION) is None

    monkeypatch.setenv("RISKSCAN_TOKEN", admin)
    assert main(argv) == 0
    assert f"promoted by {identity}" in capsys.readouterr().out
    [record] = world.store.promotions("vw")
    assert record.promoted_by == identity, "the admin token's identity, in the words the admin page uses"
    champion = registry.version_by_alias("vw", registry.CHAMPION)
    assert champion is not None
    assert str(champion.version) == world.clean.version
    assert record.audit_sha256 == re_audit.report_sha256


def test_withdrawal_with_an_admin_token_removes_champion_and_blocks_repromotion(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Runs after the promotion above (pytest keeps file order); the module shares one registry.
    assert registry.version_by_alias("vw", registry.CHAMPION) is not None
    (admin, identity), member = _admin_and_member()
    argv = ["withdraw", "--scan", "vw", "--reason", "test withdrawal"]
    monkeypatch.delenv("RISKSCAN_TOKEN", raising=False)
    assert main(argv) == 2
    assert "a token is required" in capsys.readouterr().err
    assert main([*argv, "--token", member]) == 2
    assert "role 'committee' may not promote" in capsys.readouterr().err
    assert world.store.active_withdrawal("vw") is None, "a refused withdrawal records nothing"

    assert main([*argv, "--token", admin]) == 0
    assert registry.version_by_alias("vw", registry.CHAMPION) is None
    record = world.store.active_withdrawal("vw")
    assert record is not None
    assert record.withdrawn_by == identity
    assert record.version == world.clean.version
    check = check_promotion("vw", world.clean.version, world.store)
    assert any("withdrawn" in reason for reason in check.unmet)
