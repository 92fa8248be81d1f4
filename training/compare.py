"""Challenger against champion on the same recent random-control cases, with paired intervals.

Only the random control sample answers "which model would fill the same investigation capacity with more
real violations?": those cases were investigated whatever their score, so both models' flags can be judged
on them. Model-selected cases cannot: they were chosen by the champion, which favours it.

For each model, on the control cases (``y`` = violation found after hoor en wederhoor, ``f`` = flagged at
the model's own operating threshold):

* precision at the operating point ``P(y | f)`` and lift ``P(y | f) / P(y)``;
* ROC-AUC, the ranking quality independent of the threshold;
* flagged share ``P(f)``: a model that flags more must also be given more capacity, so a higher
  precision at a higher flagged share is not the same win.

Intervals come from a *paired* percentile bootstrap: each draw resamples control cases once and scores
both models on the same draw, so the interval of the difference (challenger minus champion) accounts for
the two models being judged on the same people. A difference whose interval contains 0 is not evidence
that either model is better.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from riskscan.errors import InvalidInput
from training.evaluate import Interval, _safe, operating_point_rates

METRICS = ("precision_at_op", "lift", "roc_auc", "flagged_share", "base_rate")
#: Below this many violations among the control cases no verdict is given: the two models' flags differ on
#: a handful of cases, and a percentile bootstrap over a handful of events gives intervals that look
#: decisive and are not (the same reason the audit asks for a minimum number of events per group).
MIN_VIOLATIONS = 20


@dataclass(frozen=True)
class Comparison:
    n_cases: int
    n_violations: int
    champion: dict[str, Interval]
    challenger: dict[str, Interval]
    difference: dict[str, Interval]
    level: float
    n_boot: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_cases": self.n_cases,
            "n_violations": self.n_violations,
            "level": self.level,
            "n_boot": self.n_boot,
            "champion": {k: v.as_dict() for k, v in self.champion.items()},
            "challenger": {k: v.as_dict() for k, v in self.challenger.items()},
            "difference": {k: v.as_dict() for k, v in self.difference.items()},
        }

    def verdict(self, metric: str = "precision_at_op", min_violations: int = MIN_VIOLATIONS) -> str:
        """In words: is the challenger better, worse, or not distinguishable on ``metric``?"""
        diff = self.difference[metric]
        if self.n_violations < min_violations:
            return (
                f"undetermined (only {self.n_violations} violations among the control cases; "
                f"{min_violations} needed)"
            )
        if not np.isfinite(diff.low):
            return "undetermined (too few control cases with outcomes)"
        if diff.low > 0:
            return "challenger better"
        if diff.high < 0:
            return "challenger worse"
        return "no difference shown (the interval contains 0)"


def _metrics(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    rates = operating_point_rates(y, scores >= threshold)
    return {
        "precision_at_op": rates["precision_at_op"],
        "lift": rates["lift"],
        "flagged_share": rates["flagged_share"],
        "base_rate": rates["base_rate"],
        "roc_auc": _safe(roc_auc_score, y, scores),
    }


def _interval(point: float, draws: np.ndarray, level: float, n_boot: int) -> Interval:
    finite = draws[np.isfinite(draws)]
    if len(finite) < n_boot // 2:  # most draws undefined (no violation, nothing flagged): no interval
        return Interval(point, float("nan"), float("nan"))
    tail = (1 - level) / 2
    return Interval(point, float(np.quantile(finite, tail)), float(np.quantile(finite, 1 - tail)))


def compare_on_control(
    y: np.ndarray,
    champion: tuple[np.ndarray, float],
    challenger: tuple[np.ndarray, float],
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Compare two models' (scores, threshold) on the same labelled control cases ``y``."""
    y = np.asarray(y, dtype=bool)
    (champion_scores, champion_threshold), (challenger_scores, challenger_threshold) = champion, challenger
    if not len(y) == len(champion_scores) == len(challenger_scores):
        raise InvalidInput(
            f"{len(y)} labels, {len(champion_scores)} champion scores and {len(challenger_scores)} challenger "
            "scores: both models must be scored on the same cases"
        )
    point_a = _metrics(y, champion_scores, champion_threshold)
    point_b = _metrics(y, challenger_scores, challenger_threshold)
    rng = np.random.default_rng(seed)
    draws_a = {k: np.empty(n_boot) for k in METRICS}
    draws_b = {k: np.empty(n_boot) for k in METRICS}
    for i in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        a = _metrics(y[idx], champion_scores[idx], champion_threshold)
        b = _metrics(y[idx], challenger_scores[idx], challenger_threshold)
        for key in METRICS:
            draws_a[key][i], draws_b[key][i] = a[key], b[key]
    return Comparison(
        n_cases=len(y),
        n_violations=int(y.sum()),
        champion={k: _interval(point_a[k], draws_a[k], level, n_boot) for k in METRICS},
        challenger={k: _interval(point_b[k], draws_b[k], level, n_boot) for k in METRICS},
        difference={
            k: _interval(point_b[k] - point_a[k], draws_b[k] - draws_a[k], level, n_boot) for k in METRICS
        },
        level=level,
        n_boot=n_boot,
    )
