"""The decision page as rendered, and the demo reading it back: the demo posts the form exactly as the page
pre-fills it (the audit's obligations, the longest ``valid_until``), so what the page shows is what is sent."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

from models.governance import Obligation
from riskscan.cli._demo_committee import _field, _obligation_fields
from serving.tokens import TokenRecord
from serving.web._decision_form import QUESTIONS_NL, read_decision_form
from serving.web._decisions import _obligation_fields as prefilled
from serving.web._render import page

OBLIGATIONS = [
    Obligation(
        "random control sample: selection_rate ratio, geslacht = vrouw",
        'Her-audit "vrouw" & co',
        400,
        date(2027, 6, 1),
    ),
    Obligation("all scored cases: groups of 'wajong' compared", "Her-audit wajong", None, date(2027, 3, 1)),
]


def rendered() -> str:
    audit = {
        "audited_at": "2026-12-02T04:00:00+00:00",
        "verdict": "insufficient_evidence",
        "summary": {"pass": 3, "fail": 0, "insufficient_evidence": 2},
    }
    undecided = [
        {"id": o.check, "name": o.check, "scope": "x", "power": {"cases_needed": 400}} for o in OBLIGATIONS
    ]
    response = page(
        "decision.html",
        scan="vw",
        version="7",
        spec=SimpleNamespace(name="Risicoscan verwijtbare werkloosheid"),
        tags={"registered_by": "trainer"},
        audit_sha="ab" * 32,
        audit=audit,
        failed=[],
        undecided=undecided,
        obligations=OBLIGATIONS,
        current=None,
        history=[],
        signed_by_me=False,
        questions=QUESTIONS_NL,
        today="2026-12-02",
        latest_valid_until="2027-12-02",
        values={"valid_until": "2027-12-02", **prefilled(OBLIGATIONS)},
        user=TokenRecord(3, "A. de Vries", "committee", datetime(2026, 1, 1, tzinfo=UTC)),
        csrf="csrf-token",
        error=None,
        recorded=None,
        cosigned=None,
    )
    return bytes(response.body).decode("utf-8")


def test_the_page_asks_every_question_and_prefills_the_obligations() -> None:
    html = rendered()
    assert all(f'name="answer-{key}"' in html for key in QUESTIONS_NL)
    assert "goedkeuren onder voorwaarden" in html and "afwijzen" in html
    assert "style=" not in html and "<script" not in html, "no inline style or script (CSP)"
    # the decision form and the logout form in the header (base.html) each carry the session's token
    assert html.count('name="csrf" value="csrf-token"') == 2


def test_the_demo_reads_the_form_back_as_the_page_prefilled_it() -> None:
    html = rendered()
    assert _field(html, "valid_until") == "2027-12-02"
    fields = _obligation_fields(html)
    answers = {f"answer-{key}": "DEMO" for key in QUESTIONS_NL}
    form = read_decision_form(
        {
            **answers,
            **fields,
            "decision": "goedkeuren-onder-voorwaarden",
            "rationale": "DEMO",
            "valid_until": "2027-12-02",
        }
    )
    assert form.obligations == OBLIGATIONS
