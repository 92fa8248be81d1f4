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

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from riskscan.stats import Estimate, bootstrap


def metric_or_nan(fn: Any, *args: Any, **kwargs: Any) -> float:
    """``fn(*args, **kwargs)`` as a float, or NaN where scikit-learn refuses (one class: undefined, not 0)."""
    try:
        value = float(fn(*args, **kwargs))
    except ValueError:
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
        "roc_auc": metric_or_nan(roc_auc_score, y, scores, sample_weight=weights),
        "pr_auc": metric_or_nan(average_precision_score, y, scores, sample_weight=weights),
        "brier": metric_or_nan(brier_score_loss, y, scores, sample_weight=weights),
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
) -> dict[str, Estimate]:
    """The operating-point metrics and ROC-AUC with percentile bootstrap intervals, resampling cases.

    Draws in which a metric is undefined (nothing flagged, one class) follow the rule of
    :func:`riskscan.stats.percentile_interval`.
    """
    y = y.astype(bool)
    flagged = scores >= threshold

    def statistic(rows: np.ndarray) -> dict[str, float]:
        return {
            **operating_point_rates(y[rows], flagged[rows]),
            "roc_auc": metric_or_nan(roc_auc_score, y[rows], scores[rows]),
        }

    return bootstrap(statistic, len(y), n_boot=n_boot, level=level, seed=seed)
