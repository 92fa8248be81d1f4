"""The audit's checks, typed: one function per family, each returning :class:`AuditCheck` objects.

The families, in the order audit.json lists their checks:

1. **comparability** (:func:`comparability_checks`): an audit attribute with one group among the scored
   cases cannot be compared; that is reported as insufficient evidence, never silently dropped, unless the
   scan routes the other groups away (Wajong for VW), where one group is what the routing must achieve;
2. **Lock 1, the register** (:func:`register_lock`): does the model take any column whose register role is
   ``audit_only`` or ``forbidden``?
3. **group metrics** (:func:`group_metric_checks`, Fairlearn): per audit attribute and intersection, on three
   scopes: selection rates over every scored case (no labels needed), all metrics on the labelled test
   cases (biased by selection: reported, not gating), all metrics on the random control sample (its
   selection rates reported, not gating: every scored case gives the same rate with far more evidence);
4. **Lock 2, proxies** (:func:`proxy_checks`): does any input, or the set of inputs together, stand in for a
   gating attribute such as nationality?
5. **counterfactual** (:func:`counterfactual_checks`): do signals move when only a proxy column changes?

Every check has a verdict ``pass``, ``fail`` or ``insufficient_evidence``, and a stable ``id`` that names
it across audits of the same scan (an obligation refers to a check by it): ``<scope>:<metric>:<attribute>=
<group>`` for a group metric (scope ``population``, ``labelled`` or ``control``), ``comparability:<attribute>``,
``register:inputs``, ``proxy:input:<feature>``, ``proxy:inputs``, ``proxy:set:<attribute>`` and
``counterfactual:<feature>`` for the others. An undecided ratio check carries its power figures
(:mod:`ethics_review._power`). The checks and the typed results behind them become dicts only in audit.json
(``to_dict``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ethics_review._power import Power, ratio_check_power
from ethics_review.cases import AuditWindow, HeldOut, one_row_per_person
from ethics_review.counterfactual import CounterfactualShift, counterfactual_shifts
from ethics_review.fairness import METRICS, FairnessAudit, Judgement, Policy, audit_groups
from ethics_review.proxies import FeatureProxy, ProxyScan, proxy_scan
from features.register import FeatureRegister, Role
from models import registry
from models.scorer import ScanModel
from models.specs import ScanSpec
from riskscan.errors import ForbiddenColumn

#: Share of signals that may change when one proxy column is neutralised before the test fails.
COUNTERFACTUAL_FLAG_TOLERANCE = 0.01
VERDICTS: tuple[Judgement, ...] = ("pass", "fail", "insufficient_evidence")
#: Why the control sample's selection rates are shown but do not gate (see group_metric_checks).
CONTROL_SELECTION_RATE_REPORTED = "the same selection rate gates on every scored case"


@dataclass(frozen=True)
class AuditCheck:
    """One line of the audit: what was checked, on which cases, the verdict and the evidence in words.

    A check that does not gate (``gating=False``) is reported with its verdict but does not decide the
    audit's verdict.
    """

    id: str
    name: str
    scope: str
    verdict: Judgement
    detail: str
    gating: bool = True
    power: Power | None = None  # an undecided ratio check: what would decide it

    def to_dict(self) -> dict[str, Any]:
        result = {
            "id": self.id,
            "name": self.name,
            "scope": self.scope,
            "verdict": self.verdict,
            "gating": self.gating,
            "detail": self.detail,
        }
        if self.power is not None:
            result["power"] = self.power.to_dict()
        return result


def summarise(checks: list[AuditCheck], *, gating: bool) -> dict[str, int]:
    """How many of the gating (or of the reported, not gating) checks have each verdict."""
    return {v: sum(1 for c in checks if c.gating is gating and c.verdict == v) for v in VERDICTS}


def overall_verdict(summary: dict[str, int]) -> Judgement:
    """``fail`` if a gating check fails, else ``insufficient_evidence`` if one is, else ``pass``."""
    if summary["fail"]:
        return "fail"
    return "insufficient_evidence" if summary["insufficient_evidence"] else "pass"


# -- comparability and Lock 1 ----------------------------------------------------------------------------


def comparability_checks(cases: HeldOut) -> list[AuditCheck]:
    """An attribute with one group among the scored cases: undecidable, unless the scan routes that attribute's
    other groups away, where one group is exactly what must be true (and is checked: a routed case that was
    scored anyway would give the attribute two groups and a comparison of its own)."""
    return [
        *(
            AuditCheck(
                f"comparability:{attribute}",
                f"groups of '{attribute}' compared",
                "all scored cases",
                "insufficient_evidence",
                f"not comparable: {reason}",
            )
            for attribute, reason in cases.not_comparable.items()
        ),
        *(
            AuditCheck(
                f"comparability:{attribute}",
                f"groups of '{attribute}': the routed group is never scored",
                "all scored cases",
                "pass",
                f"routed away, not compared: {reason}",
            )
            for attribute, reason in cases.routed_away.items()
        ),
    ]


def register_lock(scan: str, version: str, register: FeatureRegister) -> AuditCheck:
    """Lock 1: the register, applied to the signature the version was registered with."""
    name, scope = "no audit-only or forbidden input (register)", "model signature"
    signature = registry.version_signature(scan, version)
    inputs = signature.inputs.input_names() if signature and signature.inputs else []
    try:
        registry.check_signature(scan, signature, register)
    except ForbiddenColumn as exc:
        return AuditCheck("register:inputs", name, scope, "fail", str(exc))
    detail = f"all {len(inputs)} inputs have register role 'feature' for {scan}; no audit-only or forbidden column."
    return AuditCheck("register:inputs", name, scope, "pass", detail)


# -- group metrics ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupMetrics:
    """Fairlearn group metrics on the three scopes, and their checks."""

    population: FairnessAudit  # every scored case, selection rate only
    labelled: FairnessAudit
    control: FairnessAudit
    people: int  # scored people (one row each) in the population scope
    checks: tuple[AuditCheck, ...]

    def to_dict(self) -> dict[str, Any]:
        """The ``fairness`` section of audit.json."""
        return {
            "population": self.population.to_dict(),
            "labelled_test": self.labelled.to_dict(),
            "control_sample": self.control.to_dict(),
        }

    def sentences(self) -> dict[str, list[str]]:
        """The flagged checks' sentences of every scope, each prefixed with its scope in the same language."""
        scopes = (
            ({"en": "all scored cases", "nl": "alle gescoorde zaken"}, self.population),
            (
                {"en": "labelled test cases, not gating", "nl": "onderzochte testzaken, niet poortbepalend"},
                self.labelled,
            ),
            ({"en": "random control sample", "nl": "aselecte controlesteekproef"}, self.control),
        )
        return {
            lang: [f"[{scope[lang]}] {text}" for scope, audit in scopes for text in audit.sentences[lang]]
            for lang in ("nl", "en")
        }


def group_metric_checks(cases: HeldOut, policy: Policy) -> GroupMetrics:
    """Group metrics on the scored, labelled and control cases, one row per person (see
    :func:`~ethics_review.cases.one_row_per_person`)."""

    def audit(people: pd.DataFrame, *, with_labels: bool) -> FairnessAudit:
        flagged = cases.flags_of(people)
        # Without labels only the selection rate is defined; it needs none, so the flags stand in for y.
        y = people[cases.label].to_numpy(dtype=int) if with_labels else flagged
        return audit_groups(
            y,
            flagged,
            cases.groups_frame(people),
            policy=policy,
            reference=cases.references,
            intersections=cases.intersections,
            metrics=METRICS if with_labels else ("selection_rate",),
        )

    scored = one_row_per_person(cases.scored, seed=0)
    labelled_people = one_row_per_person(cases.labelled, seed=0)
    control_people = one_row_per_person(cases.control, seed=0)
    population = audit(scored, with_labels=False)
    labelled = audit(labelled_people, with_labels=True)
    control = audit(control_people, with_labels=True)
    window = cases.window
    checks = [
        *_fairness_checks(
            _Scope("population", "all scored cases (selection rate)", len(scored), window), population, policy
        ),
        # Investigated cases were not selected at random (100% of paper applications, risk rules for the
        # rest), so a disparity among them can be the selection's, not the model's: those checks are shown
        # with verdicts but do not gate. The random control sample gives the same metrics without that bias.
        *_fairness_checks(
            _Scope(
                "labelled",
                "labelled test cases (biased by selection; reported, not gating)",
                len(labelled_people),
                window,
            ),
            labelled,
            policy,
            gating=False,
        ),
        # A selection rate needs no label, so the population scope above measures it on every scored person;
        # on the control sample it is the same rate estimated from a small random subset of them. Gating on
        # both would ask one question twice, the second time with a fraction of the evidence: the control
        # sample gates the rates only it can measure, those that need an investigation's outcome.
        *_fairness_checks(
            _Scope("control", "random control sample", len(control_people), window),
            control,
            policy,
            reported_only={"selection_rate": CONTROL_SELECTION_RATE_REPORTED},
        ),
    ]
    return GroupMetrics(population, labelled, control, len(scored), tuple(checks))


@dataclass(frozen=True)
class _Scope:
    """One scope of the group metrics: its id prefix, its name, its people and the window they came from."""

    key: str
    name: str
    people: int
    window: AuditWindow

    @property
    def people_per_month(self) -> float | None:
        """National accrual of this scope's cases per month, as observed in the audit window."""
        if not self.people:
            return None
        return self.people * self.window.national_per_row / len(self.window.months)


def _fairness_checks(
    scope: _Scope,
    audit: FairnessAudit,
    policy: Policy,
    *,
    gating: bool = True,
    reported_only: Mapping[str, str] | None = None,
) -> list[AuditCheck]:
    """The scope's ratio checks; those of a metric in ``reported_only`` (metric -> why) are shown with
    their verdict and the reason, and do not gate."""
    reported_only = reported_only or {}
    checks = []
    for c in audit.checks:
        power = None
        if c.verdict == "insufficient_evidence":
            attribute = audit.attributes[c.attribute]
            power = ratio_check_power(
                c.metric,
                attribute.groups[c.group].cells,
                attribute.groups[attribute.reference].cells,
                policy,
                scope_cases=scope.people,
                cases_per_month=scope.people_per_month,
            )
        checks.append(
            AuditCheck(
                f"{scope.key}:{c.metric}:{c.attribute}={c.group}",
                f"{c.metric} ratio, {c.attribute} = {c.group}",
                scope.name,
                c.verdict,
                f"{c.sentence_en} (reported, not gating: {reported_only[c.metric]})"
                if c.metric in reported_only
                else c.sentence_en,
                gating and c.metric not in reported_only,
                power,
            )
        )
    return checks


# -- Lock 2: proxies -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxyReview:
    """The proxy scan of every candidate column, read against the model's inputs and the gating attributes."""

    scan: ProxyScan
    model_inputs: frozenset[str]
    strongest: dict[str, tuple[str | None, float]]  # feature -> (gating attribute, its Cramér's V)
    checks: tuple[AuditCheck, ...]

    def to_dict(self) -> dict[str, Any]:
        """The ``proxy_scan`` section of audit.json: the scan, each feature marked as input or not."""
        result = self.scan.to_dict()
        for feature in result["features"]:
            attribute, association = self.strongest[feature["feature"]]
            feature["model_input"] = feature["feature"] in self.model_inputs
            feature["gating_association"], feature["gating_attribute"] = association, attribute
        return result


def proxy_checks(cases: HeldOut, spec: ScanSpec, model: ScanModel, register: FeatureRegister) -> ProxyReview:
    """Lock 2: each model input against the gating attributes, then all inputs together."""
    policy = spec.fairness.proxy
    candidates = [c.name for c in register.table_columns(spec.table) if c.role is Role.FEATURE]
    scan = proxy_scan(
        cases.scored,
        candidates,
        cases.groups_frame(cases.scored),
        association_threshold=policy.association_threshold,
        auc_threshold=policy.auc_threshold,
        set_features=list(model.features.names),
        row_groups=cases.scored["persoon_id"].reset_index(drop=True),
    )
    inputs = frozenset(model.features.names)
    threshold = policy.association_threshold
    strongest = {f.feature: _strongest(f, policy.gating_attributes) for f in scan.features}
    checks = [
        AuditCheck(
            f"proxy:input:{feature}",
            f"input '{feature}' is not a proxy",
            "proxy scan",
            "fail",
            f"Cramér's V {association:.2f} with {attribute} (threshold {threshold})",
        )
        for feature, (attribute, association) in strongest.items()
        if feature in inputs and association >= threshold
    ]
    if not checks:
        checks.append(
            AuditCheck(
                "proxy:inputs",
                "no input is a proxy",
                "proxy scan",
                "pass",
                f"no model input reaches Cramér's V {threshold} with {' or '.join(policy.gating_attributes)}",
            )
        )
    for attribute in policy.gating_attributes:
        result = scan.sets.get(attribute)
        if result is None:
            continue
        name = f"inputs together do not predict {attribute}"
        if result.auc is None:
            checks.append(
                AuditCheck(
                    f"proxy:set:{attribute}",
                    name,
                    "proxy scan",
                    "insufficient_evidence",
                    "too few cases in the groups to estimate the AUC",
                )
            )
            continue
        verdict: Judgement = "fail" if result.auc >= policy.auc_threshold else "pass"
        detail = f"out-of-sample AUC {result.auc:.3f} (threshold {policy.auc_threshold})"
        checks.append(AuditCheck(f"proxy:set:{attribute}", name, "proxy scan", verdict, detail))
    return ProxyReview(scan, inputs, strongest, tuple(checks))


def _strongest(feature: FeatureProxy, gating_attributes: tuple[str, ...]) -> tuple[str | None, float]:
    """The gating attribute a feature is most associated with, and that association (None, 0 if none)."""
    pairs = [(a, v.cramers_v or 0.0) for a, v in feature.association.items() if a in gating_attributes]
    attribute, association = max(pairs, key=lambda pair: pair[1], default=(None, 0.0))
    return attribute, association


# -- counterfactual --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counterfactual:
    shifts: tuple[CounterfactualShift, ...]
    checks: tuple[AuditCheck, ...]

    def to_dict(self) -> list[dict[str, Any]]:
        """The ``counterfactual`` section of audit.json."""
        return [shift.as_dict() for shift in self.shifts]


def counterfactual_checks(cases: HeldOut, model: ScanModel, register: FeatureRegister) -> Counterfactual:
    """Neutralise each proxy column for every scored test case; a signal that moves depends on it."""
    shifts = counterfactual_shifts(
        model,
        cases.scored,
        cases.scored["nationaliteit"].astype(str),
        cases.references.get("nationaliteit", "nederlands"),
        register=register,
    )
    signals = max(int(cases.flags.sum()), 1)
    checks = []
    for shift in shifts:
        moved = shift.flags_lost + shift.flags_gained
        checks.append(
            AuditCheck(
                f"counterfactual:{shift.feature}",
                f"signals do not depend on '{shift.feature}'",
                "counterfactual",
                "fail" if moved / signals > COUNTERFACTUAL_FLAG_TOLERANCE else "pass",
                f"setting it to '{shift.neutral_value}' for every case moves {moved} of {signals} signals "
                f"(tolerance {COUNTERFACTUAL_FLAG_TOLERANCE:.0%}); mean score change {shift.mean_shift:+.5f}",
            )
        )
    return Counterfactual(tuple(shifts), tuple(checks))
