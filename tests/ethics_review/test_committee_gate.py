"""The committee's rules at the gate, on a real trained and audited version: insufficient evidence is not a
pass, four eyes, separation of duties, a stale audit, an expired approval.

These tests only add decisions (the gate's reasons are read, not acted on), so they do not depend on the
promotions and the withdrawal of ``test_audit_and_gate.py`` that share the session's world.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from ethics_review.audit import audit_version
from models.gate import check_promotion, cosign, decide, latest_audit, today_utc
from models.governance import (
    Obligation,
    check_id,
    months_ahead,
    proposed_obligations,
    undecided_checks,
)
from riskscan.errors import Conflict, Forbidden, GateRefusal, InvalidInput
from serving.signing import signatory
from serving.store import ServingStore
from serving.subject import dutch_date
from serving.web._refusals import all_in_dutch
from tests.ethics_review.conftest import World
from tests.lifecycle import CHECKLIST, committee_members


def _audit(world: World) -> dict[str, Any]:
    _sha, audit, _actual = latest_audit("vw", world.clean.version)
    assert audit is not None
    return audit


def _decide(world: World, **overrides: Any) -> Any:
    today = today_utc()
    fields: dict[str, Any] = {
        "scan": "vw",
        "version": world.clean.version,
        "decision": "approve-with-conditions",
        "signer": committee_members()[0],
        "rationale": "test decision",
        "checklist": CHECKLIST,
        "obligations": proposed_obligations(_audit(world), today),
        "valid_until": months_ahead(today, 12),
    }
    fields.update(overrides)
    return decide(world.store, **fields)


def test_the_world_has_undecided_checks_to_oblige(world: World) -> None:
    """The premise of the tests below: the small test world leaves gating checks undecided."""
    assert len(undecided_checks(_audit(world))) >= 3


def test_plain_approve_on_undecided_checks_is_refused_naming_them(world: World) -> None:
    before = world.store.decisions("vw", world.clean.version)
    undecided = [check_id(c) for c in undecided_checks(_audit(world))]
    with pytest.raises(GateRefusal, match="insufficient evidence, which is not a pass") as refused:
        _decide(world, decision="approve", obligations=[])
    assert all(check in str(refused.value) for check in undecided)
    [dutch] = all_in_dutch(refused.value.reasons)  # the decision form's wording of the same refusal
    assert dutch.startswith(f"{len(undecided)} poorttoets(en) hebben onvoldoende bewijs")
    assert all(check in dutch for check in undecided)
    assert world.store.decisions("vw", world.clean.version) == before, "nothing was recorded"


def test_every_undecided_check_needs_its_own_obligation(world: World) -> None:
    obligations = proposed_obligations(_audit(world), today_utc())
    with pytest.raises(
        GateRefusal, match=re.escape(f"no obligation names the undecided check {obligations[0].check!r}")
    ):
        _decide(world, obligations=obligations[1:])
    stray = Obligation("no such check", "Her-audit", None, today_utc())
    with pytest.raises(GateRefusal, match="obligation for 'no such check', which is not an undecided"):
        _decide(world, obligations=[*obligations, stray])


def test_derived_obligations_follow_the_undecided_checks_and_audit_proposals_win(world: World) -> None:
    audit = _audit(world)
    today = today_utc()
    derived = proposed_obligations(audit, today)
    assert [o.check for o in derived] == [check_id(c) for c in undecided_checks(audit)]
    assert all(today < o.due <= months_ahead(today, 12) and "uiterlijk op" in o.text_nl for o in derived)
    proposal = {"check": "x", "text_nl": "Her-audit van x", "cases_needed": 120, "due": "2027-03-01"}
    assert [
        o.as_dict() for o in proposed_obligations({**audit, "proposed_obligations": [proposal]}, today)
    ] == [proposal]
    for bad in ("120", -1, True):
        with pytest.raises(
            InvalidInput, match=r"proposed_obligations\[0\].cases_needed must be a whole number"
        ):
            proposed_obligations(
                {**audit, "proposed_obligations": [{**proposal, "cases_needed": bad}]}, today
            )
    # 0 more cases: the evidence already has 80% power and the check is undecided by chance
    enough = proposed_obligations({**audit, "proposed_obligations": [{**proposal, "cases_needed": 0}]}, today)
    assert enough[0].cases_needed == 0


@pytest.mark.parametrize(
    ("valid_until", "message"),
    [
        (None, "valid_until is required for decision 'approve-with-conditions'"),
        ("13 months", "must lie between today .* and 12 months ahead"),
        ("yesterday", "must lie between today"),
    ],
)
def test_an_approval_needs_a_valid_until_at_most_twelve_months_ahead(
    world: World, valid_until: str | None, message: str
) -> None:
    today = today_utc()
    day = {"13 months": months_ahead(today, 13), "yesterday": today - timedelta(days=1), None: None}[
        valid_until
    ]
    with pytest.raises(InvalidInput, match=message):
        _decide(world, valid_until=day)


def test_a_decision_takes_effect_only_when_a_different_member_cosigns(world: World) -> None:
    first, second = committee_members()
    decision = _decide(world, signer=first)
    check = check_promotion("vw", world.clean.version, world.store)
    assert f"decision {decision.id} is signed by test committee A only" in " ".join(check.unmet)
    assert (
        f"Besluit {decision.id} is alleen ondertekend door test committee A" in all_in_dutch(check.reasons)[0]
    )

    with pytest.raises(Conflict, match=f"signed decision {decision.id} already"):
        cosign(world.store, decision_id=decision.id, signer=first)
    cosign(world.store, decision_id=decision.id, signer=second)
    assert [s.token_id for s in world.store.signatures(decision.id)] == [first.token_id, second.token_id]
    unmet = " ".join(check_promotion("vw", world.clean.version, world.store).unmet)
    assert "co-signs" not in unmet and "obligation" not in unmet and "valid_until" not in unmet


def test_the_version_s_registrar_and_other_roles_may_not_sign(world: World) -> None:
    from models import registry

    registrar = registry.get_version("vw", world.clean.version).tags["registered_by"]
    store = ServingStore()
    as_registrar = signatory(store.create_token(name=registrar, role="committee")[1])
    with pytest.raises(Forbidden, match="registered version .* may not sign its decision"):
        _decide(world, signer=as_registrar)
    decision = _decide(world)
    with pytest.raises(Forbidden, match="registered version"):
        cosign(world.store, decision_id=decision.id, signer=as_registrar)
    staff = signatory(store.create_token(name="handhaver", role="handhaving")[1])
    with pytest.raises(Forbidden, match="role 'handhaving'; only committee tokens sign"):
        cosign(world.store, decision_id=decision.id, signer=staff)
    assert len(world.store.signatures(decision.id)) == 1


def test_an_expired_approval_no_longer_promotes(world: World) -> None:
    first, second = committee_members()
    decision = _decide(world, signer=first)
    cosign(world.store, decision_id=decision.id, signer=second)
    later = decision.valid_until + timedelta(days=1)
    check = check_promotion("vw", world.clean.version, world.store, today=later)
    assert (
        f"the approval (decision {decision.id}) expired on {decision.valid_until.isoformat()}" in check.unmet
    )
    day = dutch_date(datetime.combine(decision.valid_until, datetime.min.time()))  # "2 december 2027"
    assert f"De goedkeuring (besluit {decision.id}) is verlopen op {day}." in all_in_dutch(check.reasons)


def test_cosigning_on_a_stale_audit_is_refused(world: World) -> None:
    """Last in this file: it re-runs the audit."""
    first, second = committee_members()
    decision = _decide(world, signer=first)
    audit_version("vw", world.clean.version, data_dir=world.data, progress=lambda _: None)
    with pytest.raises(GateRefusal, match="the audit was re-run since") as refused:
        cosign(world.store, decision_id=decision.id, signer=second)
    assert len(world.store.signatures(decision.id)) == 1
    [dutch] = all_in_dutch(refused.value.reasons)
    assert dutch.startswith(f"Het besluit is genomen op audit {decision.audit_sha256[:12]}, maar de audit is")


def test_decide_on_the_command_line_signs_with_committee_tokens(
    world: World, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from riskscan.cli import main

    store = ServingStore()
    first, _ = store.create_token(name="cli member A", role="committee")
    second, _ = store.create_token(name="cli member B", role="committee")
    staff, _ = store.create_token(name="cli staff", role="handhaving")
    answers = [f"--answer={key}=antwoord" for key in CHECKLIST]
    argv = ["decide", "--scan", "vw", "--version", world.clean.version, "--rationale", "cli test", *answers]
    valid = ["--valid-until", months_ahead(today_utc(), 6).isoformat()]

    assert main([*argv, "--decision", "approve", *valid, "--token", first]) == 2
    assert "insufficient evidence, which is not a pass" in capsys.readouterr().err
    assert main([*argv, "--decision", "reject", "--token", staff]) == 2
    assert "has role 'handhaving'" in capsys.readouterr().err
    monkeypatch.setenv("RISKSCAN_COMMITTEE_TOKENS", "")
    assert main([*argv, "--decision", "reject"]) == 2
    assert "--token is required" in capsys.readouterr().err

    monkeypatch.setenv("RISKSCAN_COMMITTEE_TOKENS", f"{first},{second}")
    out = tmp_path / "decided.json"
    assert main([*argv, "--decision", "approve-with-conditions", *valid, "--json", str(out)]) == 0
    import json

    payload = json.loads(out.read_text())
    assert [s["signer_name"] for s in payload["signatures"]] == ["cli member A", "cli member B"]
    assert payload["decision"]["decided_by"][0].startswith("cli member A (token ")
    decision_id = payload["decision"]["id"]
    assert len(world.store.obligations(decision_id)) == len(undecided_checks(_audit(world)))
