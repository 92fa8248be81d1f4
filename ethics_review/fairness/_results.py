"""The typed results of a group audit, and their JSON form (``to_dict``), built only at the boundary."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ethics_review.fairness._cells import CELLS
from ethics_review.fairness._judge import Judgement, Reason, Verdict
from ethics_review.fairness._policy import Policy
from riskscan.stats import Estimate

#: Joins the columns of an intersection ("nationaliteit × geslacht") and the values of its groups.
INTERSECTION_SEPARATOR = " × "


@dataclass(frozen=True)
class GroupResult:
    """One group of one attribute: its cells, rates and ratios to the reference (with intervals), verdicts."""

    n: int
    cells: tuple[int, int, int, int]  # tp, fp, fn, tn
    rates: dict[str, Estimate]  # per reported metric
    ratios: dict[str, Estimate]  # per reported metric, to the reference group's rate
    verdict: dict[str, Verdict]  # gating metrics only
    reasons: dict[str, Reason | None]  # gating metrics only; set when the verdict is insufficient_evidence

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            **{metric: json_float(rate.estimate) for metric, rate in self.rates.items()},
            "confusion": dict(zip(CELLS, self.cells, strict=True)),
            "ci": {metric: json_interval(rate) for metric, rate in self.rates.items()},
            "ratio": {metric: json_float(ratio.estimate) for metric, ratio in self.ratios.items()},
            "ratio_ci": {metric: json_interval(ratio) for metric, ratio in self.ratios.items()},
            "verdict": dict(self.verdict),
        }


@dataclass(frozen=True)
class AttributeAudit:
    name: str  # a column, or an intersection "nationaliteit × geslacht"
    reference: str
    groups: dict[str, GroupResult]  # largest group first

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "groups": {g: r.to_dict() for g, r in self.groups.items()}}


@dataclass(frozen=True)
class Check:
    """The verdict on one gating metric of one non-reference group, with both sentences."""

    attribute: str
    group: str
    metric: str
    rate: Estimate
    reference: str
    reference_rate: Estimate
    ratio: Estimate
    verdict: Judgement
    reason: Reason | None
    band: tuple[float, float]
    sentence_nl: str = ""
    sentence_en: str = ""

    @property
    def flagged(self) -> bool:
        """A disparity shown (fail), or suggested by the point estimate but not proven."""
        if self.verdict == "fail":
            return True
        outside = self.ratio.defined and not self.band[0] <= self.ratio.estimate <= self.band[1]
        return self.verdict == "insufficient_evidence" and outside

    def to_dict(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "group": self.group,
            "metric": self.metric,
            "value": json_float(self.rate.estimate),
            "ci": json_interval(self.rate),
            "reference": self.reference,
            "reference_value": json_float(self.reference_rate.estimate),
            "reference_ci": json_interval(self.reference_rate),
            "ratio": json_float(self.ratio.estimate),
            "ratio_ci": json_interval(self.ratio),
            "verdict": self.verdict,
            "reason": self.reason.en if self.reason else None,
            "reason_nl": self.reason.nl if self.reason else None,
            "flagged": self.flagged,
            "sentence_nl": self.sentence_nl,
            "sentence_en": self.sentence_en,
        }


@dataclass(frozen=True)
class FairnessAudit:
    policy: Policy
    attributes: dict[str, AttributeAudit]
    checks: tuple[Check, ...] = ()

    @property
    def summary(self) -> dict[str, int]:
        counts = {"pass": 0, "fail": 0, "insufficient_evidence": 0}
        for check in self.checks:
            counts[check.verdict] += 1
        return counts

    @property
    def sentences(self) -> dict[str, list[str]]:
        """The flagged checks' sentences: ``fail``, and ``insufficient_evidence`` outside the band."""
        flagged = [c for c in self.checks if c.flagged]
        return {"nl": [c.sentence_nl for c in flagged], "en": [c.sentence_en for c in flagged]}

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.to_dict(),
            "attributes": {name: audit.to_dict() for name, audit in self.attributes.items()},
            "checks": [check.to_dict() for check in self.checks],
            "summary": self.summary,
            "sentences": self.sentences,
        }


def json_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def json_interval(estimate: Estimate) -> list[float] | None:
    """``[low, high]``, or None when the interval is undefined."""
    interval = estimate.interval
    return None if interval is None else [float(interval[0]), float(interval[1])]
