"""The decision form is read strictly: each bad field is refused by name, nothing is coerced or guessed."""

from __future__ import annotations

from datetime import date

import pytest

from models.governance import CHECKLIST_KEYS, Obligation
from riskscan.errors import InvalidInput
from serving.web._decision_form import QUESTIONS_NL, read_decision_form

ANSWERS = {f"answer-{key}": "antwoord" for key in CHECKLIST_KEYS}
OBLIGATION = {
    "obligation-0-check": "random control sample: selection_rate ratio, geslacht = vrouw",
    "obligation-0-text_nl": "Her-audit van de selectie van vrouwen, uiterlijk op 2027-06-01.",
    "obligation-0-cases_needed": "400",
    "obligation-0-due": "2027-06-01",
}
FORM = {
    "csrf": "x",
    **ANSWERS,
    "decision": "goedkeuren-onder-voorwaarden",
    "rationale": "Onder voorwaarden.",
    "valid_until": "2027-06-01",
    "conditions": "Maandelijks rapporteren.\n\n",
    **OBLIGATION,
}


def test_every_kompas_question_is_asked_in_dutch() -> None:
    assert list(QUESTIONS_NL) == list(CHECKLIST_KEYS)
    assert "hoor en wederhoor" in QUESTIONS_NL["human_oversight_hoor_en_wederhoor"]


def test_a_complete_form_is_read_as_typed_values() -> None:
    form = read_decision_form(FORM)
    assert form.decision == "approve-with-conditions"
    assert form.valid_until == date(2027, 6, 1)
    assert form.conditions == ["Maandelijks rapporteren."]
    assert form.obligations == [
        Obligation(
            OBLIGATION["obligation-0-check"], OBLIGATION["obligation-0-text_nl"], 400, date(2027, 6, 1)
        )
    ]
    assert not form.demo
    rejection = read_decision_form({**FORM, "decision": "afwijzen", "conditions": "", "valid_until": ""})
    assert (rejection.decision, rejection.obligations, rejection.valid_until) == ("reject", [], None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"answer-rereview_date": "  "}, "answer-rereview_date is verplicht"),
        (
            {"decision": "approve"},
            "decision moet een van goedkeuren, goedkeuren-onder-voorwaarden, afwijzen zijn",
        ),
        ({"rationale": ""}, "rationale is verplicht"),
        ({"valid_until": "1-6-2027"}, "valid_until moet een datum zijn als JJJJ-MM-DD, gekregen '1-6-2027'"),
        ({"demo": "yes"}, "demo moet 'ja' zijn of ontbreken, gekregen 'yes'"),
        ({"decided_by": "A. de Vries"}, "onbekend veld in het formulier: 'decided_by'"),
        (
            {"obligation-0-cases_needed": "veel"},
            "obligation-0-cases_needed moet een geheel getal zijn of leeg",
        ),
        ({"obligation-0-due": ""}, "obligation-0-due .* is verplicht"),
        ({"obligation-0-text_nl": ""}, "obligation-0-text_nl .* mag niet leeg zijn"),
        ({"decision": "afwijzen"}, "conditions worden alleen vastgelegd bij goedkeuren-onder-voorwaarden"),
    ],
)
def test_a_bad_field_is_refused_by_name(change: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as refused:
        read_decision_form({**FORM, **change})
    assert refused.value.details["field"] in message or refused.value.details["field"] in change
