"""The committee decides in the product, in a real headless Chromium: member A records a conditional approval
on the decision form, member B co-signs it, an admin promotes the version, and it serves. Then the rights:
handhaving may do no committee action, the committee may not promote, and every form needs its CSRF token.

The promotion and the withdrawal change what the shared server serves, so they are ``destructive`` (run
last; the withdrawal takes sollicitatie, as ``test_http.py``'s destructive test does too).
"""

from __future__ import annotations

import os
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from ethics_review.audit import audit_version
from features.sources import read_source
from models import gate
from models.gate_reasons import ENGLISH, GateReason, unmet
from models.governance import GovernanceStore
from models.specs import load_spec
from serving.store import ServingStore
from serving.web._refusals import DUTCH, in_dutch
from tests.browser import chromium_page
from tests.lifecycle import home_environment
from tests.serving.conftest import LANDING, Server, caseload, form_csrf
from training.train import train_scan


def log_in(page: Any, server: Server, token: str, target: str) -> None:
    page.goto(f"{server.url}/ui/login?next={target}")
    page.fill("#token", token)
    page.click("#login")
    page.wait_for_url(f"**{target}")


@pytest.fixture(scope="module")
def candidate(server: Server) -> tuple[str, str]:
    """A new, audited VW version in the served home, and a second committee member's token."""
    with home_environment(server.home.path):
        spec = load_spec("vw")
        source = read_source(server.home.data, spec.table)
        version = train_scan(spec, source, progress=lambda _: None).version
        audit_version("vw", version, data_dir=server.home.data, progress=lambda _: None)
        second, _record = ServingStore().create_token(name="test committee B", role="committee")
    return version, second


def fill_checklist(page: Any) -> None:
    for area in page.locator("textarea[id^=answer-]").all():
        area.fill("Beoordeeld in de test op testgegevens.")


@pytest.mark.browser
@pytest.mark.destructive
def test_two_members_sign_an_admin_promotes_and_the_version_serves(
    server: Server, candidate: tuple[str, str], tmp_path: Path
) -> None:
    version, second_token = candidate
    form_page = f"/ui/audits/vw/{version}"
    shot = Path(os.environ.get("RISKSCAN_DOCS", tmp_path)) / "decision-form.png"
    with chromium_page(width=1400, height=1100) as page:
        log_in(page, server, server.home.tokens["committee"], form_page)
        assert "onvoldoende bewijs" in page.inner_text("#audit-summary")
        # The README's picture is the page as a member opens it: its top, the summary first (filling the
        # form scrolls the page to its middle, which is what the picture showed before).
        page.evaluate("window.scrollTo(0, 0)")
        assert page.evaluate("window.scrollY") == 0
        page.screenshot(path=str(shot), full_page=False)
        fill_checklist(page)
        page.fill("#rationale", "Voorwaardelijk goedgekeurd: de onbesliste toetsen worden gevolgd.")
        page.check("#decision-goedkeuren-onder-voorwaarden")
        # Plain approval on undecided checks: refused, the form comes back as sent, nothing recorded.
        page.check("#decision-goedkeuren")
        page.click("#submit-decision")
        assert "onvoldoende bewijs is geen 'voldoet'" in page.inner_text("#error"), (
            "the gate's refusal in Dutch"
        )
        assert page.input_value("#rationale").startswith("Voorwaardelijk goedgekeurd")
        # A missing checklist answer is refused naming the field.
        page.fill("#answer-rereview_date", "")
        page.check("#decision-goedkeuren-onder-voorwaarden")
        page.evaluate("document.getElementById('answer-rereview_date').removeAttribute('required')")
        page.click("#submit-decision")
        assert "answer-rereview_date is verplicht" in page.inner_text("#error")
        page.fill("#answer-rereview_date", "Over zes maanden, of eerder bij drift.")
        page.click("#submit-decision")
        page.wait_for_selector("#recorded")
        assert "wacht op medeondertekening" in page.inner_text("#current-decision")
        assert page.locator("#cosign").count() == 0, "the member who decided cannot co-sign"
    with home_environment(server.home.path):
        decision = GovernanceStore().current_decision("vw", version)
    assert decision is not None and decision.decision == "approve-with-conditions"

    with chromium_page(width=1400, height=1000) as page:
        log_in(page, server, second_token, form_page)
        page.click("#cosign")
        page.wait_for_selector("#cosigned")
        assert "van kracht" in page.inner_text("#current-decision")
        assert "test committee B" in page.inner_text("#signatures")
        page.goto(f"{server.url}/ui/admin")
        assert "mag niet versies in gebruik nemen of intrekken" in page.inner_text("main")

    with chromium_page(width=1400, height=1000) as page:
        log_in(page, server, server.home.tokens["admin"], "/ui/admin")
        page.click(f"#promote-vw-{version}")
        page.wait_for_selector("#promoted")
    deadline = time.monotonic() + 20
    while True:
        scored = httpx.post(
            f"{server.url}/score",
            headers=server.headers("systeem"),
            json={"scan": "vw", "cases": caseload(server.home, "vw", 3)},
            timeout=60,
        )
        assert scored.status_code == 200, scored.text
        if scored.json()["results"][0]["model"]["version"] == version or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert scored.json()["results"][0]["model"]["version"] == version, "the promoted version serves"
    assert shot.stat().st_size > 30_000


@pytest.mark.browser
def test_handhaving_may_do_no_committee_action_and_the_committee_may_not_promote(server: Server) -> None:
    def session(role: str) -> httpx.Client:
        # Signing in rotates the CSRF token, so the forms below carry the one the signed-in page shows;
        # with the old one every refusal would be the CSRF check's and prove nothing about roles.
        landing = "/ui/admin" if role == "admin" else LANDING[role]
        client = httpx.Client(base_url=server.url, timeout=30)
        before = form_csrf(client.get("/ui/login").text)
        client.post("/ui/login", data={"token": server.home.tokens[role], "csrf": before, "next": landing})
        signed_in = client.get(landing)
        assert signed_in.status_code == 200, signed_in.text
        client.headers["x-csrf"] = form_csrf(signed_in.text)
        assert client.headers["x-csrf"] != before
        return client

    version = server.home.versions["vw"]
    with closing(session("handhaving")) as staff:
        csrf = staff.headers["x-csrf"]
        assert staff.get(f"/ui/audits/vw/{version}").status_code == 403
        decide = staff.post(f"/ui/audits/vw/{version}/decide", data={"csrf": csrf, "decision": "afwijzen"})
        assert decide.status_code == 403
        assert (
            staff.post(f"/ui/audits/vw/{version}/cosign", data={"csrf": csrf, "decision_id": "1"}).status_code
            == 403
        )
        assert (
            staff.post("/ui/admin/promote", data={"csrf": csrf, "scan": "vw", "version": version}).status_code
            == 403
        )
    with closing(session("committee")) as member:
        csrf = member.headers["x-csrf"]
        assert member.get("/ui/admin").status_code == 403
        promote = member.post("/ui/admin/promote", data={"csrf": csrf, "scan": "vw", "version": version})
        assert promote.status_code == 403
        # Without the CSRF token every form is refused, whoever is signed in.
        assert (
            member.post(f"/ui/audits/vw/{version}/decide", data={"decision": "afwijzen"}).status_code == 403
        )
        assert member.post(f"/ui/audits/vw/{version}/cosign", data={"decision_id": "1"}).status_code == 403
        # An unknown field is refused by name, and nothing is recorded.
        unknown = member.post(
            f"/ui/audits/vw/{version}/decide", data={"csrf": csrf, "decided_by": "A. de Vries"}
        )
        assert (
            unknown.status_code == 422
            and "onbekend veld in het formulier: &#39;decided_by&#39;" in unknown.text
        )
    with closing(session("admin")) as admin:
        assert admin.post("/ui/admin/withdraw", data={"scan": "vw", "reason": "x"}).status_code == 403


@pytest.mark.browser
@pytest.mark.destructive
def test_a_withdrawal_needs_a_reason_and_then_lists_the_affected_cases(server: Server) -> None:
    httpx.post(
        f"{server.url}/score",
        headers=server.headers("systeem"),
        json={"scan": "sollicitatie", "cases": caseload(server.home, "sollicitatie", 300), "top_n": 0},
        timeout=60,
    ).raise_for_status()
    with chromium_page(width=1400, height=1000) as page:
        log_in(page, server, server.home.tokens["admin"], "/ui/admin")
        page.click("#withdraw-sollicitatie")
        assert "Een reden van intrekking is verplicht" in page.inner_text("#error")
        page.go_back()
        page.fill("#reason-sollicitatie", "test: onrechtmatige gegevensbron")
        page.click("#withdraw-sollicitatie")
        page.wait_for_selector("#withdrawn")
        count = page.inner_text("#affected-count")
        assert "gevallen zijn door deze versie geselecteerd" in count
        assert page.locator("#affected tr").count() >= 2, "the selected cases are listed"


#: Facts for every gate reason, named as the gate names them (models/gate.py).
FACTS = {
    "scan": "vw",
    "version": "7",
    "decision_id": 12,
    "decision": "approve",
    "audit": "3173bb899687",
    "decided_audit": "38c1e6fb7dfb",
    "count": 2,
    "checks": ["selection rate: leeftijd 15-26", "error rate: nationaliteit"],
    "check": "error rate: nationaliteit",
    "signers": ["Commissielid A (token 1)"],
    "valid_until": "2026-03-02",
    "column": "werkmap_logins",
    "ruling_id": 1,
    "ruled_on": "2026-12-02",
    "ruling_reason": "via cookies verzameld",
}


def test_every_gate_reason_has_a_dutch_wording_for_the_pages() -> None:
    assert set(DUTCH) == set(GateReason) == set(ENGLISH), "a new reason must not reach a page unworded"
    for code in GateReason:
        reason = unmet(code, **FACTS)
        dutch = in_dutch(reason)
        assert dutch and dutch != reason.text, code
    expired = in_dutch(unmet(GateReason.EXPIRED, **FACTS))
    assert expired == "De goedkeuring (besluit 12) is verlopen op 2 maart 2026."
    assert in_dutch(unmet(GateReason.NOT_COSIGNED, **{**FACTS, "signers": []})).startswith(
        "Besluit 12 is nog door niemand ondertekend"
    )


@pytest.mark.browser
def test_a_refused_promotion_on_the_admin_page_names_the_gate_s_reasons_in_dutch(
    server: Server, candidate: tuple[str, str]
) -> None:
    """Before the committee decided (the destructive test below decides later): the gate refuses."""
    version, _second = candidate
    with home_environment(server.home.path):
        english = gate.check_promotion("vw", version, GovernanceStore()).unmet
    assert f"no committee decision is recorded for version {version}" in english, "the API and CLI's words"
    with chromium_page(width=1400, height=1000) as page:
        log_in(page, server, server.home.tokens["admin"], "/ui/admin")
        row = page.inner_text(f"#version-vw-{version}")
        assert f"Er is geen besluit van de commissie vastgelegd voor versie {version}." in row
        page.click(f"#promote-vw-{version}")
        page.wait_for_selector("#refused")
        refused = page.inner_text("#refused")
        assert f"Promotie van vw versie {version} geweigerd" in refused
        assert f"Er is geen besluit van de commissie vastgelegd voor versie {version}." in refused
        assert "no committee decision" not in refused and "no committee decision" not in page.inner_text(
            "main"
        )
