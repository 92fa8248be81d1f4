"""Group fairness of a selection: per-group rates with intervals, ratios to a reference group, verdicts.

:func:`audit_groups` takes flags (selected for investigation or not), outcomes and one column per
sensitive attribute, and returns a typed :class:`FairnessAudit`: per attribute and group the confusion
cells, every rate and its ratio to the reference group as :class:`riskscan.stats.Estimate` with an
interval, a verdict per gating metric, and one Dutch and one English sentence per check. It becomes a dict
only through ``to_dict()``, for audit.json and the job reports.

One concept per private module, the maths in each docstring:

* ``_policy``: :class:`Policy` (band, minimums, level, resamples) and the metric names;
* ``_cells``: confusion cells, the metrics they define (a table), Fairlearn's point estimates;
* ``_intervals``: the stratified multinomial bootstrap of rates and ratios (and Fairlearn's, as reference);
* ``_judge``: the equivalence-test verdicts and the reasons for insufficient evidence;
* ``_sentences``: the Dutch and English sentences;
* ``_results``: the typed results and their JSON form;
* ``_audit``: :func:`audit_groups`, which puts them together.

May import the platform (``riskscan.errors``, ``riskscan.stats``, ``riskscan.fmt``), ``features.register``
(labels and reference groups) and, for types, ``models.specs``; no other stage.
"""

from ethics_review.fairness._audit import audit_groups, register_reference
from ethics_review.fairness._cells import (
    CELLS,
    METRIC_CELLS,
    confusion_cells,
    denominator,
    fairlearn_point_estimates,
    numerator,
    rates_from_cells,
)
from ethics_review.fairness._judge import Judgement, Reason, Verdict
from ethics_review.fairness._policy import METRICS, CiMethod, Policy
from ethics_review.fairness._results import (
    INTERSECTION_SEPARATOR,
    AttributeAudit,
    Check,
    FairnessAudit,
    GroupResult,
)
from ethics_review.fairness._sentences import dutch_attribute, dutch_label

__all__ = [
    "CELLS",
    "INTERSECTION_SEPARATOR",
    "METRICS",
    "METRIC_CELLS",
    "AttributeAudit",
    "Check",
    "CiMethod",
    "FairnessAudit",
    "GroupResult",
    "Judgement",
    "Policy",
    "Reason",
    "Verdict",
    "audit_groups",
    "confusion_cells",
    "denominator",
    "dutch_attribute",
    "dutch_label",
    "fairlearn_point_estimates",
    "numerator",
    "rates_from_cells",
    "register_reference",
]
