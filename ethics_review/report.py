"""Render an audit (the dict in audit.json) as the committee's documents.

Everything here is generated from audit.json, the scan spec and the register, so the words and the
numbers never drift apart: the self-contained HTML report (its SHA-256 is the audit hash a decision
refers to), the model card in Markdown, and a draft entry for the Dutch Algoritmeregister.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import jinja2

from features.register import FeatureRegister, default_register
from models.specs import ScanSpec
from riskscan import jsonio

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


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{float(value):.{digits}f}"


def _ci(interval: dict[str, Any] | None) -> str:
    if not interval:
        return "—"
    return f"{_fmt(interval.get('estimate'))} [{_fmt(interval.get('low'))}, {_fmt(interval.get('high'))}]"


def render_html(view: dict[str, Any]) -> str:
    return _environment().get_template("report.html.j2").render(a=view)


def render_model_card(audit: dict[str, Any], spec: ScanSpec, register: FeatureRegister | None = None) -> str:
    register = register or default_register()
    inputs = [register[name] for name in audit["inputs"]]
    return (
        _environment()
        .get_template("model_card.md.j2")
        .render(a=audit, spec=spec, inputs=inputs, fmt=_fmt, ci=_ci)
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
