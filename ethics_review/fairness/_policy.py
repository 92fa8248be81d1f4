"""The fairness policy: which metrics gate, the band a ratio must lie in, and the evidence a verdict needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from riskscan.errors import InvalidInput
from riskscan.stats import tail_quantiles

if TYPE_CHECKING:
    from models.specs import FairnessPolicy

METRICS = (
    "selection_rate",
    "false_positive_rate",
    "false_negative_rate",
    "false_discovery_rate",
    "precision",
    "true_positive_rate",
)
CiMethod = Literal["multinomial", "fairlearn"]


@dataclass(frozen=True)
class Policy:
    """How groups are compared and judged.

    ``min_denominator`` is the fewest cases a metric's own denominator may have, in the group and in the
    reference, before a verdict is given: innocents for the false-positive rate, violators for the true and
    false-negative rates, selected cases for precision and false-discovery rate, rows for the selection rate.
    Below it a rate is too noisy to judge whatever the group size.

    ``min_events`` is the fewest *events* (a metric's numerator: selected innocents for the false-positive
    rate, selected cases for the selection rate, ...) the group and the reference must each have. With two
    or three events a percentile bootstrap gives intervals that are too narrow (it cannot resample an event
    it never saw), and would call a disparity proven that an exact binomial interval does not support. The
    rule of thumb n·p ≥ 5 of the normal approximation sets the default.
    """

    ratio_band: tuple[float, float] = (0.8, 1.25)
    min_group_size: int = 100
    ci_level: float = 0.95
    n_boot: int = 200
    gating_metrics: tuple[str, ...] = ("false_positive_rate", "selection_rate")
    min_denominator: int = 30
    min_events: int = 5
    random_state: int = 0
    ci_method: CiMethod = "multinomial"

    def __post_init__(self) -> None:
        low, high = self.ratio_band
        problems = []
        if not 0 < low < 1 < high:
            problems.append(f"ratio band [{low}, {high}] must satisfy 0 < low < 1 < high")
        if not 0.5 < self.ci_level < 1:
            problems.append(f"ci_level {self.ci_level} must lie between 0.5 and 1")
        if self.n_boot < 20:
            problems.append(f"n_boot {self.n_boot} is too few for a percentile interval (at least 20)")
        if self.min_group_size < 1 or self.min_denominator < 1:
            problems.append("min_group_size and min_denominator must be at least 1")
        unknown = [m for m in self.gating_metrics if m not in METRICS]
        if unknown:
            problems.append(f"unknown gating metric(s) {', '.join(unknown)}; known: {', '.join(METRICS)}")
        if self.ci_method not in ("multinomial", "fairlearn"):
            problems.append(f"ci_method '{self.ci_method}' must be 'multinomial' or 'fairlearn'")
        if problems:
            raise InvalidInput("invalid fairness policy: " + "; ".join(problems))

    @classmethod
    def from_spec(cls, fairness: FairnessPolicy, **overrides: Any) -> Policy:
        """The policy of a scan spec (``models/scans/<scan>.yaml``, key ``fairness``).

        The spec's ``reported_metrics`` are a choice of ``audit_groups(metrics=...)``, not of the policy.
        """
        values: dict[str, Any] = {
            "ratio_band": tuple(fairness.ratio_band),
            "min_group_size": fairness.min_group_size,
            "ci_level": fairness.ci_level,
            "n_boot": fairness.n_boot,
            "gating_metrics": tuple(fairness.gating_metrics),
        }
        return cls(**{**values, **overrides})

    @property
    def quantiles(self) -> tuple[float, float]:
        """The quantile pair of the two-sided ``ci_level`` interval."""
        return tail_quantiles(self.ci_level)

    def gating(self, metrics: tuple[str, ...]) -> list[str]:
        """The gating metrics among ``metrics``, in the policy's order: the ones that get verdicts."""
        return [m for m in self.gating_metrics if m in metrics]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ratio_band": list(self.ratio_band),
            "min_group_size": self.min_group_size,
            "min_denominator": self.min_denominator,
            "min_events": self.min_events,
            "ci_level": self.ci_level,
            "n_boot": self.n_boot,
            "ci_method": self.ci_method,
            "gating_metrics": list(self.gating_metrics),
            "random_state": self.random_state,
        }
