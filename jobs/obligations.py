"""Following up the committee's monitoring obligations on the live random control sample.

An ``approve-with-conditions`` decision names one obligation per audit check that had insufficient
evidence (:mod:`models.governance`). ``riskscan monitor`` re-computes each obliged group-ratio check on what
the champion has scored since (every case it scored: it could serve only after the approval), one row per
person, and records what it found (``obligation_reviews``). A check of the random control sample (an error
rate) is re-computed on the **control cases with a recorded outcome**; a selection-rate check of all scored
cases on **every scored case**, which needs no outcome. A check of an intersection (``nationaliteit ×
geslacht = turks_marokkaans × vrouw``) is re-computed on the combined groups, against the combined reference
groups, as the audit does. The rate is always of the model's own flag (score at or above the version's
threshold), as in the audit: the log's ``signal`` is true for every control case (drawn, so selected), and a
rate of it among control cases would be 1 in every group.

* ``pass``: the ratio's interval lies inside the spec's ratio band;
* ``fail``: the interval lies entirely outside it (committee review, exit status 4);
* ``open``: still undecided, before the obligation's due date;
* ``overdue``: still undecided after the due date (committee review, exit status 4);
* ``not_followed``: the check is not a group ratio (a proxy or comparability check), so it cannot be
  re-computed from live cases; the committee re-audits it by hand, and past its due date it is ``overdue``
  like any other.

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

from ethics_review.fairness import INTERSECTION_SEPARATOR, register_reference
from features.register import FeatureRegister
from models.governance import GovernanceStore, ObligationRecord, check_id
from models.specs import ScanSpec

#: The mixture's tuning constant, in the units of V_n = n/4: the sequence is tightest around a few hundred
#: cases, the size the audit's obligations ask for.
RHO: Final = 25.0
CONTROL_SCOPE: Final = "random control sample"
#: The audit's scope of selection rates over every scored case (ethics_review.checks.group_metric_checks).
POPULATION_SCOPE: Final = "all scored cases (selection rate)"
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


def group_values(cases: pd.DataFrame, attribute: str) -> pd.Series | None:
    """Each case's group of ``attribute`` as text; an intersection's parts joined as the audit joins them.
    None when the cases lack a column the attribute needs."""
    parts = attribute.split(INTERSECTION_SEPARATOR)
    if not all(part in cases.columns for part in parts):
        return None
    values = cases[parts[0]].astype(str)
    for part in parts[1:]:
        values = values + INTERSECTION_SEPARATOR + cases[part].astype(str)
    return values


def _follow(
    obligation: ObligationRecord,
    check: Mapping[str, Any] | None,
    live: LiveCases,
    spec: ScanSpec,
    register: FeatureRegister,
    as_of: date,
) -> FollowUp:
    overdue = as_of > obligation.due
    match = _RATIO_NAME.fullmatch(str(check["name"])) if check else None
    attribute = match["attribute"].strip() if match else ""
    scope = check["scope"] if check else None
    if scope == CONTROL_SCOPE and match and match["metric"] in _CONDITION:
        condition = _CONDITION[match["metric"]]
        rows = live.control if condition is None else live.control[live.control["violation"] == condition]
        kind = "controlegevallen"
    elif scope == POPULATION_SCOPE and match and match["metric"] == "selection_rate":
        rows, kind = live.scored, "gescoorde personen"
    else:
        rows, kind = None, ""
    values = group_values(rows, attribute) if rows is not None else None
    reference = register_reference(attribute, register) if match else None
    if match is None or rows is None or values is None or reference is None:
        detail = "niet automatisch te volgen op live gevallen; de commissie her-audit deze toets zelf"
        return FollowUp(obligation, "overdue" if overdue else "not_followed", 0, None, detail)
    flags = rows["flagged"].to_numpy(dtype=int)
    group = flags[(values == match["group"]).to_numpy()]
    ref = flags[(values == reference).to_numpy()]
    alpha = 1 - spec.fairness.ci_level
    interval = ratio_interval(group, ref, alpha)
    state = _state(interval, spec.fairness.ratio_band, overdue)
    high = "∞" if math.isinf(interval[1]) else f"{interval[1]:.2f}"
    detail = (
        f"{match['metric']} {attribute} = {match['group']} t.o.v. {reference}: ratio tussen {interval[0]:.2f} en "
        f"{high} ({spec.fairness.ci_level:.0%} betrouwbaarheidsreeks, {len(group)} + {len(ref)} {kind}; "
        f"band {spec.fairness.ratio_band[0]}-{spec.fairness.ratio_band[1]})"
    )
    finite = None if math.isinf(interval[1]) else interval
    return FollowUp(obligation, state, len(group) + len(ref), finite, detail)


@dataclass(frozen=True)
class LiveCases:
    """What the champion scored since its approval, one row per person, each with its groups and ``flagged``
    (:func:`serving.history.flagged`): ``scored``, every scored person; ``control``, the random control cases
    with a recorded outcome, with ``violation``."""

    scored: pd.DataFrame
    control: pd.DataFrame


def follow_up(
    governance: GovernanceStore,
    decision_id: int,
    audit: Mapping[str, Any],
    live: LiveCases,
    spec: ScanSpec,
    register: FeatureRegister,
    as_of: date,
) -> list[FollowUp]:
    """Re-compute every obligation of a decision on the ``live`` cases and record each result."""
    checks = {check_id(c): c for c in audit["checks"]}
    results = []
    for obligation in governance.obligations(decision_id):
        result = _follow(obligation, checks.get(obligation.check), live, spec, register, as_of)
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
