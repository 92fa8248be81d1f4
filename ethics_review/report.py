"""Render an audit (the dict in audit.json) as the committee's documents.

Everything here is generated from audit.json, the scan spec and the register, so the words and the
numbers never drift apart: the self-contained HTML report (its SHA-256 is the audit hash a decision
refers to), the model card in Markdown, and the entry for the Dutch Algoritmeregister
(:mod:`ethics_review.algoritmeregister`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from ethics_review import algoritmeregister, plots
from ethics_review._summary import VERDICTS_NL, decided_rows, estimate_nl, summary_view, undecided_rows
from ethics_review.fairness import METRICS
from features.register import FeatureRegister, default_register
from models.specs import ScanSpec
from riskscan import fmt, jsonio

TEMPLATES = Path(__file__).with_name("templates")


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


#: The register's proxy risks in the model card's words.
PROXY_RISKS_NL = {"none": "geen", "low": "laag", "medium": "middel", "high": "hoog"}


def render_model_card(audit: dict[str, Any], spec: ScanSpec, register: FeatureRegister | None = None) -> str:
    """The model card, in Dutch: the committee reads it beside the report, in the report's verdict words
    and number format."""
    register = register or default_register()
    inputs = [register[name] for name in audit["inputs"]]
    return (
        _environment()
        .get_template("model_card.md.j2")
        .render(
            a=audit,
            spec=spec,
            inputs=inputs,
            oordeel=VERDICTS_NL,
            proxy_risks=PROXY_RISKS_NL,
            getal=lambda value, digits=3: fmt.number(value, digits, lang="nl"),
            procent=lambda value, digits=1: fmt.percent(value, digits, lang="nl"),
            schatting=estimate_nl,
        )
    )


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
    entry = algoritmeregister.draft_for_audit(audit, spec)  # refuses an entry the register would refuse
    paths["algoritmeregister.json"] = out_dir / "algoritmeregister.json"
    jsonio.write_json(paths["algoritmeregister.json"], entry)
    paths["algoritmeregister.md"] = out_dir / "algoritmeregister.md"
    paths["algoritmeregister.md"].write_text(algoritmeregister.markdown(entry), encoding="utf-8")
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
        "first_screen": summary_view(audit, register),
        "undecided_rows": undecided_rows(audit, register),
        "decided_rows": decided_rows(audit, register),
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
