"""The demo's committee story, told through the service's own pages.

``make demo`` starts ``riskscan serve`` early, and two DEMO committee members then decide through the same
HTTP endpoints the decision form posts to: they log in with their tokens, the first records the decision
(``POST /ui/audits/{scan}/{version}/decide``), the second co-signs it (``POST .../cosign``). Every decision
is marked DEMO on the form and in its rationale. The checklist answers come from
``ethics_review/demo_checklist.yaml``, which says on every line that it is a demonstration.
"""

from __future__ import annotations

import html as markup
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from riskscan.errors import Refusal, Unavailable

READY_SECONDS = 300  # BentoML starts in about 30 s on a quiet 2-core machine, minutes under load


@dataclass
class Service:
    """``riskscan serve`` running in the background for the demo."""

    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_service(port: int, log: Path) -> Service:
    """Start ``riskscan serve`` on ``port`` and wait until it answers ``/readyz``."""
    riskscan = Path(sys.executable).parent / "riskscan"
    log.parent.mkdir(parents=True, exist_ok=True)
    output = log.open("wb")
    process = subprocess.Popen(
        [str(riskscan), "serve", "--port", str(port), "--host", "0.0.0.0"],
        stdout=output,
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
    )
    url = f"http://localhost:{port}"
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Unavailable(f"the demo service exited with {process.returncode}; see {log}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return Service(url, process)
        except httpx.HTTPError:
            pass
        time.sleep(1)
    process.terminate()
    raise Unavailable(
        f"the demo service did not answer /readyz on port {port} in {READY_SECONDS} s; see {log}"
    )


class Member:
    """A DEMO committee member, signed in to the pages with a committee token."""

    def __init__(self, service: Service, token: str) -> None:
        self.client = httpx.Client(base_url=service.url, timeout=120, follow_redirects=False)
        login = self.client.get("/ui/login")
        self.csrf = _field(login.text, "csrf")
        answer = self.client.post("/ui/login", data={"token": token, "csrf": self.csrf, "next": "/ui/audits"})
        if answer.status_code != 303:
            raise Refusal(f"demo login refused ({answer.status_code})")
        # Login rotates the CSRF token (serving/web/_session.py): the forms take the signed-in session's.
        self.csrf = _field(self.client.get("/ui/audits").text, "csrf")

    def decide(self, scan: str, version: str, word: str, rationale: str, checklist: Path) -> int:
        """Fill in the decision form as its page pre-fills it (the audit's obligations, 12 months), and post it."""
        form_page = self.client.get(f"/ui/audits/{scan}/{version}")
        form_page.raise_for_status()
        answers = yaml.safe_load(checklist.read_text(encoding="utf-8"))
        fields: dict[str, Any] = {f"answer-{key}": text for key, text in answers.items()}
        fields |= {
            "csrf": self.csrf,
            "decision": word,
            "rationale": rationale,
            "demo": "ja",
            "conditions": "",
        }
        fields["valid_until"] = _field(form_page.text, "valid_until") if word != "afwijzen" else ""
        if word == "goedkeuren-onder-voorwaarden":
            fields |= _obligation_fields(form_page.text)
        answer = self.client.post(f"/ui/audits/{scan}/{version}/decide", data=fields)
        if answer.status_code != 303:
            error = re.search(r'id="error"[^>]*>(.*?)</div>', answer.text, re.S)
            raise Refusal(
                f"the decision form refused: {_text(error.group(1)) if error else answer.status_code}"
            )
        return int(answer.headers["location"].rsplit("=", 1)[1])

    def cosign(self, scan: str, version: str, decision_id: int) -> None:
        answer = self.client.post(
            f"/ui/audits/{scan}/{version}/cosign", data={"csrf": self.csrf, "decision_id": str(decision_id)}
        )
        if answer.status_code != 303:
            raise Refusal(f"co-signing decision {decision_id} was refused ({answer.status_code})")


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).strip()


def _field(html: str, name: str) -> str:
    """The value of the form field ``name`` on a page (the pages put ``name`` before ``value``)."""
    match = re.search(rf'name="{re.escape(name)}"[^>]*?value="([^"]*)"', html)
    if match is None:
        raise Refusal(f"the page has no field {name!r}")
    return match.group(1)


def _obligation_fields(html: str) -> dict[str, str]:
    """The obligation fields exactly as the page pre-filled them (inputs and text areas)."""
    fields = dict(
        re.findall(r'name="(obligation-\d+-(?:check|cases_needed|due))"[^>]*?value="([^"]*)"', html)
    )
    areas = re.findall(r'name="(obligation-\d+-text_nl)"[^>]*>([^<]*)</textarea>', html)
    fields |= {name: markup.unescape(text) for name, text in areas}
    return {name: markup.unescape(value) for name, value in fields.items()}
