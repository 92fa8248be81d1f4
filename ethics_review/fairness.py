"""Group fairness of a selection: per-group rates with intervals, ratios to a reference group, verdicts.

A risk scan *selects* cases for investigation (flag ``f = 1``); an investigation *finds* a violation or not
(label ``y = 1`` or ``0``). For every group ``g`` of a sensitive attribute the four confusion cells

    tp = #(f=1, y=1)    fp = #(f=1, y=0)    fn = #(f=0, y=1)    tn = #(f=0, y=0)    n = tp + fp + fn + tn

determine every metric this module reports (``METRIC_CELLS`` encodes the table):

    ====================  ==============  ====================  =====================================
    metric                value           denominator           plain meaning
    ====================  ==============  ====================  =====================================
    selection_rate        (tp+fp) / n     all rows              chance to be selected
    false_positive_rate   fp / (fp+tn)    innocents (y=0)       chance that an innocent is investigated
    false_negative_rate   fn / (fn+tp)    violators (y=1)       chance that a violation goes unseen
    true_positive_rate    tp / (tp+fn)    violators (y=1)       chance that a violation is found
    precision             tp / (tp+fp)    selected (f=1)        chance that an investigation finds one
    false_discovery_rate  fp / (tp+fp)    selected (f=1)        chance that an investigation hits an innocent
    ====================  ==============  ====================  =====================================

A metric whose denominator is zero is *undefined* (NaN, ``null`` in JSON). scikit-learn's normalised
confusion matrix reports 0 there; this module does not, because "0% of innocents investigated" is a claim
about innocents that a group without innocents cannot support.

**Point estimates** come from Fairlearn's ``MetricFrame`` with Fairlearn's metric functions
(``selection_rate``, ``false_positive_rate``, ``false_negative_rate``, ``true_positive_rate``) and
scikit-learn's ``precision_score``; ``false_discovery_rate = 1 - precision``. MetricFrame is fed the
aggregated confusion cells, one row per non-empty (group, cell) with ``sample_weight`` = the cell count. That
is exact, not an approximation: each metric is a function of the weighted confusion matrix, which equals
the row-level one. It makes the point estimates cost O(groups) instead of O(rows). (Fairlearn's ``count``
counts input rows, here cells, so ``n`` is the cell total.)

**Intervals** are percentile bootstrap intervals at level ``ci_level``: with ``a = (1 - ci_level) / 2`` the
interval is the (a, 1 - a) quantile pair of the statistic over ``n_boot`` resamples. The resampling is
stratified by group (group sizes are held at their observed ``n_g``, the question being the rates *within*
groups of the size audited). Resampling ``n_g`` rows with replacement from group ``g`` and counting its four
cells is the same random experiment as one draw

    (tp*, fp*, fn*, tn*) ~ Multinomial(n_g, (tp, fp, fn, tn) / n_g),

because every resampled row falls in cell ``c`` independently with probability ``cell_c / n_g``. So all
``n_boot`` resamples of all groups are one vectorised ``Generator.multinomial`` call, O(n_boot x groups)
instead of O(n_boot x rows). From the same draws:

* the interval of a group's metric ``m_g`` is the percentile pair of ``m_g*`` (draws where the metric is
  undefined are ignored, as Fairlearn's own bootstrap does with ``nanquantile``);
* the interval of the ratio ``r_g = m_g / m_ref`` to the reference group is the percentile pair of
  ``m_g* / m_ref*``, with group and reference drawn independently. Fairlearn offers no ratio-to-reference
  interval. If any draw of the ratio is undefined or infinite (the reference rate is zero in some
  resample) the ratio interval is undefined: it is unbounded, and a bound cannot be stated.

``Policy(ci_method="fairlearn")`` takes the per-group intervals from Fairlearn's own bootstrap instead
(``MetricFrame(n_boot=..., ci_quantiles=[a, 1 - a], random_state=...)``), which resamples whole rows of the
unstratified table and recomputes each metric through scikit-learn for every resample and group. It is the
reference implementation, and the tests check that both methods agree to within Monte Carlo error, but it
is too slow to be the default. Measured here per resample with all six metrics: about 0.12 s for 800 rows
and 2 groups, 0.5 s for 10,000 rows and 5 groups, 4.5 s for 100,000 rows and 5 groups; so one attribute of
a national audit at ``n_boot=200`` takes about 15 minutes, against well under a second for the
multinomial draws. Its cost grows with the number of metrics, so it bootstraps only the asked ones. Ratio
intervals always come from the multinomial draws.

**Verdicts** follow equivalence-test logic on the ratio interval against the policy band ``[low, high]``
(Aequitas' 0.8-1.25 by default), per non-reference group and gating metric:

* ``pass``: the whole interval lies inside the band (parity shown, up to the band);
* ``fail``: the whole interval lies outside the band (disparity shown);
* ``insufficient_evidence``: anything else. The group (or the reference) has fewer than
  ``min_group_size`` rows, the metric's own denominator has fewer than ``min_denominator`` cases in the
  group or the reference (30 innocents are too few to say anything about a false-positive rate), the ratio
  or its interval is undefined, or the interval straddles a band edge (too wide to tell).

With a two-sided 95% interval, ``pass`` is a two-one-sided-tests equivalence decision at 2.5% per side, so
it is conservative: absence of evidence of disparity is never reported as parity. The reference group's
own verdict is ``reference``.

**Sentences**: each check carries one Dutch and one English sentence built from one template per metric,
always with the interval of the group rate, of the reference rate and of the ratio, so a disparity is never
stated without its uncertainty. Dutch sentences use the register's Dutch category labels and decimal
commas. ``FairnessAudit.sentences`` lists the flagged checks: ``fail``, and ``insufficient_evidence`` whose
point ratio lies outside the band, which the sentence then calls "not proven".
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import precision_score

from features.register import FeatureRegister, default_register
from riskscan.errors import InvalidInput

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
Verdict = Literal["pass", "fail", "insufficient_evidence", "reference"]
CiMethod = Literal["multinomial", "fairlearn"]
Interval = tuple[float, float] | None
INTERSECTION_SEPARATOR = " × "

# Cell order used throughout: tp, fp, fn, tn.
CELLS = ("tp", "fp", "fn", "tn")
TP, FP, FN, TN = range(4)
# metric -> (numerator cells, denominator cells)
METRIC_CELLS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "selection_rate": ((TP, FP), (TP, FP, FN, TN)),
    "false_positive_rate": ((FP,), (FP, TN)),
    "false_negative_rate": ((FN,), (FN, TP)),
    "false_discovery_rate": ((FP,), (TP, FP)),
    "precision": ((TP,), (TP, FP)),
    "true_positive_rate": ((TP,), (TP, FN)),
}
# What the denominator counts, for the reasons given with insufficient_evidence (EN, NL).
_DENOMINATOR_NAMES: dict[str, tuple[str, str]] = {
    "selection_rate": ("rows", "rijen"),
    "false_positive_rate": ("innocent applicants", "onschuldige aanvragers"),
    "false_negative_rate": ("applicants with a violation", "aanvragers met een overtreding"),
    "true_positive_rate": ("applicants with a violation", "aanvragers met een overtreding"),
    "precision": ("selected applicants", "geselecteerde aanvragers"),
    "false_discovery_rate": ("selected applicants", "geselecteerde aanvragers"),
}
_FAIRLEARN_METRICS = {
    "selection_rate": partial(selection_rate, pos_label=1),
    "false_positive_rate": partial(false_positive_rate, pos_label=1),
    "false_negative_rate": partial(false_negative_rate, pos_label=1),
    "true_positive_rate": partial(true_positive_rate, pos_label=1),
    "precision": partial(precision_score, pos_label=1, zero_division=np.nan),
}


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
        tail = (1 - self.ci_level) / 2
        return tail, 1 - tail

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


@dataclass(frozen=True)
class Reason:
    """Why the evidence is insufficient, in English and Dutch."""

    en: str
    nl: str


@dataclass(frozen=True)
class GroupResult:
    """One group of one attribute: its cells, rates, intervals, ratios to the reference and verdicts."""

    n: int
    cells: tuple[int, int, int, int]  # tp, fp, fn, tn
    values: dict[str, float]  # per reported metric; NaN when undefined
    ci: dict[str, Interval]
    ratio: dict[str, float]  # NaN when undefined
    ratio_ci: dict[str, Interval]
    verdict: dict[str, Verdict]  # gating metrics only
    reasons: dict[str, Reason | None]  # gating metrics only; set when the verdict is insufficient_evidence

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            **{metric: _json_float(value) for metric, value in self.values.items()},
            "confusion": dict(zip(CELLS, self.cells, strict=True)),
            "ci": {metric: _json_interval(interval) for metric, interval in self.ci.items()},
            "ratio": {metric: _json_float(value) for metric, value in self.ratio.items()},
            "ratio_ci": {metric: _json_interval(interval) for metric, interval in self.ratio_ci.items()},
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
    value: float
    ci: Interval
    reference: str
    reference_value: float
    reference_ci: Interval
    ratio: float
    ratio_ci: Interval
    verdict: Verdict
    reason: Reason | None
    band: tuple[float, float]
    ci_level: float
    sentence_nl: str = ""
    sentence_en: str = ""

    @property
    def flagged(self) -> bool:
        """A disparity shown (fail), or suggested by the point estimate but not proven."""
        if self.verdict == "fail":
            return True
        outside = np.isfinite(self.ratio) and not self.band[0] <= self.ratio <= self.band[1]
        return self.verdict == "insufficient_evidence" and bool(outside)

    def to_dict(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "group": self.group,
            "metric": self.metric,
            "value": _json_float(self.value),
            "ci": _json_interval(self.ci),
            "reference": self.reference,
            "reference_value": _json_float(self.reference_value),
            "reference_ci": _json_interval(self.reference_ci),
            "ratio": _json_float(self.ratio),
            "ratio_ci": _json_interval(self.ratio_ci),
            "verdict": self.verdict,
            "reason": self.reason.en if self.reason else None,
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


# -- metrics from confusion cells -------------------------------------------------------------------------


def rates_from_cells(cells: NDArray[np.integer[Any]]) -> dict[str, NDArray[np.float64]]:
    """Every metric from cell counts of shape (..., 4) in the order tp, fp, fn, tn; NaN where undefined."""
    counts = np.asarray(cells, dtype=np.float64)
    rates = {}
    for metric, (numerator, denominator) in METRIC_CELLS.items():
        top = counts[..., list(numerator)].sum(axis=-1)
        bottom = counts[..., list(denominator)].sum(axis=-1)
        rates[metric] = np.divide(top, bottom, out=np.full_like(top, np.nan), where=bottom > 0)
    return rates


def denominator(metric: str, cells: Sequence[int]) -> int:
    """The number of cases a metric is a proportion of (innocents for the false-positive rate, ...)."""
    return int(sum(cells[i] for i in METRIC_CELLS[metric][1]))


def confusion_cells(
    y_true: NDArray[np.int8], y_pred: NDArray[np.int8], codes: NDArray[np.intp], n_groups: int
) -> NDArray[np.int64]:
    """Counts of shape (n_groups, 4): tp, fp, fn, tn per group code."""
    cell = np.where(y_pred == 1, np.where(y_true == 1, TP, FP), np.where(y_true == 1, FN, TN))
    return np.bincount(codes * 4 + cell, minlength=n_groups * 4).reshape(n_groups, 4).astype(np.int64)


def fairlearn_point_estimates(
    cells: NDArray[np.int64], labels: Sequence[str], metrics: Sequence[str] = METRICS
) -> pd.DataFrame:
    """Per-group metrics (rows: labels, columns: metrics) from Fairlearn's MetricFrame on weighted cells.

    One input row per non-empty (group, cell), weighted by its count: the weighted confusion matrix of each
    group equals its row-level one, so the result is exact. Undefined metrics are NaN (see module notes).
    """
    functions = _fairlearn_functions(metrics)
    group_index, cell_index = np.nonzero(cells)
    y_true = np.isin(cell_index, (TP, FN)).astype(int)
    y_pred = np.isin(cell_index, (TP, FP)).astype(int)
    weight = cells[group_index, cell_index].astype(float)
    frame = MetricFrame(
        metrics=functions,
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=pd.Series(np.asarray(labels, dtype=object)[group_index], name="group"),
        sample_params={name: {"sample_weight": weight} for name in functions},
    )
    by_group = pd.DataFrame(frame.by_group).reindex(list(labels)).astype(float)
    if "false_discovery_rate" in metrics:
        by_group["false_discovery_rate"] = 1 - by_group["precision"]
    for metric in metrics:  # scikit-learn's normalised confusion matrix reports 0 for an empty denominator
        empty = [denominator(metric, row) == 0 for row in cells]
        by_group.loc[empty, metric] = np.nan
    return by_group[list(metrics)]


def _fairlearn_functions(metrics: Sequence[str]) -> dict[str, Any]:
    """The functions behind the asked metrics (the false-discovery rate comes from precision).

    Only these are computed, since MetricFrame's cost grows with their number.
    """
    wanted = {"precision" if m == "false_discovery_rate" else m for m in metrics}
    return {name: f for name, f in _FAIRLEARN_METRICS.items() if name in wanted}


def _percentiles(draws: NDArray[np.float64], quantiles: tuple[float, float]) -> list[Interval]:
    """Percentile interval per column of draws (n_boot, k), ignoring undefined draws; None if all are."""
    defined = np.isfinite(draws)
    safe = np.where(defined, draws, np.nan)
    out: list[Interval] = []
    for column in range(draws.shape[1]):
        if not defined[:, column].any():
            out.append(None)
            continue
        low, high = np.nanquantile(safe[:, column], quantiles)
        out.append((float(low), float(high)))
    return out


def _ratio_interval(draws: NDArray[np.float64], quantiles: tuple[float, float]) -> Interval:
    """Percentile interval of ratio draws; undefined when any draw is (an unbounded ratio has no bound)."""
    if not np.isfinite(draws).all():
        return None
    low, high = np.quantile(draws, quantiles)
    return float(low), float(high)


def _fairlearn_intervals(
    y_true: NDArray[np.int8],
    y_pred: NDArray[np.int8],
    row_labels: NDArray[np.object_],
    *,
    labels: list[str],
    metrics: tuple[str, ...],
    policy: Policy,
) -> dict[str, list[Interval]]:
    """Per-group intervals (metric -> one per label) from Fairlearn's row bootstrap; slow, see the notes.

    Fairlearn scores a resample in which a metric's denominator is empty as 0, not
    as undefined; with ``min_denominator`` cases in the sample such resamples are vanishingly rare.
    """
    functions = _fairlearn_functions(metrics)
    frame = MetricFrame(
        metrics=functions,
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=pd.Series(row_labels, name="group"),
        n_boot=policy.n_boot,
        ci_quantiles=list(policy.quantiles),
        random_state=policy.random_state,
    )
    low, high = (pd.DataFrame(bound).reindex(labels).astype(float) for bound in frame.by_group_ci)
    intervals: dict[str, list[Interval]] = {}
    for metric in functions:
        pairs = zip(low[metric].to_numpy(), high[metric].to_numpy(), strict=True)
        intervals[metric] = [
            (float(a), float(b)) if np.isfinite(a) and np.isfinite(b) else None for a, b in pairs
        ]
    if "false_discovery_rate" in metrics:
        intervals["false_discovery_rate"] = [
            None if c is None else (1 - c[1], 1 - c[0]) for c in intervals["precision"]
        ]
    return intervals


# -- the audit ------------------------------------------------------------------------------------------


def audit_groups(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    groups: pd.DataFrame,
    *,
    policy: Policy | None = None,
    reference: Mapping[str, str] | None = None,
    intersections: Sequence[Sequence[str]] = (),
    metrics: Sequence[str] = METRICS,
    register: FeatureRegister | None = None,
) -> FairnessAudit:
    """Audit a selection ``y_pred`` (1 = selected) against outcomes ``y_true`` (1 = violation) per group.

    ``groups`` has one column per sensitive attribute, aligned with the labels. ``intersections`` combines
    columns into one attribute (``("nationaliteit", "geslacht")`` -> ``"nationaliteit × geslacht"`` with
    groups like ``"turks_marokkaans × vrouw"``). ``reference`` maps an attribute (or intersection) name to
    its reference group; by default the register's ``audit_reference`` (joined for intersections) when
    that group occurs, else the largest group. ``metrics`` limits what is reported and judged (a
    label-free audit of selection rates passes ``("selection_rate",)``); checks are made for the policy's
    gating metrics among them. Raises ``InvalidInput`` for invalid input.
    """
    policy = policy or Policy()
    unknown_metrics = [m for m in metrics if m not in METRICS]
    if unknown_metrics or not metrics:
        raise InvalidInput(f"metrics must be a non-empty choice of {', '.join(METRICS)}; got {list(metrics)}")
    reported = tuple(m for m in METRICS if m in metrics)
    register = register or default_register()
    truth, flags = _binary(y_true, "y_true"), _binary(y_pred, "y_pred")
    if len(truth) != len(flags) or len(groups) != len(truth):
        raise InvalidInput(
            f"y_true ({len(truth)}), y_pred ({len(flags)}) and groups ({len(groups)}) differ in length"
        )
    if len(truth) == 0:
        raise InvalidInput("there are no rows to audit")
    columns = {str(name): _group_values(groups[name], str(name)) for name in groups.columns}
    for combo in intersections:
        missing = [name for name in combo if name not in columns]
        if len(combo) < 2 or missing:
            raise InvalidInput(
                f"intersection {list(combo)} needs at least two of the group columns {list(columns)}"
            )
    attributes = {name: values for name, values in columns.items()}
    for combo in intersections:
        joined = columns[combo[0]]
        for name in combo[1:]:
            joined = joined + INTERSECTION_SEPARATOR + columns[name]
        attributes[INTERSECTION_SEPARATOR.join(combo)] = joined
    unknown = sorted(set(reference or {}) - set(attributes))
    if unknown:
        raise InvalidInput(
            f"reference given for unknown attribute(s) {', '.join(unknown)}; known: {', '.join(attributes)}"
        )

    audits: dict[str, AttributeAudit] = {}
    checks: list[Check] = []
    for name, values in attributes.items():
        audit = _audit_attribute(
            name,
            values,
            truth=truth,
            flags=flags,
            policy=policy,
            reference=(reference or {}).get(name),
            metrics=reported,
            register=register,
        )
        audits[name] = audit
        checks.extend(_checks(audit, policy, reported, register))
    return FairnessAudit(policy=policy, attributes=audits, checks=tuple(checks))


def _binary(values: ArrayLike, name: str) -> NDArray[np.int8]:
    series = pd.Series(np.asarray(values, dtype=object))
    missing = int(series.isna().sum())
    if missing:
        raise InvalidInput(f"{name} has {missing} missing values; every row needs a known 0/1 value")
    numeric = pd.to_numeric(series, errors="coerce")
    bad = series[numeric.isna() | ~numeric.isin((0, 1))]
    if len(bad):
        shown = ", ".join(sorted({repr(v) for v in bad})[:5])
        raise InvalidInput(f"{name} must be binary (0/1); found {shown}")
    return numeric.to_numpy(dtype=np.int8)


def _group_values(series: pd.Series, name: str) -> pd.Series:
    missing = int(series.isna().sum())
    if missing:
        raise InvalidInput(f"group column '{name}' has {missing} rows without a group value")
    return series.astype(str).reset_index(drop=True)


def _default_reference(
    name: str, labels: list[str], sizes: NDArray[np.int64], register: FeatureRegister
) -> str:
    parts = name.split(INTERSECTION_SEPARATOR)
    if all(part in register and register[part].audit_reference is not None for part in parts):
        candidate = INTERSECTION_SEPARATOR.join(str(register[part].audit_reference) for part in parts)
        if candidate in labels:
            return candidate
    order = sorted(range(len(labels)), key=lambda i: (-sizes[i], labels[i]))
    return labels[order[0]]


def _audit_attribute(
    name: str,
    values: pd.Series,
    *,
    truth: NDArray[np.int8],
    flags: NDArray[np.int8],
    policy: Policy,
    reference: str | None,
    metrics: tuple[str, ...],
    register: FeatureRegister,
) -> AttributeAudit:
    uniques, inverse = np.unique(values.to_numpy(dtype=object), return_inverse=True)
    labels = [str(u) for u in uniques]
    cells = confusion_cells(truth, flags, inverse, len(labels))
    sizes = cells.sum(axis=1)
    if reference is None:
        reference = _default_reference(name, labels, sizes, register)
    elif reference not in labels:
        shown = ", ".join(f"'{label}' (n={size})" for label, size in zip(labels, sizes, strict=True))
        raise InvalidInput(
            f"reference group '{reference}' does not occur in '{name}'; its groups are {shown}"
        )
    ref = labels.index(reference)

    point = {
        metric: column.to_numpy(dtype=float)
        for metric, column in fairlearn_point_estimates(cells, labels, metrics).items()
    }
    # One stream per attribute, so an attribute's intervals do not depend on which others are audited.
    rng = np.random.default_rng([policy.random_state, zlib.crc32(name.encode("utf-8"))])
    shares = cells / sizes[:, None]
    draws = rates_from_cells(rng.multinomial(sizes, shares, size=(policy.n_boot, len(labels))))
    quantiles = policy.quantiles
    if policy.ci_method == "fairlearn":
        row_labels = np.asarray(labels, dtype=object)[inverse]
        group_ci = _fairlearn_intervals(
            truth, flags, row_labels, labels=labels, metrics=metrics, policy=policy
        )
    else:
        group_ci = {metric: _percentiles(draws[metric], quantiles) for metric in metrics}

    results: dict[str, GroupResult] = {}
    for i in sorted(range(len(labels)), key=lambda j: (-sizes[j], labels[j])):
        values_i = {metric: float(point[metric][i]) for metric in metrics}
        ratio: dict[str, float] = {}
        ratio_ci: dict[str, Interval] = {}
        for metric in metrics:
            ref_value = float(point[metric][ref])
            defined = np.isfinite(values_i[metric]) and np.isfinite(ref_value) and ref_value > 0
            ratio[metric] = values_i[metric] / ref_value if defined else float("nan")
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio_draws = draws[metric][:, i] / draws[metric][:, ref]
            ratio_ci[metric] = _ratio_interval(ratio_draws, quantiles) if defined else None
        verdict: dict[str, Verdict] = {}
        reasons: dict[str, Reason | None] = {}
        for metric in _gating(policy, metrics):
            if i == ref:
                verdict[metric], reasons[metric] = "reference", None
            else:
                verdict[metric], reasons[metric] = _judge(
                    metric, cells[i], cells[ref], ratio_ci[metric], policy
                )
        results[labels[i]] = GroupResult(
            n=int(sizes[i]),
            cells=(int(cells[i, TP]), int(cells[i, FP]), int(cells[i, FN]), int(cells[i, TN])),
            values=values_i,
            ci={metric: group_ci[metric][i] for metric in metrics},
            ratio=ratio,
            ratio_ci=ratio_ci,
            verdict=verdict,
            reasons=reasons,
        )
    return AttributeAudit(name=name, reference=reference, groups=results)


def _judge(
    metric: str, cells: NDArray[np.int64], ref_cells: NDArray[np.int64], ratio_ci: Interval, policy: Policy
) -> tuple[Verdict, Reason | None]:
    """Equivalence-test verdict of one group on one metric (see the module notes)."""
    low, high = policy.ratio_band
    for role_en, role_nl, counts in (
        ("the group", "de groep", cells),
        ("the reference group", "de referentiegroep", ref_cells),
    ):
        size = int(counts.sum())
        if size < policy.min_group_size:
            return "insufficient_evidence", Reason(
                f"{role_en} has {size} rows, fewer than the minimum group size of {policy.min_group_size}",
                f"{role_nl} telt {size} rijen, minder dan de minimale groepsgrootte van "
                f"{policy.min_group_size}",
            )
    for role_en, role_nl, counts in (
        ("the group", "de groep", cells),
        ("the reference group", "de referentiegroep", ref_cells),
    ):
        cases = denominator(metric, counts.tolist())
        if cases < policy.min_denominator:
            what_en, what_nl = _DENOMINATOR_NAMES[metric]
            return "insufficient_evidence", Reason(
                f"{role_en} has only {cases} {what_en}, fewer than the minimum of {policy.min_denominator}",
                f"{role_nl} heeft maar {cases} {what_nl}, minder dan het minimum van "
                f"{policy.min_denominator}",
            )
    for role_en, role_nl, counts in (
        ("the group", "de groep", cells),
        ("the reference group", "de referentiegroep", ref_cells),
    ):
        events = int(sum(counts.tolist()[i] for i in METRIC_CELLS[metric][0]))
        if events < policy.min_events:
            return "insufficient_evidence", Reason(
                f"{role_en} has only {events} event(s) for this rate, fewer than the minimum of "
                f"{policy.min_events}: too few for a reliable interval",
                f"{role_nl} heeft maar {events} gebeurtenis(sen) voor deze kans, minder dan het minimum van "
                f"{policy.min_events}: te weinig voor een betrouwbaar interval",
            )
    if ratio_ci is None:
        return "insufficient_evidence", Reason(
            "the ratio or its interval is undefined (the reference rate is zero in the data or in resamples)",
            "de verhouding of haar interval is onbepaald "
            "(de referentiekans is nul in de data of in steekproeven)",
        )
    ci_low, ci_high = ratio_ci
    if low <= ci_low and ci_high <= high:
        return "pass", None
    if ci_high < low or ci_low > high:
        return "fail", None
    return "insufficient_evidence", Reason(
        "the interval is too wide to tell (it overlaps the edge of the band)",
        "het interval is te breed om te beslissen (het overlapt de rand van de band)",
    )


def _gating(policy: Policy, metrics: tuple[str, ...]) -> list[str]:
    return [m for m in policy.gating_metrics if m in metrics]


def _checks(
    audit: AttributeAudit, policy: Policy, metrics: tuple[str, ...], register: FeatureRegister
) -> list[Check]:
    ref = audit.groups[audit.reference]
    checks = []
    for group, result in audit.groups.items():
        if group == audit.reference:
            continue
        for metric in _gating(policy, metrics):
            check = Check(
                attribute=audit.name,
                group=group,
                metric=metric,
                value=result.values[metric],
                ci=result.ci[metric],
                reference=audit.reference,
                reference_value=ref.values[metric],
                reference_ci=ref.ci[metric],
                ratio=result.ratio[metric],
                ratio_ci=result.ratio_ci[metric],
                verdict=result.verdict[metric],
                reason=result.reasons[metric],
                band=policy.ratio_band,
                ci_level=policy.ci_level,
            )
            checks.append(
                replace(
                    check,
                    sentence_nl=_sentence(check, "nl", register),
                    sentence_en=_sentence(check, "en", register),
                )
            )
    return checks


# -- sentences --------------------------------------------------------------------------------------------

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


def _number(value: float, decimals: int, lang: str) -> str:
    text = f"{value:.{decimals}f}"
    return text.replace(".", ",") if lang == "nl" else text


def _percent(value: float, lang: str) -> str:
    return (
        _number(100 * value, 1, lang) + "%"
        if np.isfinite(value)
        else ("undefined" if lang == "en" else "onbepaald")
    )


def _percent_interval(interval: Interval, lang: str) -> str:
    if interval is None:
        return "interval undefined" if lang == "en" else "interval onbepaald"
    return f"{_number(100 * interval[0], 1, lang)}–{_number(100 * interval[1], 1, lang)}%"


def _ratio_interval_text(interval: Interval, lang: str) -> str:
    if interval is None:
        return "interval undefined" if lang == "en" else "interval onbepaald"
    return f"{_number(interval[0], 2, lang)}–{_number(interval[1], 2, lang)}"


def _dutch_label(attribute: str, value: str, register: FeatureRegister) -> str:
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


def _dutch_attribute(attribute: str, register: FeatureRegister) -> str:
    names = attribute.split(INTERSECTION_SEPARATOR)
    return INTERSECTION_SEPARATOR.join(register[n].label if n in register else n for n in names)


def _sentence(facts: Check, lang: Literal["en", "nl"], register: FeatureRegister) -> str:
    subject, event = _TEMPLATES[facts.metric][lang]
    low, high = facts.band
    band = f"{_number(low, 2, lang)}–{_number(high, 2, lang)}"
    level = _number(100 * facts.ci_level, 0, lang)
    if lang == "en":
        group, reference, attribute = facts.group, facts.reference, facts.attribute
    else:
        group = _dutch_label(facts.attribute, facts.group, register)
        reference = _dutch_label(facts.attribute, facts.reference, register)
        attribute = _dutch_attribute(facts.attribute, register)
    value, ci = _percent(facts.value, lang), _percent_interval(facts.ci, lang)
    ref_value, ref_ci = _percent(facts.reference_value, lang), _percent_interval(facts.reference_ci, lang)
    ratio_ci = _ratio_interval_text(facts.ratio_ci, lang)
    if lang == "en":
        ratio = (
            f"{_number(facts.ratio, 2, lang)} times as often"
            if np.isfinite(facts.ratio)
            else "ratio undefined"
        )
        text = (
            f"{subject} in group '{group}' ({attribute}) has a {value} chance ({level}% CI {ci}) {event}, "
            f"against {ref_value} ({ref_ci}) for the reference group '{reference}': {ratio} ({ratio_ci}); "
            f"policy band {band}. "
        )
        if facts.verdict == "pass":
            return text + "Verdict: pass (the whole interval lies inside the band)."
        if facts.verdict == "fail":
            return text + "Verdict: fail (the whole interval lies outside the band)."
        reason = facts.reason.en if facts.reason else ""
        if facts.flagged:
            return (
                text
                + "Verdict: insufficient evidence; the estimate lies outside the band, "
                + f"but the disparity is not proven: {reason}."
            )
        return text + f"Verdict: insufficient evidence: {reason}."
    ratio = (
        f"{_number(facts.ratio, 2, lang)} keer zo vaak"
        if np.isfinite(facts.ratio)
        else "verhouding onbepaald"
    )
    text = (
        f"{subject} in groep '{group}' ({attribute}) heeft {value} kans ({level}%-BI {ci}) {event}, "
        f"tegen {ref_value} ({ref_ci}) voor de referentiegroep '{reference}': {ratio} ({ratio_ci}); "
        f"beleidsband {band}. "
    )
    if facts.verdict == "pass":
        return text + "Oordeel: voldoet (het hele interval ligt binnen de band)."
    if facts.verdict == "fail":
        return text + "Oordeel: voldoet niet (het hele interval ligt buiten de band)."
    reason = facts.reason.nl if facts.reason else ""
    if facts.flagged:
        return (
            text
            + "Oordeel: onvoldoende bewijs; de schatting ligt buiten de band, "
            + f"maar de ongelijkheid is niet aangetoond: {reason}."
        )
    return text + f"Oordeel: onvoldoende bewijs: {reason}."


# -- JSON -------------------------------------------------------------------------------------------------


def _json_float(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _json_interval(interval: Interval) -> list[float] | None:
    return None if interval is None else [float(interval[0]), float(interval[1])]
