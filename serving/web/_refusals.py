"""The gate's refusals worded for people, in Dutch: what the admin and committee pages show.

The gate types every reason it refuses for (:class:`models.gate_reasons.GateReason`, with the facts it
names); the API and the command line show the English sentence, the pages this wording of the same code
and facts. The committee's language is Dutch; check ids and audit hashes stay as the audit writes them,
since the committee finds them back in the report by those names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from models.gate_reasons import GateReason
from riskscan.errors import GateRefusal, Reason, Refusal
from serving.subject import dutch_date
from serving.web._decision_form import LABELS_NL

Wording = Callable[[Mapping[str, Any]], str]


def _checks(facts: Mapping[str, Any]) -> str:
    return "; ".join(facts["checks"])


def _day(iso: str) -> str:
    return dutch_date(datetime.fromisoformat(iso))


def _signed(facts: Mapping[str, Any]) -> str:
    signers = facts["signers"]
    if not signers:
        return f"Besluit {facts['decision_id']} is nog door niemand ondertekend"
    return f"Besluit {facts['decision_id']} is alleen ondertekend door {', '.join(signers)}"


DUTCH: Final[dict[GateReason, Wording]] = {
    GateReason.NO_AUDIT: lambda f: (
        f"Versie {f['version']} heeft geen audit. Voer eerst de audit uit "
        f"(riskscan audit --scan {f['scan']} --version {f['version']})."
    ),
    GateReason.AUDIT_HASH_MISMATCH: lambda f: (
        f"Het opgeslagen auditrapport van versie {f['version']} komt niet overeen met de vastgelegde hash "
        f"{f['audit']}: het rapport is gewijzigd of ontbreekt."
    ),
    GateReason.NO_AUDIT_DOCUMENT: lambda f: (
        f"Bij de audit van versie {f['version']} ({f['audit']}) ontbreekt audit.json, waaruit de poort de "
        "toetsen leest."
    ),
    GateReason.FAILED_CHECKS: lambda f: (
        f"De laatste audit van versie {f['version']} ({f['audit']}) heeft {f['count']} toets(en) die niet "
        f"voldoen: {_checks(f)}."
    ),
    GateReason.NO_DECISION: lambda f: (
        f"Er is geen besluit van de commissie vastgelegd voor versie {f['version']}."
    ),
    GateReason.REJECTED: lambda f: (
        f"De commissie heeft versie {f['version']} afgewezen (besluit {f['decision_id']})."
    ),
    GateReason.NOT_COSIGNED: lambda f: (
        f"{_signed(f)}: het wordt pas van kracht als een tweede, ander commissielid het medeondertekent."
    ),
    GateReason.STALE_AUDIT: lambda f: (
        f"Besluit {f['decision_id']} keurde audit {f['decided_audit']} goed, maar de laatste audit is "
        f"{f['audit']}: de commissie moet de huidige audit beoordelen."
    ),
    GateReason.NO_VALID_UNTIL: lambda f: (
        f"Besluit {f['decision_id']} noemt geen geldigheidsdatum; elke goedkeuring moet er een hebben."
    ),
    GateReason.EXPIRED: lambda f: (
        f"De goedkeuring (besluit {f['decision_id']}) is verlopen op {_day(f['valid_until'])}."
    ),
    GateReason.PLAIN_APPROVAL_ON_UNDECIDED: lambda f: (
        f"De audit heeft {f['count']} poorttoets(en) met onvoldoende bewijs, en besluit {f['decision_id']} is "
        f"'{LABELS_NL.get(f['decision'], f['decision'])}' zonder voorwaarden: alleen 'goedkeuren onder "
        "voorwaarden' met een monitoringsverplichting per onbesliste toets kan in gebruik worden genomen "
        f"({_checks(f)})."
    ),
    GateReason.MISSING_OBLIGATIONS: lambda f: (
        f"Besluit {f['decision_id']} noemt geen monitoringsverplichting voor: {_checks(f)}."
    ),
    GateReason.WITHDRAWN: lambda f: (
        f"Versie {f['version']} is ingetrokken en kan niet opnieuw in gebruik worden genomen."
    ),
    GateReason.BLOCKED_BY_RULING: lambda f: (
        f"Versie {f['version']} is getraind op kolom '{f['column']}', die uitspraak {f['ruling_id']} van "
        f"{_day(f['ruled_on'])} onrechtmatig verklaarde: {f['ruling_reason']}"
    ),
    GateReason.DECISION_WITHOUT_AUDIT: lambda f: (
        f"Versie {f['version']} heeft geen audit; de commissie besluit op een auditrapport."
    ),
    GateReason.APPROVAL_ON_FAILED_AUDIT: lambda f: (
        f"De audit heeft toetsen die niet voldoen ({_checks(f)}): goedkeuren kan niet, alleen afwijzen."
    ),
    GateReason.APPROVE_ON_UNDECIDED: lambda f: (
        f"{f['count']} poorttoets(en) hebben onvoldoende bewijs, en onvoldoende bewijs is geen 'voldoet': kies "
        f"'goedkeuren onder voorwaarden' met een monitoringsverplichting voor elk van: {_checks(f)}."
    ),
    GateReason.NO_OBLIGATION_FOR_CHECK: lambda f: (
        f"Geen verplichting noemt de onbesliste toets '{f['check']}'."
    ),
    GateReason.OBLIGATION_NOT_UNDECIDED: lambda f: (
        f"Er is een verplichting voor '{f['check']}', maar dat is geen onbesliste poorttoets van deze audit."
    ),
    GateReason.COSIGN_ON_STALE_AUDIT: lambda f: (
        f"Het besluit is genomen op audit {f['decided_audit']}, maar de audit is sindsdien opnieuw uitgevoerd "
        f"({f['audit'] or 'geen'}): de commissie besluit opnieuw op de huidige audit."
    ),
    GateReason.WITHDRAWAL_WITHOUT_REASON: lambda f: "Een reden van intrekking is verplicht.",
}


def in_dutch(reason: Reason) -> str:
    """One gate reason as the pages show it."""
    return DUTCH[GateReason(reason.code)](reason.facts)


def all_in_dutch(reasons: Sequence[Reason]) -> list[str]:
    return [in_dutch(reason) for reason in reasons]


def for_people(error: Refusal) -> str:
    """What a page says for a refusal: a gate refusal's reasons in Dutch, any other refusal as it is."""
    if isinstance(error, GateRefusal):
        return " ".join(all_in_dutch(error.reasons))
    return str(error)
