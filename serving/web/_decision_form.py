"""The committee's decision form, read strictly: every field named, nothing coerced, unknown fields refused.

The questions follow UWV's Kompas Data Ethiek (the committee's own framework): purpose and legal basis,
necessity and proportionality, the lawfulness of every data source, the fairness results, human oversight
with hoor en wederhoor, transparency, and re-review. Each needs an answer; a missing one is refused naming
the field, and nothing is recorded (the gate records a decision in one transaction, or not at all).

Field names: ``answer-<checklist key>``, ``decision`` (``goedkeuren``, ``goedkeuren-onder-voorwaarden``,
``afwijzen``), ``rationale``, ``conditions`` (one per line), ``valid_until`` (YYYY-MM-DD), ``demo``
(``ja`` or absent), and per obligation ``obligation-<n>-check``, ``-text_nl``, ``-cases_needed``, ``-due``.
The refusals are in Dutch, the committee's language, and name the field as the form calls it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Final

from models.governance import CHECKLIST_KEYS, Obligation
from riskscan.errors import InvalidInput

#: The checklist questions as the committee reads them (Dutch), keyed as the decision records them.
QUESTIONS_NL: Final = {
    "purpose_legal_basis": "Doel en wettelijke grondslag: welk doel dient de risicoscan, en op welke wettelijke "
    "grondslag (WW, Wet SUWI) rust de verwerking?",
    "necessity_proportionality": "Noodzaak en proportionaliteit: is de scan nodig voor dat doel, staat de inbreuk "
    "op de levenssfeer van cliënten in verhouding, en is er geen minder ingrijpend alternatief?",
    "data_source_lawfulness": "Rechtmatigheid van elke gegevensbron: is elke gebruikte bron rechtmatig verkregen en "
    "mag zij voor dit doel worden gebruikt (doelbinding)?",
    "fairness_results_reviewed": "Eerlijkheid: hoe weegt u de uitkomsten van de audit per groep, ook de toetsen met "
    "onvoldoende bewijs?",
    "human_oversight_hoor_en_wederhoor": "Menselijk toezicht en hoor en wederhoor: beslist altijd een medewerker, "
    "en wordt de cliënt gehoord voordat een maatregel volgt?",
    "transparency_register_entry": "Transparantie: staat de scan in het Algoritmeregister, en kunnen betrokkenen "
    "uitleg krijgen over hun selectie?",
    "rereview_date": "Herbeoordeling: wanneer, en bij welke signalen, beoordeelt de commissie de scan opnieuw?",
}

#: The form's Dutch decision words and the decision each records.
DECISIONS_NL: Final = {
    "goedkeuren": "approve",
    "goedkeuren-onder-voorwaarden": "approve-with-conditions",
    "afwijzen": "reject",
}
LABELS_NL: Final = {
    "approve": "goedkeuren",
    "approve-with-conditions": "goedkeuren onder voorwaarden",
    "reject": "afwijzen",
}

_OBLIGATION_FIELD = re.compile(r"obligation-(\d{1,3})-(check|text_nl|cases_needed|due)")
_FIXED = {"csrf", "decision", "rationale", "conditions", "valid_until", "demo"}


@dataclass(frozen=True)
class DecisionForm:
    """A decision form that passed every check of its own; the gate checks it against the audit."""

    decision: str
    checklist: dict[str, str]
    rationale: str
    conditions: list[str]
    obligations: list[Obligation]
    valid_until: date | None
    demo: bool


def _day(field: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{field} moet een datum zijn als JJJJ-MM-DD, gekregen {text!r}", field=field
        ) from None


def _obligation(index: str, fields: Mapping[str, str]) -> Obligation:
    name = f"obligation-{index}"
    check, text, needed, due = (
        fields.get(f"{name}-{part}", "").strip() for part in ("check", "text_nl", "cases_needed", "due")
    )
    if not check:
        raise InvalidInput(
            f"{name}-check moet een toets van de audit noemen, gekregen {check!r}", field=f"{name}-check"
        )
    if not text:
        raise InvalidInput(
            f"{name}-text_nl (de verplichting voor {check}) mag niet leeg zijn", field=f"{name}-text_nl"
        )
    if needed and not needed.isdigit():
        raise InvalidInput(
            f"{name}-cases_needed moet een geheel getal zijn of leeg, gekregen {needed!r}",
            field=f"{name}-cases_needed",
        )
    if not due:
        raise InvalidInput(f"{name}-due (de uiterste datum voor {check}) is verplicht", field=f"{name}-due")
    return Obligation(check, text, int(needed) if needed else None, _day(f"{name}-due", due))


def _answers(fields: Mapping[str, str]) -> dict[str, str]:
    answers = {}
    for key in CHECKLIST_KEYS:
        answer = fields.get(f"answer-{key}", "").strip()
        if not answer:
            raise InvalidInput(
                f"answer-{key} is verplicht: elke vraag van de checklist vraagt een antwoord ({QUESTIONS_NL[key]})",
                field=f"answer-{key}",
            )
        answers[key] = answer
    return answers


def _refuse_unknown(fields: Mapping[str, str]) -> list[str]:
    """The obligation indexes in the form, after refusing any field the form does not have."""
    indexes: list[str] = []
    for name in fields:
        match = _OBLIGATION_FIELD.fullmatch(name)
        if match:
            if match.group(1) not in indexes:
                indexes.append(match.group(1))
        elif name not in _FIXED and name.removeprefix("answer-") not in CHECKLIST_KEYS:
            raise InvalidInput(f"onbekend veld in het formulier: {name!r}", field=name)
    return indexes


def read_decision_form(fields: Mapping[str, str]) -> DecisionForm:
    """The form's fields as a :class:`DecisionForm`, or :class:`InvalidInput` naming the first bad field."""
    indexes = _refuse_unknown(fields)
    word = fields.get("decision", "")
    if word not in DECISIONS_NL:
        raise InvalidInput(
            f"decision moet een van {', '.join(DECISIONS_NL)} zijn, gekregen {word!r}", field="decision"
        )
    decision = DECISIONS_NL[word]
    answers = _answers(fields)
    rationale = fields.get("rationale", "").strip()
    if not rationale:
        raise InvalidInput("rationale is verplicht: zeg waarom de commissie dit besluit", field="rationale")
    demo = fields.get("demo", "")
    if demo not in ("", "ja"):
        raise InvalidInput(f"demo moet 'ja' zijn of ontbreken, gekregen {demo!r}", field="demo")
    valid_until = fields.get("valid_until", "").strip()
    conditions = [line.strip() for line in fields.get("conditions", "").splitlines() if line.strip()]
    if conditions and decision != "approve-with-conditions":
        raise InvalidInput(
            f"conditions worden alleen vastgelegd bij goedkeuren-onder-voorwaarden, gekregen {conditions[0]!r} "
            f"bij {word}",
            field="conditions",
        )
    obligations = []
    if decision == "approve-with-conditions":
        obligations = [_obligation(index, fields) for index in indexes]
    return DecisionForm(
        decision=decision,
        checklist=answers,
        rationale=rationale,
        conditions=conditions,
        obligations=obligations,
        valid_until=_day("valid_until", valid_until) if valid_until else None,
        demo=demo == "ja",
    )
