"""The job reports: self-contained HTML (plots embedded) beside the JSON the numbers come from.

Both reports are rendered from the JSON view of the result, so the words and the numbers cannot drift
apart, and the JSON is what a script or the next job reads.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jinja2
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from ethics_review.plots import as_float, ratio_plot, to_data_uri
from jobs.drift import p_value_text
from models.specs import ScanSpec
from riskscan import fmt, jsonio

TEMPLATES = Path(__file__).with_name("templates")


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["num"] = fmt.number
    environment.filters["pct"] = fmt.percent
    environment.filters["ci"] = fmt.interval
    environment.filters["p"] = _p_value
    return environment


def _p_value(value: Any) -> str:
    return p_value_text(value) if fmt.is_number(value) else fmt.MISSING


def write_json(view: dict[str, Any], path: Path) -> Path:
    return jsonio.write_json(path, view)


# -------------------------------------------------------------------------------------------- monitor


def psi_plot(drift: list[dict[str, Any]], threshold: float) -> str:
    names = [d["column"] for d in drift]
    values = [d["psi"] if fmt.is_number(d["psi"]) else 0.0 for d in drift]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.4))
    colours = ["#d62728" if v >= threshold else "#1f77b4" for v in values]
    ax.barh(names, values, color=colours)
    ax.axvline(
        threshold, color="#d62728", linestyle="--", linewidth=1, label=f"retrain threshold {threshold}"
    )
    ax.axvline(0.1, color="grey", linestyle=":", linewidth=1, label="0.1: worth watching")
    ax.invert_yaxis()
    ax.set_xlabel("Population Stability Index (recent vs the champion's training data)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return to_data_uri(fig)


def bins_plot(result: dict[str, Any], title: str) -> str:
    bins = result["bins"]
    labels = [b["bin"] for b in bins]
    positions = range(len(labels))
    fig, ax = plt.subplots(figsize=(7, 2.8))
    width = 0.4
    ax.bar([p - width / 2 for p in positions], [b["reference"] for b in bins], width, label="reference")
    ax.bar([p + width / 2 for p in positions], [b["recent"] for b in bins], width, label="recent")
    ax.set_xticks(list(positions))
    ax.set_xticklabels(labels, rotation=40, ha="right", fontsize=7)
    ax.set_ylabel("share of cases")
    ax.set_title(
        f"{title}: PSI {fmt.number(result['psi'])}, {result['test']} p {_p_value(result['p_value'])}",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    return to_data_uri(fig)


def _interval_bar(ax: Any, interval: dict[str, Any], row: int, colour: str) -> None:
    """One estimate with its interval as a horizontal error bar; nothing when the estimate is undefined."""
    estimate, low, high = (as_float(interval.get(k)) for k in ("estimate", "low", "high"))
    if math.isfinite(estimate):
        err = [
            [estimate - low if math.isfinite(low) else 0.0],
            [high - estimate if math.isfinite(high) else 0.0],
        ]
        ax.errorbar(estimate, row, xerr=err, fmt="o", capsize=4, color=colour)


def rates_plot(rows: list[tuple[str, dict[str, Any]]], xlabel: str) -> str:
    """Point estimates with interval bars, one row per named proportion or metric."""
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(rows) + 1.3))
    for row, (_name, interval) in enumerate(rows):
        _interval_bar(ax, interval, row, "#1f77b4")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([name for name, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    fig.tight_layout()
    return to_data_uri(fig)


def write_monitor_report(view: dict[str, Any], spec: ScanSpec, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    plots: dict[str, Any] = {"features": []}
    if view["drift"]:
        plots["psi"] = psi_plot(view["drift"], spec.monitoring.psi_retrain)
        shifted = sorted(view["drift"], key=lambda d: -(d["psi"] if fmt.is_number(d["psi"]) else 0.0))[:4]
        plots["features"] = [bins_plot(d, d["column"]) for d in shifted]
    if view["score_drift"]:
        plots["score"] = bins_plot(view["score_drift"], "calibrated score")
    health = view["process"]
    plots["effectiveness"] = rates_plot(
        [
            ("model-selected, violation rate", health["model_selected_violation_rate"]),
            ("random control, violation rate", health["control_violation_rate"]),
        ],
        "share of assessed cases with a violation (heard), with Wilson intervals",
    )
    plots["fairness"] = []
    if view["fairness"]:
        for attribute, result in view["fairness"]["attributes"].items():
            if len(result["groups"]) > 1:
                plots["fairness"].append(
                    ratio_plot(attribute, result, ["selection_rate"], spec.fairness.ratio_band)
                )
    html = _environment().get_template("monitor.html.j2").render(m=view, spec=spec, plots=plots)
    html_path = out_dir / "monitor.html"
    html_path.write_text(html, encoding="utf-8")
    return {"json": write_json(view, out_dir / "monitor.json"), "html": html_path}


# -------------------------------------------------------------------------------------------- retrain


def comparison_plot(comparison: dict[str, Any]) -> str:
    metrics = [
        ("precision_at_op", "precision at the operating point"),
        ("roc_auc", "ROC-AUC"),
        ("lift", "lift"),
    ]
    fig, axes = plt.subplots(1, len(metrics), figsize=(11, 2.4))
    for ax, (metric, title) in zip(axes, metrics, strict=True):
        for row, who in enumerate(("champion", "challenger")):
            _interval_bar(ax, comparison[who][metric], row, ("#1f77b4", "#ff7f0e")[row])
        ax.set_yticks([0, 1])
        ax.set_yticklabels(["champion", "challenger"], fontsize=8)
        ax.set_ylim(-0.6, 1.6)
        ax.set_title(title, fontsize=9)
    fig.suptitle(
        f"On {comparison['n_cases']} recent random-control cases ({comparison['n_violations']} violations), "
        f"{int(100 * comparison['level'])}% paired bootstrap intervals",
        fontsize=9,
    )
    fig.tight_layout()
    return to_data_uri(fig)


def write_retrain_report(view: dict[str, Any], spec: ScanSpec, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = {}
    if view.get("comparison"):
        plots["comparison"] = comparison_plot(view["comparison"])
    html = _environment().get_template("retrain.html.j2").render(r=view, spec=spec, plots=plots)
    html_path = out_dir / "comparison.html"
    html_path.write_text(html, encoding="utf-8")
    return {"json": write_json(view, out_dir / "comparison.json"), "html": html_path}
