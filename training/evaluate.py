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

Every run evaluates both model families this way (:func:`evaluate_model`), each at its own operating point
(the same capacity, so the same share of cases flagged), and the bootstrap resamples the *same* control
cases for both (same seed, same rows): the committee compares two models on one sample
(:func:`family_comparison`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from models.scorer import ScanModel
from riskscan.stats import Estimate, bootstrap
from training.split import TemporalSplit

#: Bootstrap draws for the control-sample intervals of a training run.
N_BOOT = 500


def metric_or_nan(fn: Any, y: Any, *args: Any, **kwargs: Any) -> float:
    """``fn(y, *args, **kwargs)`` as a float, or NaN when ``y`` holds fewer than two classes: a ranking
    metric is undefined then, not 0 (scikit-learn would warn or refuse, which is noise in a bootstrap)."""
    if len(np.unique(np.asarray(y))) < 2:
        return float("nan")
    try:
        value = float(fn(y, *args, **kwargs))
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
        "brier": float(brier_score_loss(y, scores, sample_weight=weights)) if len(y) else float("nan"),
    }
    metrics.update(operating_point_rates(y, scores >= threshold))
    return metrics


def bootstrap_intervals(
    y: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    *,
    n_boot: int = N_BOOT,
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


def _prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": float(v) for k, v in metrics.items() if np.isfinite(v)}


@dataclass(frozen=True)
class FamilyEvaluation:
    """One fitted model judged on the test months at its operating point."""

    family: str
    metrics: dict[str, float]  # ``test_*`` (labelled test cases) and ``control_*`` (the control sample)
    intervals: dict[str, Estimate]  # the control sample's operating-point metrics, bootstrapped
    all_test_scores: np.ndarray  # every scored test case, for the flagged share and the plots

    def figures(self) -> dict[str, Any]:
        """The family's entry in ``family_comparison``: precision at the operating point and lift over
        random selection on the control sample, each ``{"estimate", "low", "high"}``."""
        return {
            "family": self.family,
            "precision_at_op": self.intervals["precision_at_op"].as_dict(),
            "lift": self.intervals["lift"].as_dict(),
        }


def evaluate_model(
    model: ScanModel, split: TemporalSplit, *, seed: int, n_boot: int = N_BOOT
) -> FamilyEvaluation:
    """Test metrics on every labelled test case and, with intervals, on the random control sample."""
    label = split.label
    test, control = split.test_labelled, split.control
    y_control = control[label].to_numpy(dtype=int)
    control_scores = model.predict_proba(control, validate=False) if len(control) else np.array([])
    all_test_scores = model.predict_proba(split.test, validate=False)
    metrics = _prefixed(
        "test",
        score_metrics(
            test[label].to_numpy(dtype=int), model.predict_proba(test, validate=False), model.threshold
        ),
    )
    metrics.update(_prefixed("control", score_metrics(y_control, control_scores, model.threshold)))
    metrics["test_flagged_share_all_scored"] = float(np.mean(all_test_scores >= model.threshold))
    intervals = bootstrap_intervals(y_control, control_scores, model.threshold, n_boot=n_boot, seed=seed)
    return FamilyEvaluation(model.family, metrics, intervals, all_test_scores)


def family_comparison(this: FamilyEvaluation, other: FamilyEvaluation) -> dict[str, dict[str, Any]]:
    """``{"this": ..., "other": ...}``: the registered family's figures and the other family's, from the
    same control cases and the same bootstrap draws."""
    return {"this": this.figures(), "other": other.figures()}
