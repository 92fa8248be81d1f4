"""Training plots, written as PNG files for the run: calibration, SHAP summary, importance, scores."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: training runs in cron and CI

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap
from sklearn.calibration import calibration_curve


def calibration_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """Reliability diagram; ``curves`` maps a label to (true labels, predicted probabilities)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    upper = 0.0
    for label, (y, p) in curves.items():
        if len(np.unique(y)) < 2:
            continue
        frac, mean = calibration_curve(y, p, n_bins=10, strategy="quantile")
        ax.plot(mean, frac, marker="o", label=label)
        upper = max(upper, float(mean.max()), float(frac.max()))
    upper = max(upper * 1.05, 0.05)
    ax.plot([0, upper], [0, upper], linestyle="--", color="grey", label="perfectly calibrated")
    ax.set_xlim(0, upper)
    ax.set_ylim(0, upper)
    ax.set_xlabel("predicted probability (calibrated)")
    ax.set_ylabel("observed sanction rate")
    ax.set_title("Calibration on the test months")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def shap_summary_plot(
    contributions: np.ndarray,
    encoded: pd.DataFrame,
    labels: list[str],
    path: Path,
    xlabel: str = "SHAP-bijdrage (log-odds)",
) -> Path:
    """Beeswarm of the exact per-input contributions (log-odds), with the register's Dutch labels: TreeSHAP
    values of a tree model, coefficient x (value - reference) of a logistic one."""
    plt.figure()
    shap.summary_plot(contributions, encoded, feature_names=labels, show=False, max_display=15)
    fig = plt.gcf()
    fig.axes[0].set_xlabel(xlabel)
    fig.set_size_inches(8, 6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


_IMPORTANCE_TEXT = {
    "gain": ("total gain", "Feature importance (LightGBM gain)"),
    "mean_abs_contribution": (
        "mean |contribution| (log-odds)",
        "Feature importance (logistic contributions)",
    ),
}


def importance_plot(importance: pd.Series, path: Path, measure: str = "gain") -> Path:
    """Importance per feature, largest at the top: LightGBM's total gain, or a logistic model's mean
    absolute contribution."""
    ordered = importance.sort_values()
    xlabel, title = _IMPORTANCE_TEXT[measure]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(ordered) + 1.2))
    ax.barh(ordered.index, ordered.to_numpy(), color="#1f77b4")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def score_distribution_plot(scores: np.ndarray, threshold: float, path: Path) -> Path:
    """Histogram of calibrated scores over every scored case of the test months, with the threshold."""
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(scores, bins=60, color="#7f7f7f")
    ax.axvline(threshold, color="#d62728", label=f"operating threshold {threshold:.3f}")
    ax.set_yscale("log")
    ax.set_xlabel("calibrated score")
    ax.set_ylabel("cases (log scale)")
    ax.set_title("Score distribution, all scored cases in the test months")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
