"""Audit plots, rendered to PNG bytes so the HTML report can embed them and stay one self-contained file."""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

VERDICT_COLOURS = {
    "pass": "#2ca02c",
    "fail": "#d62728",
    "insufficient_evidence": "#ff7f0e",
    "reference": "#1f77b4",
}


def to_data_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def as_float(value: Any) -> float:
    """A number from a JSON view, where an undefined one is None, as a float that is NaN when undefined."""
    return float(value) if value is not None and math.isfinite(float(value)) else float("nan")


def ratio_plot(attribute: str, result: dict[str, Any], metrics: list[str], band: tuple[float, float]) -> str:
    """Ratio to the reference group with its interval, per group and metric, against the policy band."""
    groups = result["groups"]
    names = [g for g in groups if groups[g]["verdict"].get(metrics[0]) != "reference"]
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(5.2 * len(metrics), 0.45 * max(len(names), 2) + 1.6), squeeze=False
    )
    for ax, metric in zip(axes[0], metrics, strict=True):
        ax.axvspan(band[0], band[1], color="#2ca02c", alpha=0.08, label=f"policy band {band[0]}-{band[1]}")
        ax.axvline(1.0, color="grey", linewidth=0.8)
        for row, name in enumerate(names):
            entry = groups[name]
            ratio = as_float(entry["ratio"].get(metric))
            low, high = (as_float(v) for v in entry["ratio_ci"].get(metric) or [None, None])
            verdict = entry["verdict"].get(metric, "insufficient_evidence")
            colour = VERDICT_COLOURS.get(verdict, "grey")
            if math.isfinite(ratio):
                err = [
                    [max(ratio - low, 0) if math.isfinite(low) else 0],
                    [max(high - ratio, 0) if math.isfinite(high) else 0],
                ]
                ax.errorbar(ratio, row, xerr=err, fmt="o", color=colour, capsize=3)
            ax.text(
                1.01,
                row,
                verdict.replace("_", " "),
                transform=ax.get_yaxis_transform(),
                fontsize=7,
                color=colour,
                va="center",
            )
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels([f"{n} (n={groups[n]['n']})" for n in names], fontsize=8)
        ax.set_title(f"{metric.replace('_', ' ')}: ratio to '{result['reference']}'", fontsize=9)
        ax.set_xscale("log")
        ax.invert_yaxis()
    fig.suptitle(f"{attribute}: ratios with {int(100 * 0.95)}% bootstrap intervals", fontsize=10)
    fig.tight_layout()
    return to_data_uri(fig)


def metric_plot(attribute: str, result: dict[str, Any], metric: str) -> str:
    """The metric itself per group, with interval bars (the numbers behind the ratios)."""
    groups = result["groups"]
    names = list(groups)
    values = [as_float(groups[n].get(metric)) for n in names]
    lows = [as_float((groups[n]["ci"].get(metric) or [None, None])[0]) for n in names]
    highs = [as_float((groups[n]["ci"].get(metric) or [None, None])[1]) for n in names]
    fig, ax = plt.subplots(figsize=(6.5, 0.4 * len(names) + 1.4))
    for row, (value, low, high) in enumerate(zip(values, lows, highs, strict=True)):
        if math.isfinite(value):
            err = [[value - low if math.isfinite(low) else 0], [high - value if math.isfinite(high) else 0]]
            ax.errorbar(value, row, xerr=err, fmt="s", color="#1f77b4", capsize=3)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(metric.replace("_", " "))
    ax.set_title(f"{attribute}: {metric.replace('_', ' ')} by group", fontsize=9)
    fig.tight_layout()
    return to_data_uri(fig)


def score_distribution_plot(scores: np.ndarray, groups: pd.Series, threshold: float) -> str:
    """Score distribution per group (box plots on a log scale), with the operating threshold."""
    order = list(groups.value_counts().index)
    data = [scores[(groups == g).to_numpy()] for g in order]
    fig, ax = plt.subplots(figsize=(7.5, 0.5 * len(order) + 1.5))
    ax.boxplot(
        data,
        vert=False,
        whis=(1, 99),
        showfliers=False,
        tick_labels=[f"{g} (n={len(d)})" for g, d in zip(order, data, strict=True)],
    )
    ax.axvline(threshold, color="#d62728", label=f"threshold {threshold:.3f}")
    ax.set_xscale("log")
    ax.set_xlabel("calibrated score (log scale); boxes: quartiles, whiskers: 1st-99th percentile")
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    ax.set_title("Scores of every scored test case, by group", fontsize=10)
    fig.tight_layout()
    return to_data_uri(fig)


def proxy_plot(features: list[dict[str, Any]], threshold: float) -> str:
    """Strongest association of each column with the audit attributes, against the policy threshold."""
    ordered = sorted(features, key=lambda f: f["gating_association"])
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(ordered) + 1.4))
    colours = [
        "#d62728" if f["flagged"] else ("#1f77b4" if f.get("model_input") else "#9e9e9e") for f in ordered
    ]
    ax.barh([f["feature"] for f in ordered], [f["max_association"] for f in ordered], color=colours)
    ax.axvline(threshold, color="#d62728", linestyle="--", label=f"threshold {threshold}")
    ax.set_xlabel("Cramér's V with nationality or migration background (highest)")
    ax.set_title(
        "Proxy scan of every candidate column (red: above threshold; blue: model input; grey: not an input)",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return to_data_uri(fig)


def counterfactual_plot(shifts: list[dict[str, Any]]) -> str:
    """Mean absolute score shift and flags lost when each proxy column is set to its neutral value."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.4 * max(len(shifts), 2) + 1.6))
    names = [f"{s['feature']} -> {s['neutral_value']}" for s in shifts]
    axes[0].barh(names, [s["mean_abs_shift"] for s in shifts], color="#1f77b4")
    axes[0].set_xlabel("mean |score change|")
    axes[1].barh(names, [s["flags_lost"] for s in shifts], color="#d62728", label="signals lost")
    axes[1].barh(names, [-s["flags_gained"] for s in shifts], color="#2ca02c", label="signals gained")
    axes[1].set_xlabel("signals changed")
    axes[1].legend(fontsize=8)
    for ax in axes:
        ax.invert_yaxis()
    fig.suptitle(
        "Counterfactual: each proxy column set to its neutral value for every test case", fontsize=10
    )
    fig.tight_layout()
    return to_data_uri(fig)
