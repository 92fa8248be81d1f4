"""The monitoring obligations an audit proposes: one per undecided gating check.

An approval on an audit that could not decide every gating check must name, per undecided check, when it
is looked at again (issue 11). The audit proposes that obligation from the check's power figures
(:mod:`ethics_review._power`): re-audit when the cases it needs have accrued, at the latest after the months
that takes at the scan's volume and control share, never later than :data:`MAX_MONTHS` months after the
audit. A check whose need could not be computed (a proxy set without enough cases, an attribute with one
group, no events) is re-audited at that cap.

The shape of each obligation is fixed (the committee's decision form and the gate read it):
``{"check": id, "text_nl": str, "cases_needed": int | None, "due": "YYYY-MM-DD"}``.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import pandas as pd

from ethics_review.fairness import dutch_attribute, dutch_label
from features.register import FeatureRegister
from riskscan import fmt

#: An obligation is due at the latest this many months after the audit (a decision is valid 12 months).
MAX_MONTHS = 12

#: Per scope of the group metrics: the cases that accrue, in Dutch.
_UNITS_NL = {
    "population": "nieuwe gescoorde personen",
    "labelled": "nieuwe onderzochte personen",
    "control": "controle-uitkomsten",
}
#: The gating metrics, in Dutch.
METRICS_NL = {
    "selection_rate": "selectiekans",
    "false_positive_rate": "kans dat een onschuldige wordt onderzocht",
    "false_negative_rate": "kans dat een overtreding onopgemerkt blijft",
    "true_positive_rate": "kans dat een overtreding wordt gevonden",
    "precision": "trefkans van een onderzoek",
    "false_discovery_rate": "kans dat een onderzoek een onschuldige treft",
}
SCOPES_NL = {
    "population": "alle gescoorde zaken",
    "labelled": "onderzochte zaken",
    "control": "aselecte controlesteekproef",
}


def group_check_subject(check_id: str) -> tuple[str, str, str, str] | None:
    """(scope, metric, attribute, group) of a group-metric check id ``scope:metric:attribute=group``."""
    scope, _, rest = check_id.partition(":")
    if scope not in _UNITS_NL:
        return None
    metric, _, subject = rest.partition(":")
    attribute, _, group = subject.partition("=")
    return scope, metric, attribute, group


def describe_check_nl(check: dict[str, Any], register: FeatureRegister) -> str:
    """A check in a few Dutch words: the metric, the group and the scope, or its name for other families."""
    subject = group_check_subject(check["id"])
    if subject is None:
        return f"'{check['name']}' ({check['scope']})"
    scope, metric, attribute, group = subject
    return (
        f"{METRICS_NL.get(metric, metric)} van {dutch_attribute(attribute, register)} = "
        f"{dutch_label(attribute, group, register)} ({SCOPES_NL[scope]})"
    )


def proposed_obligations(
    checks: list[dict[str, Any]], audited_on: date, register: FeatureRegister
) -> list[dict[str, Any]]:
    """One obligation per undecided gating check of audit.json's ``checks``, in their order."""
    obligations = []
    for check in checks:
        if not check["gating"] or check["verdict"] != "insufficient_evidence":
            continue
        power = check.get("power") or {}
        cases, months = power.get("cases_needed"), power.get("months_needed")
        wait = MAX_MONTHS if months is None else min(MAX_MONTHS, max(1, math.ceil(months)))
        due = (pd.Timestamp(audited_on) + pd.DateOffset(months=wait)).date().isoformat()
        subject = group_check_subject(check["id"])
        what = describe_check_nl(check, register)
        if cases is None:
            text = (
                f"Her-audit {what} uiterlijk op {due}; de audit kon niet berekenen hoeveel zaken "
                "daarvoor nodig zijn."
            )
        elif cases == 0:
            text = (
                f"Her-audit {what} bij de volgende audit, uiterlijk op {due}: het aantal zaken volstaat, "
                "maar de schatting ligt dicht bij de rand van de band."
            )
        else:
            unit = _UNITS_NL[subject[0]] if subject else "zaken"
            text = f"Her-audit {what} wanneer {fmt.count(cases, lang='nl')} {unit} zijn verzameld, uiterlijk op {due}."
        obligations.append({"check": check["id"], "text_nl": text, "cases_needed": cases, "due": due})
    return obligations
