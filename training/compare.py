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
from riskscan.stats import Estimate, bootstrap_draws, estimates_as_dict, percentile_interval
from training.evaluate import metric_or_nan, operating_point_rates

METRICS = ("precision_at_op", "lift", "roc_auc", "flagged_share", "base_rate")
#: Below this many violations among the control cases no verdict is given: the two models' flags differ on
#: a handful of cases, and a percentile bootstrap over a handful of events gives intervals that look
#: decisive and are not (the same reason the audit asks for a minimum number of events per group).
MIN_VIOLATIONS = 20


@dataclass(frozen=True)
class Comparison:
    n_cases: int
    n_violations: int
    champion: dict[str, Estimate]
    challenger: dict[str, Estimate]
    difference: dict[str, Estimate]
    level: float
    n_boot: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_cases": self.n_cases,
            "n_violations": self.n_violations,
            "level": self.level,
            "n_boot": self.n_boot,
            "champion": estimates_as_dict(self.champion),
            "challenger": estimates_as_dict(self.challenger),
            "difference": estimates_as_dict(self.difference),
        }

    def verdict(self, metric: str = "precision_at_op", min_violations: int = MIN_VIOLATIONS) -> str:
        """In words: is the challenger better, worse, or not distinguishable on ``metric``?"""
        diff = self.difference[metric]
        if self.n_violations < min_violations:
            return (
                f"undetermined (only {self.n_violations} violations among the control cases; "
                f"{min_violations} needed)"
            )
        if diff.interval is None:
            return "undetermined (too few control cases with outcomes)"
        if diff.lies_above(0):
            return "challenger better"
        if diff.lies_below(0):
            return "challenger worse"
        return "no difference shown (the interval contains 0)"


def _metrics(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    rates = operating_point_rates(y, scores >= threshold)
    return {
        "precision_at_op": rates["precision_at_op"],
        "lift": rates["lift"],
        "flagged_share": rates["flagged_share"],
        "base_rate": rates["base_rate"],
        "roc_auc": metric_or_nan(roc_auc_score, y, scores),
    }


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
    if not len(y) == len(champion[0]) == len(challenger[0]):
        raise InvalidInput(
            f"{len(y)} labels, {len(champion[0])} champion scores and {len(challenger[0])} challenger "
            "scores: both models must be scored on the same cases"
        )
    models = {"champion": champion, "challenger": challenger}

    def statistic(rows: np.ndarray) -> dict[tuple[str, str], float]:
        """Both models on the same resampled cases: paired draws."""
        return {
            (model, metric): value
            for model, (scores, threshold) in models.items()
            for metric, value in _metrics(y[rows], scores[rows], threshold).items()
        }

    point = statistic(np.arange(len(y)))
    draws = bootstrap_draws(statistic, len(y), n_boot=n_boot, seed=seed)

    def estimate(model: str, metric: str) -> Estimate:
        return percentile_interval(point[model, metric], draws[model, metric], level)

    return Comparison(
        n_cases=len(y),
        n_violations=int(y.sum()),
        champion={k: estimate("champion", k) for k in METRICS},
        challenger={k: estimate("challenger", k) for k in METRICS},
        difference={
            k: percentile_interval(
                point["challenger", k] - point["champion", k],
                draws["challenger", k] - draws["champion", k],
                level,
            )
            for k in METRICS
        },
        level=level,
        n_boot=n_boot,
    )
