"""Following up the committee's monitoring obligations on the live random control sample.

An ``approve-with-conditions`` decision names one obligation per audit check that had insufficient
evidence (:mod:`models.governance`). ``riskscan monitor`` re-computes each obliged group-ratio check on the
champion's **random control cases with a recorded outcome** (every case the champion scored: it could
serve only after the approval), one row per person, and records what it found (``obligation_reviews``):

* ``pass``: the ratio's interval lies inside the spec's ratio band;
* ``fail``: the interval lies entirely outside it (committee review, exit status 4);
* ``open``: still undecided, before the obligation's due date;
* ``overdue``: still undecided after the due date (committee review, exit status 4);
* ``not_followed``: the check is not a group ratio on the control sample (a proxy or comparability check),
  so it cannot be re-computed from live outcomes; the committee re-audits it by hand, and past its due
  date it is ``overdue`` like any other.

**Intervals valid under repeated looks: a confidence sequence.** Monitoring runs every month and looks
at the accumulating evidence each time; a fixed-sample 95% interval looked at twelve times would declare
a disparity far more often than 5% of the time. Each group's rate therefore gets a *confidence sequence*
(Robbins' normal mixture, in the form of Howard, Ramdas, McAuliffe and Sekhon 2021, "Time-uniform,
nonparametric, nonasymptotic confidence sequences", eq. (14)): for observations :math:`X_i \\in [0, 1]`
(here: the case was signalled, among the group's control cases with the metric's outcome), which are
1/2-sub-Gaussian, with :math:`S_n = \\sum_i (X_i - p)`, :math:`V_n = n/4` and a tuning constant
:math:`\\rho > 0`,

.. math::

    P\\left(\\exists n \\ge 1: |S_n| \\ge \\sqrt{2 (V_n + \\rho) \\log\\left(\\frac{2}{\\alpha}
    \\sqrt{\\frac{V_n + \\rho}{\\rho}}\\right)}\\right) \\le \\alpha,

so :math:`\\hat p_n \\pm r_n` with :math:`r_n` that bound divided by :math:`n` covers :math:`p` at *every*
``n`` at once with probability at least :math:`1 - \\alpha`: however often monitoring looks, and whenever
it stops. :math:`\\rho` sets the sample size where the sequence is tightest; :data:`RHO` puts it near a
few hundred cases, the size the obligations ask for. The group and its reference group each get
:math:`\\alpha/2` (Bonferroni), and the ratio's interval is
:math:`[\\,\\text{low}_g / \\text{high}_{ref},\\ \\text{high}_g / \\text{low}_{ref}\\,]`, which then holds
uniformly over time with probability at least :math:`1 - \\alpha` (``alpha = 1 - ci_level`` of the spec).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import numpy as np
import pandas as pd

from features.register import FeatureRegister
from models.governance import GovernanceStore, ObligationRecord, check_id
from models.specs import ScanSpec

#: The mixture's tuning constant, in the units of V_n = n/4: the sequence is tightest around a few hundred
#: cases, the size the audit's obligations ask for.
RHO: Final = 25.0
CONTROL_SCOPE: Final = "random control sample"
#: Which control cases each metric's rate is taken over: all, those without a violation, those with one.
_CONDITION: Final[dict[str, bool | None]] = {
    "selection_rate": None,
    "false_positive_rate": False,
    "true_negative_rate": False,
    "true_positive_rate": True,
    "false_negative_rate": True,
}
_RATIO_NAME: Final = re.compile(r"(?P<metric>\w+) ratio, (?P<attribute>[^=]+?) = (?P<group>.+)")
#: Exit status 4 (committee review required) for these states.
REVIEW_NEEDED: Final = ("fail", "overdue")


@dataclass(frozen=True)
class FollowUp:
    """What one follow-up found for one obligation."""

    obligation: ObligationRecord
    state: str
    cases: int
    ratio: tuple[float, float] | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.obligation.check,
            "due": self.obligation.due.isoformat(),
            "state": self.state,
            "cases": self.cases,
            "ratio": None if self.ratio is None else list(self.ratio),
            "detail": self.detail,
        }


def confidence_sequence(successes: int, n: int, alpha: float, rho: float = RHO) -> tuple[float, float]:
    """A two-sided, time-uniform (1 - alpha) interval for a rate after ``n`` observations (module docstring)."""
    if n == 0:
        return 0.0, 1.0
    v = n / 4 + rho
    radius = math.sqrt(2 * v * math.log(2 / alpha * math.sqrt(v / rho))) / n
    mean = successes / n
    return max(0.0, mean - radius), min(1.0, mean + radius)


def ratio_interval(group: np.ndarray, reference: np.ndarray, alpha: float) -> tuple[float, float]:
    """The group's rate over the reference's, each with a confidence sequence at ``alpha / 2``."""
    g_low, g_high = confidence_sequence(int(group.sum()), len(group), alpha / 2)
    r_low, r_high = confidence_sequence(int(reference.sum()), len(reference), alpha / 2)
    low = g_low / r_high if r_high > 0 else 0.0
    high = g_high / r_low if r_low > 0 else math.inf
    return low, high


def _state(interval: tuple[float, float], band: tuple[float, float], overdue: bool) -> str:
    low, high = interval
    if band[0] <= low and high <= band[1]:
        return "pass"
    if high < band[0] or low > band[1]:
        return "fail"
    return "overdue" if overdue else "open"


def _follow(
    obligation: ObligationRecord,
    check: Mapping[str, Any] | None,
    control: pd.DataFrame,
    spec: ScanSpec,
    register: FeatureRegister,
    as_of: date,
) -> FollowUp:
    overdue = as_of > obligation.due
    match = _RATIO_NAME.fullmatch(str(check["name"])) if check else None
    attribute = match["attribute"].strip() if match else ""
    if (
        check is None
        or match is None
        or check["scope"] != CONTROL_SCOPE
        or match["metric"] not in _CONDITION
        or attribute not in control.columns
        or not register[attribute].audit_reference
    ):
        detail = "niet automatisch te volgen op live uitkomsten; de commissie her-audit deze toets zelf"
        return FollowUp(obligation, "overdue" if overdue else "not_followed", 0, None, detail)
    condition = _CONDITION[match["metric"]]
    rows = control if condition is None else control[control["violation"] == condition]
    values = rows[attribute].astype(str)
    reference = str(register[attribute].audit_reference)
    group = rows.loc[values == match["group"], "signal"].to_numpy(dtype=int)
    ref = rows.loc[values == reference, "signal"].to_numpy(dtype=int)
    alpha = 1 - spec.fairness.ci_level
    interval = ratio_interval(group, ref, alpha)
    state = _state(interval, spec.fairness.ratio_band, overdue)
    high = "∞" if math.isinf(interval[1]) else f"{interval[1]:.2f}"
    detail = (
        f"{match['metric']} {attribute} = {match['group']} t.o.v. {reference}: ratio tussen {interval[0]:.2f} en "
        f"{high} ({spec.fairness.ci_level:.0%} betrouwbaarheidsreeks, {len(group)} + {len(ref)} controlegevallen; "
        f"band {spec.fairness.ratio_band[0]}-{spec.fairness.ratio_band[1]})"
    )
    finite = None if math.isinf(interval[1]) else interval
    return FollowUp(obligation, state, len(group) + len(ref), finite, detail)


def follow_up(
    governance: GovernanceStore,
    decision_id: int,
    audit: Mapping[str, Any],
    control: pd.DataFrame,
    spec: ScanSpec,
    register: FeatureRegister,
    as_of: date,
) -> list[FollowUp]:
    """Re-compute every obligation of a decision on ``control`` (live control cases with an outcome, one row
    per person, with ``signal``, ``violation`` and the group columns) and record each result."""
    checks = {check_id(c): c for c in audit["checks"]}
    results = []
    for obligation in governance.obligations(decision_id):
        result = _follow(obligation, checks.get(obligation.check), control, spec, register, as_of)
        governance.record_obligation_review(
            obligation_id=obligation.id,
            state=result.state,
            cases=result.cases,
            ratio=result.ratio,
            detail=result.detail,
            as_of=as_of,
        )
        results.append(result)
    return results
