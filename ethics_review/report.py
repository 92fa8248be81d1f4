"""Render an audit (the dict in audit.json) as the committee's documents.

Everything here is generated from audit.json, the scan spec and the register, so the words and the
numbers never drift apart: the self-contained HTML report (its SHA-256 is the audit hash a decision
refers to), the model card in Markdown, and a draft entry for the Dutch Algoritmeregister.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from ethics_review import plots
from ethics_review.fairness import METRICS
from features.register import FeatureRegister, default_register
from models.specs import ScanSpec
from riskscan import fmt, jsonio

TEMPLATES = Path(__file__).with_name("templates")
ORGANISATION = "Uitvoeringsinstituut Werknemersverzekeringen (UWV)"
SOURCE_CODE = "riskscan repository (features/, training/, models/, ethics_review/, serving/)"


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,  # a missing number is an error, never an empty cell
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(view: dict[str, Any]) -> str:
    return _environment().get_template("report.html.j2").render(a=view)


def render_model_card(audit: dict[str, Any], spec: ScanSpec, register: FeatureRegister | None = None) -> str:
    register = register or default_register()
    inputs = [register[name] for name in audit["inputs"]]
    return (
        _environment()
        .get_template("model_card.md.j2")
        .render(a=audit, spec=spec, inputs=inputs, fmt=fmt.number, ci=fmt.interval)
    )


def algoritmeregister_entry(
    audit: dict[str, Any], spec: ScanSpec, register: FeatureRegister | None = None
) -> dict:
    """A draft for the national Algoritmeregister, one key per publication field."""
    register = register or default_register()
    inputs = [register[name] for name in audit["inputs"]]
    sources = sorted({c.source for c in inputs})
    return {
        "status": "draft, not published: for review by the Commissie Data Ethiek and the privacy officer",
        "name": spec.name,
        "organisation": ORGANISATION,
        "algorithm_status": "in ontwikkeling (candidate model version; not in use until approved and promoted)",
        "purpose_and_impact": (
            f"{spec.purpose} Impact: selected cases get a file review by enforcement staff; no automated decision "
            f"is taken. At the operating point about {100 * audit['operating_point']['flag_fraction']:.1f}% of "
            f"cases are selected, matching a capacity of {audit['operating_point']['capacity_per_week']} "
            "investigations per week, plus a random control sample."
        ),
        "considerations": (
            "Features that stand in for nationality (paper application, correspondence language, RNI registration, "
            "correspondence address, intermediary, postcode) and past sanctions (feedback loop) are left out: "
            + "; ".join(f"{e.name}: {e.reason}" for e in spec.excluded_features)
        ),
        "human_intervention": (
            "Every signal is assessed by a staff member, who records the assessment and the action; a sanction "
            "is only imposed by a person after hoor en wederhoor. Each explanation lists the features that "
            "raised or lowered the score in plain Dutch."
        ),
        "risk_management": (
            f"Audit verdict for this version: {audit['verdict']} ({audit['summary']['fail']} failed checks). "
            "Fairness is audited per nationality group, migration background, gender, age band and Wajong "
            "status with bootstrap intervals; a model cannot be promoted after a failed audit or without the "
            "committee's approval of that exact audit; every score is logged and can be traced and re-examined."
        ),
        "legal_basis": spec.legal_basis,
        "impact_assessments": (
            "DPIA (GEB): to be updated for this version before use. IAMA: recommended. "
            f"Fairness audit: report SHA-256 {audit.get('report_sha256', 'see model version tag audit_sha256')}."
        ),
        "data": (
            f"Inputs from {', '.join(sources)}: "
            + ", ".join(f"{c.label} ({c.name})" for c in inputs)
            + ". Nationality and other audit attributes are used only to measure groups in audits."
        ),
        "technical_working": (
            f"Gradient-boosted decision trees (LightGBM, depth at most {spec.model.max_depth}), calibrated "
            "probabilities, threshold from capacity. Trained only on investigated cases, weighted for the "
            "historical selection, with the COVID window excluded. Explanations are exact TreeSHAP values."
        ),
        "source_code": SOURCE_CODE,
        "model_version": f"{audit['model_name']} version {audit['version']}",
    }


def algoritmeregister_markdown(entry: dict[str, Any]) -> str:
    lines = [f"# Algoritmeregister (draft): {entry['name']}", ""]
    for key, value in entry.items():
        if key == "name":
            continue
        lines += [f"## {key.replace('_', ' ').capitalize()}", "", str(value), ""]
    return "\n".join(lines)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_documents(
    out_dir: Path, audit: dict[str, Any], view: dict[str, Any], spec: ScanSpec
) -> dict[str, Path]:
    """Write audit.json, report.html, model_card.md and the register draft; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    audit_json = jsonio.dumps(audit)
    audit["audit_json_sha256"] = sha256_text(audit_json)
    paths = {"audit.json": out_dir / "audit.json"}
    paths["audit.json"].write_text(audit_json, encoding="utf-8")
    html = render_html({**view, **audit})
    paths["report.html"] = out_dir / "report.html"
    paths["report.html"].write_text(html, encoding="utf-8")
    audit["report_sha256"] = sha256_text(html)
    paths["model_card.md"] = out_dir / "model_card.md"
    paths["model_card.md"].write_text(render_model_card(audit, spec), encoding="utf-8")
    entry = algoritmeregister_entry(audit, spec)
    paths["algoritmeregister.json"] = out_dir / "algoritmeregister.json"
    jsonio.write_json(paths["algoritmeregister.json"], entry)
    paths["algoritmeregister.md"] = out_dir / "algoritmeregister.md"
    paths["algoritmeregister.md"].write_text(algoritmeregister_markdown(entry), encoding="utf-8")
    return paths


# -- the report's view of an audit -----------------------------------------------------------------------


def _table_rows(result: dict[str, Any], metrics: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = []
    for group, entry in result["groups"].items():
        cells = []
        for metric in metrics:
            ci, verdict = entry["ci"].get(metric), entry["verdict"].get(metric, "")
            text = fmt.number(entry.get(metric))
            if ci:
                text += f" [{fmt.bounds(*ci)}]"
            ratio = entry["ratio"].get(metric)
            if ratio is not None and verdict != "reference":
                text += f"; ratio {fmt.number(ratio, 2)}"
            if verdict:
                text += f" ({verdict.replace('_', ' ')})"
            cells.append(text)
        rows.append({"group": group, "n": entry["n"], "cells": cells})
    return rows


def report_view(
    audit: dict[str, Any], spec: ScanSpec, register: FeatureRegister, scores: np.ndarray, test: pd.DataFrame
) -> dict[str, Any]:
    """What the HTML report shows beyond audit.json: per scope the plots and tables, the proxy rows, the
    score distribution by nationality of the scored ``test`` cases, and the counterfactual plot."""
    band = (spec.fairness.ratio_band[0], spec.fairness.ratio_band[1])
    gating = list(spec.fairness.gating_metrics)
    scopes = []
    for key, title, note, metrics in (
        (
            "population",
            "All scored test cases: selection rate",
            "Needs no labels: who gets selected.",
            ("selection_rate",),
        ),
        (
            "labelled_test",
            "Labelled test cases (investigated)",
            "Biased by the historical selection; read with the control sample.",
            METRICS,
        ),
        (
            "control_sample",
            "Random control sample (unbiased, small)",
            "Intervals are wide; 'insufficient evidence' here means the sample cannot tell.",
            METRICS,
        ),
    ):
        result = audit["fairness"][key]
        shown = [m for m in gating if m in metrics] or list(metrics[:1])
        scope_plots = [
            {"alt": f"{attr} ratios ({title})", "uri": plots.ratio_plot(attr, res, shown, band)}
            for attr, res in result["attributes"].items()
            if attr in ("nationaliteit", "migratieachtergrond") or key == "population"
        ]
        tables = [
            {
                "attribute": attr,
                "reference": res["reference"],
                "metrics": list(metrics),
                "rows": _table_rows(res, tuple(metrics)),
            }
            for attr, res in result["attributes"].items()
        ]
        scopes.append({"title": title, "note": note, "plots": scope_plots, "tables": tables})
    proxy_rows = [
        {**f, "note": register[f["feature"]].proxy_note or "" if f["feature"] in register else ""}
        for f in sorted(audit["proxy_scan"]["features"], key=lambda f: -f["gating_association"])
    ]
    gating_attributes = spec.fairness.proxy.gating_attributes
    proxy_sets = [
        {
            "name": "model inputs",
            "attribute": attr + ("" if attr in gating_attributes else " (reported, not gating)"),
            "auc": res["auc"] if res.get("auc") is not None else float("nan"),
            "flagged": bool(res.get("flagged")) and attr in gating_attributes,
        }
        for attr, res in audit["proxy_scan"]["set"].items()
    ]
    nationality = test["nationaliteit"].astype(str)
    return {
        "fairness_scopes": scopes,
        "score_plots": [
            {
                "alt": "score distribution by nationality group",
                "uri": plots.score_distribution_plot(
                    scores, nationality, audit["operating_point"]["threshold"]
                ),
            }
        ],
        "proxy_plot": plots.proxy_plot(
            audit["proxy_scan"]["features"], spec.fairness.proxy.association_threshold
        ),
        "proxy_rows": proxy_rows,
        "proxy_sets": proxy_sets,
        "lock1": next(c for c in audit["checks"] if c["scope"] == "model signature"),
        "counterfactual_plot": plots.counterfactual_plot(audit["counterfactual"]),
    }
