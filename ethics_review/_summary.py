"""The report's first screen, in Dutch, and its one table of undecided checks, built from audit.json.

The committee reads the summary first (issue 11): the overall verdict, what failed and why, what is
undecided and what would decide it, the obligations the audit proposes, and the model's lift on the random
control sample beside the other model family's. The details follow; every undecided ratio check is one row
of one table (:func:`undecided_rows`), with its power figures, instead of a paragraph each. A group smaller
than the policy's minimum shows no rate or interval there: a percentage of a handful of people with a
bootstrap interval of zero width ("100% (95%-BI 100-100%)") says nothing, and the row says so instead.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from ethics_review._obligations import SCOPES_NL, describe_check_nl, group_check_subject
from features.register import FeatureRegister
from riskscan import fmt

#: The verdict words of the committee.
VERDICTS_NL = {
    "pass": "voldoet",
    "fail": "voldoet niet",
    "insufficient_evidence": "onvoldoende bewijs",
    "reference": "referentie",
}
#: audit.json's fairness section per scope of a check id.
_FAIRNESS_KEYS = {"population": "population", "labelled": "labelled_test", "control": "control_sample"}
#: How many obligations the first screen lists before it refers to the table.
_SHOWN_OBLIGATIONS = 6


def summary_view(audit: dict[str, Any], register: FeatureRegister) -> dict[str, Any]:
    """What the first screen of the report shows, in Dutch."""
    gating = [c for c in audit["checks"] if c["gating"]]
    undecided = [c for c in gating if c["verdict"] == "insufficient_evidence"]
    obligations = audit.get("proposed_obligations") or []
    by_scope = Counter(_scope_nl(c) for c in undecided)
    return {
        "verdict_nl": VERDICTS_NL[audit["verdict"]],
        "counts": {VERDICTS_NL[v]: n for v, n in audit["summary"].items()},
        "gating_total": len(gating),
        "failed": [
            {"what": describe_check_nl(c, register), "why": _why_failed(c, audit)}
            for c in gating
            if c["verdict"] == "fail"
        ],
        "undecided_by_scope": [{"scope": s, "count": n} for s, n in by_scope.most_common()],
        "undecided_decidable": sum(
            1 for c in undecided if (c.get("power") or {}).get("months_needed") is not None
        ),
        "undecided_within_year": sum(1 for c in undecided if _months(c) <= 12),
        # The soonest first: what the committee will see again first.
        "obligations": sorted(obligations, key=lambda o: o["due"])[:_SHOWN_OBLIGATIONS],
        "more_obligations": max(0, len(obligations) - _SHOWN_OBLIGATIONS),
        "lift": _lift_rows(audit),
        "window": f"{audit['data']['window_start']} t/m {audit['data']['window_end']}",
    }


def _months(check: dict[str, Any]) -> float:
    """The months an undecided check needs; infinite when the audit could not compute them."""
    months = (check.get("power") or {}).get("months_needed")
    return math.inf if months is None else float(months)


def _scope_nl(check: dict[str, Any]) -> str:
    subject = group_check_subject(check["id"])
    return SCOPES_NL[subject[0]] if subject else "overige controles"


def _why_failed(check: dict[str, Any], audit: dict[str, Any]) -> str:
    """The Dutch sentence of a failed group check, else the check's own detail."""
    fairness = _fairness_check(check, audit)
    return str(fairness["sentence_nl"]) if fairness else str(check["detail"])


def _fairness_check(check: dict[str, Any], audit: dict[str, Any]) -> dict[str, Any] | None:
    """The fairness section's entry of a group-metric check (value, interval, reason, sentences)."""
    subject = group_check_subject(check["id"])
    if subject is None:
        return None
    scope, metric, attribute, group = subject
    for entry in audit["fairness"][_FAIRNESS_KEYS[scope]]["checks"]:
        if (entry["metric"], entry["attribute"], entry["group"]) == (metric, attribute, group):
            return dict(entry)
    return None


def _lift_rows(audit: dict[str, Any]) -> list[dict[str, str]]:
    """Lift over random selection and precision on the control sample, per model family when both ran."""
    comparison = audit.get("family_comparison")
    if comparison:
        rows = [(comparison["this"], True), (comparison["other"], False)]
        return [
            {
                "family": f["family"] + (" (deze versie)" if this else ""),
                "lift": estimate_nl(f["lift"], as_percent=False),
                "precision": estimate_nl(f["precision_at_op"], as_percent=True),
            }
            for f, this in rows
        ]
    control = audit["control_intervals"]
    return [
        {
            "family": f"{audit['model_family']} (deze versie)",
            "lift": estimate_nl(control["lift"], as_percent=False),
            "precision": estimate_nl(control["precision_at_op"], as_percent=True),
        }
    ]


def estimate_nl(value: dict[str, Any], *, as_percent: bool) -> str:
    """An estimate with its interval as the committee reads it (the report and the model card):
    ``2,31 (95%-BI 1,90-2,75)`` or ``—``."""
    estimate = value.get("estimate")
    low: Any = value.get("low")
    high: Any = value.get("high")
    if not fmt.is_number(estimate):
        return fmt.MISSING
    shown = fmt.percent(estimate, lang="nl") if as_percent else fmt.number(estimate, 2, lang="nl")
    if fmt.is_number(low) and fmt.is_number(high):
        bounds = fmt.span(float(low), float(high), 1 if as_percent else 2, as_percent=as_percent, lang="nl")
        shown += f" (95%-BI {bounds})"
    return shown


def decided_rows(audit: dict[str, Any], register: FeatureRegister) -> list[dict[str, Any]]:
    """Every check that is not an undecided ratio check (those are :func:`undecided_rows`), in Dutch where
    the check has a Dutch sentence."""
    rows = []
    for check in audit["checks"]:
        if check["verdict"] == "insufficient_evidence" and "power" in check:
            continue
        fairness = _fairness_check(check, audit)
        rows.append(
            {
                "what": describe_check_nl(check, register),
                "gating": check["gating"],
                "verdict": check["verdict"],
                "verdict_nl": VERDICTS_NL[check["verdict"]],
                # A passing group check reads as its numbers; a failing one keeps its whole sentence.
                "detail": (fairness["sentence_nl"] if check["verdict"] == "fail" else _rate(fairness))
                if fairness
                else check["detail"],
            }
        )
    return rows


def undecided_rows(audit: dict[str, Any], register: FeatureRegister) -> list[dict[str, Any]]:
    """One row per undecided ratio check (gating first, then by months needed), with its power figures."""
    minimum = audit["policy"]["min_group_size"]
    rows = []
    for check in audit["checks"]:
        fairness = _fairness_check(check, audit)
        if check["verdict"] != "insufficient_evidence" or fairness is None:
            continue
        scope, _, attribute, group = group_check_subject(check["id"]) or ("", "", "", "")
        n = audit["fairness"][_FAIRNESS_KEYS[scope]]["attributes"][attribute]["groups"][group]["n"]
        power = check.get("power") or {}
        small = n < minimum
        rows.append(
            {
                "gating": check["gating"],
                "what": describe_check_nl(check, register),
                "n": fmt.count(n, lang="nl"),
                "rate": "te kleine groep" if small else _rate(fairness),
                "reason": fairness.get("reason_nl") or "",
                "mdr": _ratio(power.get("minimum_detectable_ratio")),
                "cases": fmt.MISSING
                if power.get("cases_needed") is None
                else fmt.count(power["cases_needed"], lang="nl"),
                "months": fmt.MISSING
                if power.get("months_needed") is None
                else fmt.number(power["months_needed"], 1, lang="nl"),
                "_order": (not check["gating"], _months(check)),
            }
        )
    rows.sort(key=lambda row: row.pop("_order"))
    return rows


def _rate(fairness: dict[str, Any]) -> str:
    """The group's rate against the reference's, and their ratio with its interval."""
    value, reference = fairness.get("value"), fairness.get("reference_value")
    ratio, ratio_ci = fairness.get("ratio"), fairness.get("ratio_ci")
    text = f"{fmt.percent(value, lang='nl')} tegen {fmt.percent(reference, lang='nl')}"
    if fmt.is_number(ratio):
        text += f"; verhouding {fmt.number(ratio, 2, lang='nl')}"
        if ratio_ci:
            text += f" ({fmt.span(ratio_ci[0], ratio_ci[1], 2, lang='nl')})"
    return text


def _ratio(value: Any) -> str:
    return fmt.number(value, 2, lang="nl") if fmt.is_number(value) else fmt.MISSING
