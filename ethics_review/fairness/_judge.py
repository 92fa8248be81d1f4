"""Verdicts: equivalence-test logic on the ratio interval against the policy band.

Per non-reference group and gating metric, with the policy band ``[low, high]`` (Aequitas' 0.8-1.25 by
default):

* ``pass``: the whole interval lies inside the band (parity shown, up to the band);
* ``fail``: the whole interval lies outside the band (disparity shown);
* ``insufficient_evidence``: anything else. The group (or the reference) has fewer than
  ``min_group_size`` rows, the metric's own denominator has fewer than ``min_denominator`` cases in the
  group or the reference (30 innocents are too few to say anything about a false-positive rate), either
  has fewer than ``min_events`` events, the ratio or its interval is undefined, or the interval straddles a
  band edge (too wide to tell).

With a two-sided 95% interval, ``pass`` is a two-one-sided-tests equivalence decision at 2.5% per side, so
it is conservative: absence of evidence of disparity is never reported as parity. The reference group's
own verdict is ``reference``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ethics_review.fairness._cells import denominator, numerator
from ethics_review.fairness._policy import Policy
from riskscan.stats import Estimate

#: The verdict of a check.
Judgement = Literal["pass", "fail", "insufficient_evidence"]
#: A group's verdict on a metric: a judgement, or ``reference`` for the reference group itself.
Verdict = Literal["pass", "fail", "insufficient_evidence", "reference"]


@dataclass(frozen=True)
class Reason:
    """Why the evidence is insufficient, in English and Dutch."""

    en: str
    nl: str


# What the denominator counts, for the reasons given with insufficient_evidence (EN, NL).
_DENOMINATOR_NAMES: dict[str, tuple[str, str]] = {
    "selection_rate": ("rows", "rijen"),
    "false_positive_rate": ("innocent applicants", "onschuldige aanvragers"),
    "false_negative_rate": ("applicants with a violation", "aanvragers met een overtreding"),
    "true_positive_rate": ("applicants with a violation", "aanvragers met een overtreding"),
    "precision": ("selected applicants", "geselecteerde aanvragers"),
    "false_discovery_rate": ("selected applicants", "geselecteerde aanvragers"),
}
_ROLES = (("the group", "de groep"), ("the reference group", "de referentiegroep"))
# Each minimum in the order it is checked: what is counted, its policy minimum, and the reason (EN, NL).
_MINIMUMS: tuple[tuple[Callable[[str, list[int]], int], str, str, str], ...] = (
    (
        lambda metric, cells: sum(cells),
        "min_group_size",
        "{role} has {count} rows, fewer than the minimum group size of {minimum}",
        "{role} telt {count} rijen, minder dan de minimale groepsgrootte van {minimum}",
    ),
    (
        denominator,
        "min_denominator",
        "{role} has only {count} {what}, fewer than the minimum of {minimum}",
        "{role} heeft maar {count} {what}, minder dan het minimum van {minimum}",
    ),
    (
        numerator,
        "min_events",
        "{role} has only {count} event(s) for this rate, fewer than the minimum of {minimum}: "
        "too few for a reliable interval",
        "{role} heeft maar {count} gebeurtenis(sen) voor deze kans, minder dan het minimum van {minimum}: "
        "te weinig voor een betrouwbaar interval",
    ),
)
UNDEFINED_RATIO = Reason(
    "the ratio or its interval is undefined (the reference rate is zero in the data or in resamples)",
    "de verhouding of haar interval is onbepaald (de referentiekans is nul in de data of in steekproeven)",
)
TOO_WIDE = Reason(
    "the interval is too wide to tell (it overlaps the edge of the band)",
    "het interval is te breed om te beslissen (het overlapt de rand van de band)",
)


def judge(
    metric: str, cells: NDArray[np.int64], ref_cells: NDArray[np.int64], ratio: Estimate, policy: Policy
) -> tuple[Judgement, Reason | None]:
    """Equivalence-test verdict of one group on one metric (see the module notes)."""
    shortfall = _shortfall(metric, cells.tolist(), ref_cells.tolist(), policy)
    if shortfall is not None:
        return "insufficient_evidence", shortfall
    if ratio.interval is None:
        return "insufficient_evidence", UNDEFINED_RATIO
    low, high = policy.ratio_band
    if ratio.lies_within(low, high):
        return "pass", None
    if ratio.lies_below(low) or ratio.lies_above(high):
        return "fail", None
    return "insufficient_evidence", TOO_WIDE


def _shortfall(metric: str, cells: list[int], ref_cells: list[int], policy: Policy) -> Reason | None:
    """The first minimum of the policy that the group or the reference does not reach, as a reason."""
    what_en, what_nl = _DENOMINATOR_NAMES[metric]
    for count_of, minimum_name, text_en, text_nl in _MINIMUMS:
        minimum = getattr(policy, minimum_name)
        for (role_en, role_nl), counts in zip(_ROLES, (cells, ref_cells), strict=True):
            count = int(count_of(metric, counts))
            if count < minimum:
                return Reason(
                    text_en.format(role=role_en, count=count, what=what_en, minimum=minimum),
                    text_nl.format(role=role_nl, count=count, what=what_nl, minimum=minimum),
                )
    return None
