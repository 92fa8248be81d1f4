"""One Dutch and one English sentence per check, so a disparity is never stated without its uncertainty.

Each sentence is built from one template per metric, always with the interval of the group rate, of the
reference rate and of the ratio. Dutch sentences use the register's Dutch category labels and decimal
commas (:mod:`riskscan.fmt`). ``FairnessAudit.sentences`` lists the flagged checks: ``fail``, and
``insufficient_evidence`` whose point ratio lies outside the band, which the sentence then calls "not
proven".
"""

from __future__ import annotations

from ethics_review.fairness._results import INTERSECTION_SEPARATOR, Check
from features.register import FeatureRegister
from riskscan import fmt
from riskscan.fmt import Lang
from riskscan.stats import Estimate

# metric -> (subject, event) per language: "<subject> in group 'g' (attr) has a x% chance <event>, ..."
_TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "selection_rate": {
        "en": ("An applicant", "to be selected for investigation"),
        "nl": ("Een aanvrager", "om geselecteerd te worden voor onderzoek"),
    },
    "false_positive_rate": {
        "en": ("An innocent applicant", "to be investigated"),
        "nl": ("Een onschuldige aanvrager", "om onderzocht te worden"),
    },
    "false_negative_rate": {
        "en": ("A violation by an applicant", "to go undetected"),
        "nl": ("Een overtreding door een aanvrager", "om onontdekt te blijven"),
    },
    "true_positive_rate": {
        "en": ("A violation by an applicant", "to be detected"),
        "nl": ("Een overtreding door een aanvrager", "om ontdekt te worden"),
    },
    "precision": {
        "en": ("An investigation of an applicant", "to find a violation"),
        "nl": ("Een onderzoek naar een aanvrager", "om een overtreding te vinden"),
    },
    "false_discovery_rate": {
        "en": ("An investigation of an applicant", "to concern an innocent person"),
        "nl": ("Een onderzoek naar een aanvrager", "om een onschuldige te treffen"),
    },
}
# The rest of a sentence, per language.
_PHRASES: dict[Lang, dict[str, str]] = {
    "en": {
        "facts": "{subject} in group '{group}' ({attribute}) has a {value} chance ({level}% CI {ci}) {event}, "
        "against {ref_value} ({ref_ci}) for the reference group '{reference}': {ratio} ({ratio_ci}); "
        "policy band {band}. ",
        "times": "{ratio} times as often",
        "no_ratio": "ratio undefined",
        "no_interval": "interval undefined",
        "pass": "Verdict: pass (the whole interval lies inside the band).",
        "fail": "Verdict: fail (the whole interval lies outside the band).",
        "not_proven": "Verdict: insufficient evidence; the estimate lies outside the band, "
        "but the disparity is not proven: {reason}.",
        "insufficient_evidence": "Verdict: insufficient evidence: {reason}.",
    },
    "nl": {
        "facts": "{subject} in groep '{group}' ({attribute}) heeft {value} kans ({level}%-BI {ci}) {event}, "
        "tegen {ref_value} ({ref_ci}) voor de referentiegroep '{reference}': {ratio} ({ratio_ci}); "
        "beleidsband {band}. ",
        "times": "{ratio} keer zo vaak",
        "no_ratio": "verhouding onbepaald",
        "no_interval": "interval onbepaald",
        "pass": "Oordeel: voldoet (het hele interval ligt binnen de band).",
        "fail": "Oordeel: voldoet niet (het hele interval ligt buiten de band).",
        "not_proven": "Oordeel: onvoldoende bewijs; de schatting ligt buiten de band, "
        "maar de ongelijkheid is niet aangetoond: {reason}.",
        "insufficient_evidence": "Oordeel: onvoldoende bewijs: {reason}.",
    },
}


def sentence(check: Check, lang: Lang, register: FeatureRegister) -> str:
    """The check in one sentence of ``lang``: the facts with their intervals, then the verdict and why."""
    phrases = _PHRASES[lang]
    subject, event = _TEMPLATES[check.metric][lang]
    if lang == "en":
        group, reference, attribute = check.group, check.reference, check.attribute
    else:
        group = dutch_label(check.attribute, check.group, register)
        reference = dutch_label(check.attribute, check.reference, register)
        attribute = dutch_attribute(check.attribute, register)
    ratio = check.ratio
    facts = phrases["facts"].format(
        subject=subject,
        group=group,
        attribute=attribute,
        value=_percent(check.rate, lang),
        level=fmt.number(100 * check.rate.level, 0, lang=lang),
        ci=_interval(check.rate, lang, as_percent=True),
        event=event,
        ref_value=_percent(check.reference_rate, lang),
        ref_ci=_interval(check.reference_rate, lang, as_percent=True),
        reference=reference,
        ratio=(
            phrases["times"].format(ratio=fmt.number(ratio.estimate, 2, lang=lang))
            if ratio.defined
            else phrases["no_ratio"]
        ),
        ratio_ci=_interval(ratio, lang, as_percent=False),
        band=fmt.span(*check.band, 2, lang=lang),
    )
    if check.verdict in ("pass", "fail"):
        return facts + phrases[check.verdict]
    reason = "" if check.reason is None else check.reason.en if lang == "en" else check.reason.nl
    verdict = "not_proven" if check.flagged else "insufficient_evidence"
    return facts + phrases[verdict].format(reason=reason)


def _percent(estimate: Estimate, lang: Lang) -> str:
    return fmt.percent(estimate.estimate, lang=lang, missing=fmt.UNDEFINED[lang])


def _interval(estimate: Estimate, lang: Lang, *, as_percent: bool) -> str:
    interval = estimate.interval
    if interval is None:
        return _PHRASES[lang]["no_interval"]
    return fmt.span(*interval, 1 if as_percent else 2, as_percent=as_percent, lang=lang)


def dutch_label(attribute: str, value: str, register: FeatureRegister) -> str:
    """The register's Dutch display value of a group (each part of an intersection), else the code."""
    names = attribute.split(INTERSECTION_SEPARATOR)
    parts = value.split(INTERSECTION_SEPARATOR)
    if len(names) != len(parts):
        return value
    shown = []
    for name, part in zip(names, parts, strict=True):
        if name not in register:
            shown.append(part)
            continue
        column = register[name]
        # Group values arrive as text; a boolean column's "False" must not read as a true string.
        shown.append(
            column.display_value(part.lower() in ("true", "1"))
            if column.dtype == "bool"
            else column.display_value(part)
        )
    return INTERSECTION_SEPARATOR.join(shown)


def dutch_attribute(attribute: str, register: FeatureRegister) -> str:
    """The register's Dutch label of an attribute (each part of an intersection), else the name."""
    names = attribute.split(INTERSECTION_SEPARATOR)
    return INTERSECTION_SEPARATOR.join(register[n].label if n in register else n for n in names)
