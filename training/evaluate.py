"""Honest evaluation of a scan at its operating point.

Labels exist only for investigated cases, and investigation was not random, so metrics on "the test set"
describe the investigated cases, not the caseload. The random-control sample is the only unbiased
basis for precision at capacity and for lift over random selection; it is reported separately, with
bootstrap intervals, because it is small.

Definitions (``y`` = sanction recorded, ``f`` = flagged at the operating threshold):

* precision at the operating point = P(y | f), the share of signals that end in a sanction;
* recall at the operating point = P(f | y), the share of sanctions the scan would have selected;
* lift = precision at the operating point / P(y), on the control sample: how much better than random
  selection the scan fills the same investigation capacity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


def _safe(fn: Any, *args: Any, **kwargs: Any) -> float:
    try:
        value = float(fn(*args, **kwargs))
    except ValueError:  # a single class present: the metric is undefined, not zero
        return float("nan")
    return value


def operating_point_rates(y: np.ndarray, flagged: np.ndarray) -> dict[str, float]:
    y = y.astype(bool)
    flagged = flagged.astype(bool)
    tp = float(np.sum(y & flagged))
    positives = float(np.sum(y))
    n_flagged = float(np.sum(flagged))
    base_rate = positives / len(y) if len(y) else float("nan")
    precision = tp / n_flagged if n_flagged else float("nan")
    return {
        "precision_at_op": precision,
        "recall_at_op": tp / positives if positives else float("nan"),
        "flagged_share": n_flagged / len(y) if len(y) else float("nan"),
        "base_rate": base_rate,
        "lift": precision / base_rate if base_rate else float("nan"),
    }


def score_metrics(
    y: np.ndarray, scores: np.ndarray, threshold: float, weights: np.ndarray | None = None
) -> dict:
    """Ranking, calibration and operating-point metrics on labelled cases."""
    y = y.astype(int)
    metrics = {
        "n": float(len(y)),
        "positives": float(y.sum()),
        "roc_auc": _safe(roc_auc_score, y, scores, sample_weight=weights),
        "pr_auc": _safe(average_precision_score, y, scores, sample_weight=weights),
        "brier": _safe(brier_score_loss, y, scores, sample_weight=weights),
    }
    metrics.update(operating_point_rates(y, scores >= threshold))
    return metrics


def bootstrap_intervals(
    y: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    *,
    n_boot: int = 500,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """Percentile bootstrap intervals for the operating-point metrics and AUC (resampling cases)."""
    rng = np.random.default_rng(seed)
    y = y.astype(bool)
    flagged = scores >= threshold
    n = len(y)
    point = {**operating_point_rates(y, flagged), "roc_auc": _safe(roc_auc_score, y, scores)}
    draws: dict[str, list[float]] = {k: [] for k in point}
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        rates = operating_point_rates(y[idx], flagged[idx])
        rates["roc_auc"] = _safe(roc_auc_score, y[idx], scores[idx])
        for key, value in rates.items():
            draws[key].append(value)
    tail = (1 - level) / 2
    out = {}
    for key, values in draws.items():
        arr = np.asarray(values, dtype=float)
        arr = arr[np.isfinite(arr)]
        if len(arr) < n_boot // 2:
            out[key] = Interval(point[key], float("nan"), float("nan"))
        else:
            out[key] = Interval(point[key], float(np.quantile(arr, tail)), float(np.quantile(arr, 1 - tail)))
    return out
