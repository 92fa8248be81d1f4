"""Enforcement staff in a real headless Chromium: log in, open the worklist, record an outcome, see it."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.browser import chromium_page
from tests.serving.conftest import Server, caseload


@pytest.mark.browser
def test_login_worklist_record_outcome_and_see_it_listed(server: Server, tmp_path: Path) -> None:
    scored = httpx.post(
        f"{server.url}/score",
        headers=server.headers("systeem"),
        timeout=60,
        json={"scan": "vw", "cases": caseload(server.home, "vw", 400), "top_n": 4},
    )
    assert scored.status_code == 200, scored.text
    assert any(r["signal"] for r in scored.json()["results"]), "the caseload must produce signals"
    screenshot = Path(os.environ.get("RISKSCAN_SCREENSHOT", tmp_path / "worklist.png"))
    with chromium_page(width=1200, height=1400) as page:
        page.goto(f"{server.url}/ui/worklist?scan=vw")
        assert "/ui/login" in page.url, "pages need a login"
        page.fill("#token", "rs_wrong")
        page.click("#login")
        assert "unknown or revoked token" in page.inner_text("#login-error")
        page.fill("#token", server.home.tokens["handhaving"])
        page.click("#login")
        page.wait_for_url("**/ui/worklist?scan=vw")
        assert "Een signaal is een selectie voor onderzoek, geen besluit" in page.inner_text(".banner")
        first = page.locator(".case").first
        request_id = first.get_attribute("data-request-id")
        assert request_id
        assert "bewust niet getoond" in page.inner_text("#selection")
        assert "score" not in first.inner_text().lower(), "staff see no score (a blind control sample)"
        page.screenshot(path=str(screenshot), full_page=False)
        # A violation without hoor en wederhoor is refused, with the reason shown.
        first.locator("input[name=violation][value=ja]").check()
        first.locator("button[type=submit]").click()
        assert "hoor_en_wederhoor" in page.inner_text("#error")
        page.go_back()
        page.reload()
        first = page.locator(f".case[data-request-id='{request_id}']")
        first.locator("input[name=violation][value=ja]").check()
        first.locator("input[name=hoor_en_wederhoor]").check()
        first.locator("select[name=sanction]").select_option("waarschuwing")
        first.locator("input[name=notes]").fill("cliënt gehoord, verklaring ontvangen")
        first.locator("button[type=submit]").click()
        page.wait_for_selector("#saved")
        assert request_id in page.inner_text("#saved")
        assert request_id in page.inner_text("#recent")
        assert page.locator(f".case[data-request-id='{request_id}']").count() == 0, (
            "handled cases leave the list"
        )
    assert screenshot.stat().st_size > 20_000


@pytest.mark.browser
def test_forms_without_the_csrf_token_are_refused(server: Server) -> None:
    response = httpx.post(f"{server.url}/ui/outcome", data={"request_id": "x", "violation": "nee"})
    assert response.status_code == 403 and "CSRF" in response.text


@pytest.mark.browser
def test_committee_page_lists_versions_decisions_and_reports(server: Server) -> None:
    with chromium_page() as page:
        page.goto(f"{server.url}/ui/login?next=/ui/audits")
        page.fill("#token", server.home.tokens["committee"])
        page.click("#login")
        page.wait_for_url("**/ui/audits")
        text = page.inner_text("main")
        assert "Besluiten" in text and "test approval of test data" in text
        page.locator("table.list a[href$='/report']").first.click()
        assert "Audit riskscan-" in page.inner_text("h1")


@pytest.mark.browser
def test_no_page_breaks_the_content_security_policy(server: Server) -> None:
    """Every page, each as its role sees it, loads with the strict policy and logs no violation: no inline
    script or style is left in the templates. The stored reports have their own, script-free policy."""
    pages = {
        "handhaving": [
            "/ui/login",
            "/ui/worklist?scan=vw",
            "/ui/worklist?scan=sollicitatie",
            "/ui/worklist?scan=x",
        ],
        "committee": ["/ui/audits", f"/ui/audits/vw/{server.home.versions['vw']}"],
        "admin": ["/ui/admin"],
    }
    violations: list[str] = []
    with chromium_page() as page:
        page.on("console", lambda message: violations.append(f"{page.url}: {message.text}"))
        for role, paths in pages.items():
            page.context.clear_cookies()
            page.goto(f"{server.url}/ui/login?next={paths[1] if len(paths) > 1 else paths[0]}")
            page.fill("#token", server.home.tokens[role])
            page.click("#login")
            page.wait_for_load_state()
            for path in paths:
                response = page.goto(f"{server.url}{path}")
                assert response is not None
                assert "script-src 'self'" in response.headers["content-security-policy"]
                assert (
                    page.evaluate("getComputedStyle(document.querySelector('header')).display") == "flex"
                ), f"{path}: the stylesheet is served and applied"
        page.goto(f"{server.url}/ui/audits")
        page.locator("table.list a[href$='/report']").first.click()  # a stored report, under its own policy
        page.wait_for_load_state()
        assert "Audit riskscan-" in page.inner_text("h1")
        # The error page's "Terug" runs back.js (history.back()) under the policy: it returns to the admin
        # page, where the link's own href, the fallback without JavaScript, would lead to the login page.
        page.goto(f"{server.url}/ui/admin")
        page.goto(f"{server.url}/ui/worklist?scan=x")
        page.click("#back")
        page.wait_for_url("**/ui/admin")
    assert not [v for v in violations if "Content Security Policy" in v or "Refused" in v], violations
