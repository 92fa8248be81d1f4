"""``riskscan audit``: judge a registered model version on its held-out months at its operating point.

The audit answers the committee's questions with numbers that carry intervals, on every month the version's
fitting did not learn from (validation and test months, :mod:`ethics_review.cases` says why that is valid):
Lock 1 (the register),
group metrics on three scopes, Lock 2 (proxies) and the counterfactual test; :mod:`ethics_review.checks`
describes each family and :mod:`ethics_review.cases` the cases they are measured on. This module puts them
together: it loads the version and its data, runs the families, and writes audit.json, the committee's
report and the model card (:mod:`ethics_review.report`), which it attaches to the model version.

Every check gets a verdict: ``pass``, ``fail``, or ``insufficient_evidence``. The audit's verdict is
``fail`` if a gating check fails, else ``insufficient_evidence`` if one is, else ``pass``. An undecided
ratio check says what would decide it (``power``, :mod:`ethics_review._power`), and the audit proposes one
monitoring obligation per undecided gating check (``proposed_obligations``, :mod:`ethics_review._obligations`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ethics_review._obligations import proposed_obligations
from ethics_review.cases import HeldOut, held_out_cases
from ethics_review.checks import (
    AuditCheck,
    Counterfactual,
    GroupMetrics,
    ProxyReview,
    comparability_checks,
    counterfactual_checks,
    group_metric_checks,
    overall_verdict,
    proxy_checks,
    register_lock,
    summarise,
)
from ethics_review.fairness import Policy
from ethics_review.report import report_view, write_documents
from features.pipeline import Routing, route
from features.register import FeatureRegister, default_register
from features.sources import SourceTable, read_source
from models import registry
from models.scorer import ScanModel
from models.specs import ScanSpec, load_spec
from riskscan import home
from riskscan.errors import NotFound, Refusal
from riskscan.jsonio import json_safe

HAZARD_NOTES = [
    "Labels exist only for investigated cases, and investigation was not random: paper applications were "
    "checked 100% from end 2018 (seed 001 l.2622-2648). Metrics on labelled cases inherit that selection.",
    "Sanctions were suspended from 15 March to 1 September 2020; that window is excluded from training "
    "and evaluation labels.",
    "Some past sanctions were wrong (about 9,000 WW sanctions 2020-2023, seed 002 l.477-488): labels are noisy.",
    "Past sanctions counted as a feature would carry past inspection intensity (feedback loop).",
]


@dataclass
class AuditResult:
    scan: str
    version: str
    verdict: str
    summary: dict[str, int]
    report_sha256: str
    artifact_path: str
    local_paths: dict[str, Path]
    audit: dict[str, Any]


@dataclass(frozen=True)
class _Subject:
    """What is audited: a registered version, its model, and the source data it is audited on."""

    scan: str
    version: str
    spec: ScanSpec
    model_version: Any  # mlflow ModelVersion
    model: ScanModel
    source: SourceTable
    routing: Routing


@dataclass(frozen=True)
class _Findings:
    """Every family's typed result, and their checks in the order audit.json lists them."""

    checks: list[AuditCheck]
    groups: GroupMetrics
    proxies: ProxyReview
    counterfactual: Counterfactual


def audit_version(
    scan: str,
    version: str,
    *,
    data_dir: Path | None = None,
    register: FeatureRegister | None = None,
    allow_other_data: bool = False,
    progress: Any = print,
) -> AuditResult:
    register = register or default_register()
    subject = _subject(scan, str(version), data_dir, register, allow_other_data)
    cases = held_out_cases(subject.spec, subject.model, subject.routing, register, subject.source.fractions)
    progress(
        f"[audit {scan} v{version}] audit months {cases.window.start} to {cases.window.end}: "
        f"{len(cases.scored)} scored cases, {len(cases.labelled)} labelled, "
        f"{len(cases.control)} in the control sample"
    )
    findings = _run_checks(subject, cases, register, progress)
    summary = summarise(findings.checks, gating=True)
    verdict = overall_verdict(summary)
    audit = json_safe(_document(subject, cases, findings, register, summary, verdict))
    view = report_view(audit, subject.spec, register, cases.scores, cases.scored)
    report_sha, artifact_path, local = _write(subject, audit, view, summary, verdict)
    progress(f"[audit {scan} v{version}] verdict {verdict}: {summary}; report {local['report.html']}")
    return AuditResult(scan, str(version), verdict, summary, report_sha, artifact_path, local, audit)


def _subject(
    scan: str, version: str, data_dir: Path | None, register: FeatureRegister, allow_other_data: bool
) -> _Subject:
    spec = load_spec(scan, register)
    try:
        mv = registry.get_version(scan, version)
    except NotFound as exc:
        raise Refusal(str(exc)) from None
    model = registry.load_scan_model(scan, version)
    source = read_source(data_dir or home.data_dir(), spec.table)
    trained_on = mv.tags.get("dataset_sha256", "")
    if source.sha256 != trained_on and not allow_other_data:
        raise Refusal(
            f"the source table (sha256 {source.sha256[:12]}) is not the data version {version} was trained and "
            f"tested on ({trained_on[:12]}); audit on that data, or pass --allow-other-data to audit on new data"
        )
    return _Subject(scan, version, spec, mv, model, source, route(source.frame, scan, register))


def _run_checks(subject: _Subject, cases: HeldOut, register: FeatureRegister, progress: Any) -> _Findings:
    scan, version, spec, model = subject.scan, subject.version, subject.spec, subject.model
    checks = comparability_checks(cases)
    checks.append(register_lock(scan, version, register))
    policy = Policy.from_spec(spec.fairness)
    progress(f"[audit {scan} v{version}] group metrics with {policy.n_boot} bootstrap draws")
    groups = group_metric_checks(cases, policy)
    progress(f"[audit {scan} v{version}] proxy scan")
    proxies = proxy_checks(cases, spec, model, register)
    progress(f"[audit {scan} v{version}] counterfactual proxy test")
    counterfactual = counterfactual_checks(cases, model, register)
    checks += [*groups.checks, *proxies.checks, *counterfactual.checks]
    return _Findings(checks, groups, proxies, counterfactual)


def _document(
    subject: _Subject,
    cases: HeldOut,
    findings: _Findings,
    register: FeatureRegister,
    summary: dict[str, int],
    verdict: str,
) -> dict[str, Any]:
    """audit.json, before the hashes of itself and of the report are added."""
    spec, model, mv = subject.spec, subject.model, subject.model_version
    run = registry.run_data(str(mv.run_id))
    fairness = spec.fairness
    audited_at = datetime.now(UTC)
    checks = [check.to_dict() for check in findings.checks]
    return {
        "scan": subject.scan,
        "model_name": registry.model_name(subject.scan),
        "version": subject.version,
        "run_id": mv.run_id,
        "audited_at": audited_at.isoformat(timespec="seconds"),
        "verdict": verdict,
        "summary": summary,
        "reported_not_gating": summarise(findings.checks, gating=False),
        "checks": checks,
        "proposed_obligations": proposed_obligations(checks, audited_at.date(), register),
        "register_hash": register.content_hash,
        "model_register_hash": model.features.register_hash,
        "spec_hash": spec.content_hash,
        "model_spec_hash": model.meta.get("spec_hash"),
        "data_sha256": subject.source.sha256,
        "git_commit": mv.tags.get("git_commit", "unknown"),
        "inputs": list(model.features.names),
        "model_family": model.family,
        "explanation_method": model.explanation_method,
        "coefficients": model.coefficient_table(),
        "family_comparison": registry.family_comparison(subject.scan, subject.version),
        "operating_point": {
            "threshold": model.threshold,
            "flag_fraction": model.meta.get("flag_fraction"),
            "capacity_per_week": spec.capacity.investigations_per_week,
        },
        "data": {
            "test_start": model.meta["split"]["test_start"],
            "test_end": model.meta["split"]["test_end"],
            "window_start": cases.window.start,
            "window_end": cases.window.end,
            "scored_cases": len(cases.scored),
            "people_in_group_metrics": findings.groups.people,
            "labelled_cases": len(cases.labelled),
            "control_cases": len(cases.control),
            "routed_cases": len(subject.routing.routed),
            "routed_to": subject.routing.destination,
        },
        "policy": {
            "groups": list(fairness.groups),
            "intersections": [list(p) for p in fairness.intersections],
            "gating_metrics": list(fairness.gating_metrics),
            "ratio_band": list(fairness.ratio_band),
            "min_group_size": fairness.min_group_size,
            "ci_level": fairness.ci_level,
            "n_boot": fairness.n_boot,
            "proxy": fairness.proxy.model_dump(),
        },
        "evidence": cases.window.to_dict(),
        "fairness": findings.groups.to_dict(),
        "sentences": findings.groups.sentences(),
        "proxy_scan": findings.proxies.to_dict(),
        "counterfactual": findings.counterfactual.to_dict(),
        "training": run["metrics"],
        "training_params": run["params"],
        "control_intervals": _control_intervals(run["metrics"]),
        "hazards": HAZARD_NOTES,
    }


def _control_intervals(metrics: dict[str, float]) -> dict[str, dict[str, float | None]]:
    """The training run's control-sample intervals, as MLflow metrics recorded them."""
    out: dict[str, dict[str, float | None]] = {}
    for name in ("precision_at_op", "recall_at_op", "lift", "base_rate"):
        out[name] = {
            "estimate": metrics.get(f"control_{name}"),
            "low": metrics.get(f"control_{name}_ci_low"),
            "high": metrics.get(f"control_{name}_ci_high"),
        }
    return out


def _write(
    subject: _Subject, audit: dict[str, Any], view: dict[str, Any], summary: dict[str, int], verdict: str
) -> tuple[str, str, dict[str, Path]]:
    """Write the documents, attach them to the model version and keep a copy in the home folder."""
    scan, version = subject.scan, subject.version
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_documents(Path(tmp), audit, view, subject.spec)
        report_sha = audit["report_sha256"]
        artifact_path = registry.attach_audit(
            scan,
            version,
            Path(tmp),
            report_sha,
            {
                "audit_verdict": verdict,
                "audit_fail_count": str(summary["fail"]),
                "audited_at": audit["audited_at"],
            },
        )
        keep = home.home() / "audits" / f"{scan}-v{version}-{report_sha[:12]}"
        keep.mkdir(parents=True, exist_ok=True)
        local = {}
        for name, path in paths.items():
            target = keep / name
            target.write_bytes(path.read_bytes())
            local[name] = target
    return report_sha, artifact_path, local
