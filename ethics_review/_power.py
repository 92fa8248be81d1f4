"""What would decide an undecided ratio check: its power at the observed sizes, and the evidence it lacks.

**The test the checks use** (:mod:`ethics_review.fairness._judge`). For a group ``g`` and its reference
``r`` a metric is a proportion ``p = e / d``: ``e`` events among ``d`` cases of the metric's denominator
(selected among all rows for the selection rate, selected innocents among innocents for the
false-positive rate). The check estimates the ratio ``R = p_g / p_r`` with a two-sided interval at level
``1 - α`` and, with the policy band ``[L, H]``, says ``pass`` when the whole interval lies inside the band,
``fail`` when it lies outside, ``insufficient_evidence`` otherwise (or when a minimum is not met: group
size, denominator, events). ``pass`` is therefore two one-sided tests (TOST) of equivalence, each at
``α / 2``.

**Its variance.** By the delta method the log-ratio of two independent binomial proportions has

    Var(log R̂) = σ² = (1 - p_g) / (d_g p_g) + (1 - p_r) / (d_r p_r),

and the percentile bootstrap interval of ``R̂`` is close to ``exp(log R̂ ± z σ)`` with ``z = z_{1-α/2}``
(1.96 at 95%). Under "the true ratio is 1" both proportions equal one common rate, estimated by pooling:
``p₀ = (e_g + e_r) / (d_g + d_r)``, so ``σ₀² = (1 - p₀) / p₀ · (1 / d_g + 1 / d_r)``.

**Power of the equivalence test.** With ``log R̂ ~ N(log R, σ²)`` the check passes with probability

    P(pass | R) = Φ((log H - z σ - log R) / σ) - Φ((log L + z σ - log R) / σ),

which is 0 unless ``z σ < (log H - log L) / 2``. For ``R = 1`` it falls as σ grows; the σ* at which it
equals the target power (80%) is found by bisection (for the symmetric band 0.8-1.25,
``σ* = log 1.25 / (z + z_{0.9}) = 0.0688``).

**More cases.** When the evidence grows by a factor ``k`` in the composition observed (every group's
share and denominator share unchanged) every ``d`` scales by ``k`` and ``σ₀²`` by ``1 / k``. So the check
reaches 80% power at ``k* = σ₀² / σ*²``, raised if needed until every minimum of the policy is met
(``k n ≥ min_group_size``, ``k d ≥ min_denominator``, ``k p₀ d ≥ min_events`` for group and reference).
``cases_needed`` is ``⌈N (k* - 1)⌉`` more cases of the whole scope (``N`` cases now; for error rates those
are control cases, innocent or not), 0 when the current evidence already has 80% power at ratio 1 (the
check is then undecided because its estimate lies near a band edge, not for want of cases). It is None when
no common rate can be estimated (no events, or every case an event).

**Minimum detectable ratio.** The smallest ratio above the band that the check, at the observed sizes,
would call a ``fail`` with 80% power: ``fail`` needs ``log R̂ - z σ > log H``, so
``R_min = H · exp((z + z_{0.8}) σ₀)``; below the band the mirror image is ``L · exp(-(z + z_{0.8}) σ₀)``.
(σ is taken at the common rate; at a ratio far from 1 the group's own rate differs, which this ignores.)

**Months.** ``months_needed = cases_needed / accrual``, the accrual being the scope's cases per month at the
scan's national volume and control share, as observed in the audit window (its cases per month, scaled by
the extract's sample fraction). It assumes new cases keep arriving at that rate and composition.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scipy.stats import norm

from ethics_review.fairness import Policy, denominator, numerator

#: The power at which the audit says what would decide a check.
TARGET_POWER = 0.8


@dataclass(frozen=True)
class Power:
    """What an undecided ratio check would need: see the module notes for each figure."""

    minimum_detectable_ratio: float | None
    minimum_detectable_ratio_below: float | None
    cases_needed: int | None
    months_needed: float | None
    power_now: float | None  # P(pass | R = 1) at the observed sizes

    def to_dict(self) -> dict[str, Any]:
        return {
            "minimum_detectable_ratio": _rounded(self.minimum_detectable_ratio, 3),
            "minimum_detectable_ratio_below": _rounded(self.minimum_detectable_ratio_below, 3),
            "cases_needed": self.cases_needed,
            "months_needed": _rounded(self.months_needed, 1),
            "power_now": _rounded(self.power_now, 3),
            "target_power": TARGET_POWER,
        }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def pass_probability(sigma: float, band: tuple[float, float], ci_level: float) -> float:
    """P(pass | R = 1) of the equivalence check for a log-ratio standard error ``sigma``."""
    z = norm.ppf(1 - (1 - ci_level) / 2)
    upper = (math.log(band[1]) - z * sigma) / sigma
    lower = (math.log(band[0]) + z * sigma) / sigma
    return float(max(0.0, norm.cdf(upper) - norm.cdf(lower)))


def sigma_for_power(band: tuple[float, float], ci_level: float, power: float = TARGET_POWER) -> float:
    """The log-ratio standard error at which the check passes with probability ``power`` when R = 1."""
    low, high = 1e-6, math.log(band[1] / band[0])  # pass_probability falls from ~1 to 0 over this range
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if pass_probability(middle, band, ci_level) > power else (low, middle)
    return low


def ratio_check_power(
    metric: str,
    cells: Sequence[int],
    reference_cells: Sequence[int],
    policy: Policy,
    *,
    scope_cases: int,
    cases_per_month: float | None,
) -> Power:
    """Power figures of one group's ratio check on ``metric`` (cells: tp, fp, fn, tn) against its reference.

    ``scope_cases`` is N, the cases of the whole scope now; ``cases_per_month`` the scope's national
    accrual (None: months unknown).
    """
    sizes = (sum(cells), sum(reference_cells))
    denominators = (denominator(metric, cells), denominator(metric, reference_cells))
    events = numerator(metric, cells) + numerator(metric, reference_cells)
    if min(denominators) == 0 or events in (0, sum(denominators)):
        return Power(None, None, None, None, None)
    common = events / sum(denominators)
    sigma = math.sqrt((1 - common) / common * (1 / denominators[0] + 1 / denominators[1]))
    z = norm.ppf(1 - (1 - policy.ci_level) / 2) + norm.ppf(TARGET_POWER)
    low, high = policy.ratio_band
    target = sigma_for_power(policy.ratio_band, policy.ci_level)
    scale = max(
        sigma**2 / target**2,
        *(policy.min_group_size / n for n in sizes),
        *(policy.min_denominator / d for d in denominators),
        *(policy.min_events / (common * d) for d in denominators),
    )
    cases = max(0, math.ceil(scope_cases * (scale - 1) - 1e-9))
    months = None if not cases_per_month else cases / cases_per_month
    return Power(
        minimum_detectable_ratio=high * math.exp(z * sigma),
        minimum_detectable_ratio_below=low * math.exp(-z * sigma),
        cases_needed=cases,
        months_needed=months,
        power_now=pass_probability(sigma, policy.ratio_band, policy.ci_level),
    )
