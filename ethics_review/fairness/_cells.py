"""Confusion cells per group, and every metric from them; point estimates through Fairlearn.

A risk scan *selects* cases for investigation (flag ``f = 1``); an investigation *finds* a violation or not
(label ``y = 1`` or ``0``). For every group ``g`` of a sensitive attribute the four confusion cells

    tp = #(f=1, y=1)    fp = #(f=1, y=0)    fn = #(f=0, y=1)    tn = #(f=0, y=0)    n = tp + fp + fn + tn

determine every metric this package reports (``METRIC_CELLS`` encodes the table):

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
confusion matrix reports 0 there; this package does not, because "0% of innocents investigated" is a claim
about innocents that a group without innocents cannot support.

**Point estimates** come from Fairlearn's ``MetricFrame`` with Fairlearn's metric functions
(``selection_rate``, ``false_positive_rate``, ``false_negative_rate``, ``true_positive_rate``) and
scikit-learn's ``precision_score``; ``false_discovery_rate = 1 - precision``. MetricFrame is fed the
aggregated confusion cells, one row per non-empty (group, cell) with ``sample_weight`` = the cell count. That
is exact, not an approximation: each metric is a function of the weighted confusion matrix, which equals
the row-level one. It makes the point estimates cost O(groups) instead of O(rows). (Fairlearn's ``count``
counts input rows, here cells, so ``n`` is the cell total.)
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from numpy.typing import NDArray
from sklearn.metrics import precision_score

from ethics_review.fairness._policy import METRICS

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
_FAIRLEARN_METRICS = {
    "selection_rate": partial(selection_rate, pos_label=1),
    "false_positive_rate": partial(false_positive_rate, pos_label=1),
    "false_negative_rate": partial(false_negative_rate, pos_label=1),
    "true_positive_rate": partial(true_positive_rate, pos_label=1),
    "precision": partial(precision_score, pos_label=1, zero_division=np.nan),
}


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


def numerator(metric: str, cells: Sequence[int]) -> int:
    """The metric's events (selected innocents for the false-positive rate, ...)."""
    return int(sum(cells[i] for i in METRIC_CELLS[metric][0]))


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
    functions = fairlearn_functions(metrics)
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


def fairlearn_functions(metrics: Sequence[str]) -> dict[str, Any]:
    """The functions behind the asked metrics (the false-discovery rate comes from precision).

    Only these are computed, since MetricFrame's cost grows with their number.
    """
    wanted = {"precision" if m == "false_discovery_rate" else m for m in metrics}
    return {name: f for name, f in _FAIRLEARN_METRICS.items() if name in wanted}
