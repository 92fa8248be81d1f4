"""``riskscan monitor``: recent logged traffic against the champion's training data, and the process around it.

Three parts, each with its own evidence:

1. **Drift** (:mod:`jobs.drift`): every model input, as logged, against the reference profile written by
   the champion's training run; and the champion's logged scores against its scores on that data.
2. **Fairness of live selections**: the selection rate of model signals per group, with bootstrap
   intervals and ratios to the reference group (``ethics_review.fairness.audit_groups``, the same code and
   policy as the audit). The audit-only attributes are joined from the source table here, by case id:
   they never pass through scoring. One row per person, as in the audit.
3. **Process health** (:mod:`jobs.process`): signals never assessed, hoor-en-wederhoor compliance, and the
   effectiveness comparison of model-selected against random-control cases.
4. **The committee's conditions** (:mod:`jobs.obligations`): the champion's approval still valid, and each
   monitoring obligation re-computed on the live control sample with a confidence sequence.

Findings become one status, by the thresholds in the scan spec (``monitoring``):

* ``committee review required`` (exit code 4): a selection-rate disparity shown for a group, hoor en
  wederhoor below the minimum, too many signals never assessed, model-selected cases with *fewer*
  violations than random ones, an approval past its ``valid_until``, or an obligation that failed or
  passed its due date undecided;
* ``retrain recommended`` (exit code 3): a feature, or the score, drifted beyond the thresholds;
* ``healthy`` (exit code 0).

Committee review outranks retraining: a retrained model does not mend a process that is not followed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethics_review.cases import one_row_per_person
from ethics_review.fairness import FairnessAudit, Policy, audit_groups
from features.profile import PROFILE_FILE, ReferenceProfile
from features.register import FeatureRegister, default_register
from features.sources import read_source
from jobs import obligations, process, report
from jobs.drift import DriftResult, drift, p_value_text
from models import gate, registry
from models.governance import GovernanceStore
from models.specs import ScanSpec, load_spec
from riskscan import fmt, home
from riskscan.errors import NotFound, Unavailable
from riskscan.exit_codes import ExitCode
from serving.history import flagged, logged_cases
from serving.store import ServingStore

HEALTHY = "healthy"
RETRAIN = "retrain recommended"
COMMITTEE = "committee review required"
EXIT_CODES = {
    HEALTHY: ExitCode.SUCCESS,
    RETRAIN: ExitCode.RETRAIN_RECOMMENDED,
    COMMITTEE: ExitCode.COMMITTEE_REVIEW,
}


@dataclass(frozen=True)
class Finding:
    severity: str  # RETRAIN or COMMITTEE
    subject: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"severity": self.severity, "subject": self.subject, "detail": self.detail}


@dataclass
class MonitorResult:
    scan: str
    start: str
    end: str
    process_window: tuple[str, str]
    cases: int  # scored in the window (process health counts its own, earlier window)
    champion: str
    status: str
    findings: list[Finding]
    notes: list[str]
    drift: list[DriftResult]
    score_drift: DriftResult | None
    flagged_share: dict[str, float]
    fairness: FairnessAudit | None  # selection rates of model signals by group
    process: process.ProcessHealth
    obligations: list[obligations.FollowUp] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    mlflow_run_id: str = ""

    @property
    def exit_code(self) -> ExitCode:
        return EXIT_CODES[self.status]

    def as_dict(self) -> dict[str, Any]:
        return {
            "scan": self.scan,
            "window": {"from": self.start, "to": self.end},
            "process_window": {"from": self.process_window[0], "to": self.process_window[1]},
            "cases": self.cases,
            "champion": self.champion,
            "status": self.status,
            "exit_code": self.exit_code,
            "findings": [f.as_dict() for f in self.findings],
            "notes": self.notes,
            "drift": [d.as_dict() for d in self.drift],
            "score_drift": self.score_drift.as_dict() if self.score_drift else None,
            "flagged_share": self.flagged_share,
            "fairness": None if self.fairness is None else self.fairness.to_dict(),
            "process": self.process.as_dict(),
            "obligations": [o.as_dict() for o in self.obligations],
            "files": self.files,
            "mlflow_run_id": self.mlflow_run_id,
        }


def _reference_profile(scan: str, version: str, work: Path) -> ReferenceProfile:
    path = registry.download_run_file(scan, version, f"evaluation/{PROFILE_FILE}", work)
    if path is None:
        raise NotFound(
            f"champion {registry.model_name(scan)} version {version} has no reference profile "
            f"(evaluation/{PROFILE_FILE}); it was trained before profiles existed: retrain it"
        )
    return ReferenceProfile.from_dict(json.loads(path.read_text(encoding="utf-8")))


def _recent_inputs(logged: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    records = pd.DataFrame.from_records(list(logged["inputs"]), index=logged.index)
    return records.reindex(columns=names)


def _drift_findings(
    spec: ScanSpec, results: list[DriftResult], score: DriftResult | None
) -> tuple[list[Finding], float]:
    policy = spec.monitoring
    alpha = policy.test_alpha / max(len(results), 1)  # Bonferroni over the features
    report_only = {d.name for d in policy.drift_report_only}
    findings = [
        Finding(
            RETRAIN,
            f"drift of '{r.column}'",
            f"PSI {r.psi:.3f} >= {policy.psi_retrain} and {r.test} p {p_value_text(r.p_value)}, below {alpha:.2g}",
        )
        for r in results
        if r.column not in report_only
        and math.isfinite(r.psi)
        and r.psi >= policy.psi_retrain
        and r.p_value < alpha
    ]
    if (
        score is not None
        and math.isfinite(score.psi)
        and score.psi >= policy.score_psi_retrain
        and score.p_value < policy.test_alpha
    ):
        findings.append(
            Finding(
                RETRAIN,
                "drift of the score",
                f"PSI {score.psi:.3f} >= {policy.score_psi_retrain} and KS p {p_value_text(score.p_value)}",
            )
        )
    return findings, alpha


def _live_fairness(
    spec: ScanSpec, logged: pd.DataFrame, data_dir: Path, register: FeatureRegister
) -> tuple[FairnessAudit | None, list[Finding], list[str]]:
    """Selection rates of model signals by group; the audit-only attributes joined from the source."""
    table = register.tables[spec.table]
    source = read_source(data_dir, spec.table)
    attributes = [*spec.fairness.groups]
    joined = logged.merge(
        source.frame[[table.key, "persoon_id", *attributes]],
        left_on="case_id",
        right_on=table.key,
        how="inner",
    )
    notes: list[str] = []
    unmatched: list[Finding] = []
    missing = len(logged) - len(joined)
    if missing:
        share = missing / len(logged)
        text = (
            f"{missing} of {len(logged)} logged cases ({share:.1%}) are not in the source extract "
            f"(sha256 {source.sha256[:12]}); the selection rates by group leave them out"
        )
        # Fairness unmeasured is not fairness shown: beyond the spec's share, the committee must know.
        if share > spec.monitoring.max_unmatched_share:
            unmatched.append(
                Finding(
                    COMMITTEE,
                    "cases missing from the source extract",
                    f"{text}; the maximum is {spec.monitoring.max_unmatched_share:.0%}",
                )
            )
        else:
            notes.append(text)
    if joined.empty:
        return (
            None,
            unmatched,
            [*notes, "no logged case could be joined to the source extract: fairness not measured"],
        )
    people = one_row_per_person(joined, seed=0)
    usable = tuple(a for a in attributes if people[a].nunique() >= 2)
    model_selected = (people["signal"] & ~people["control"]).to_numpy(dtype=int)
    references = {a: str(register[a].audit_reference) for a in usable if register[a].audit_reference}
    intersections = tuple(tuple(p) for p in spec.fairness.intersections if set(p) <= set(usable))
    result = audit_groups(
        model_selected,
        model_selected,
        pd.DataFrame({a: people[a].astype(str).to_numpy() for a in usable}),
        policy=Policy.from_spec(spec.fairness),
        reference=references,
        intersections=intersections,
        metrics=("selection_rate",),
        register=register,
    )
    findings = [
        Finding(COMMITTEE, f"selection rate of {c.attribute} = {c.group}", c.sentence_en)
        for c in result.checks
        if c.verdict == "fail"
    ]
    return result, [*unmatched, *findings], notes


def _committee_conditions(
    spec: ScanSpec,
    store: ServingStore,
    version: str,
    end: datetime,
    data_dir: Path,
    register: FeatureRegister,
) -> tuple[list[obligations.FollowUp], list[Finding]]:
    """The champion's approval still valid, and each of its obligations followed up (jobs.obligations)."""
    governance = GovernanceStore(store.engine.url.render_as_string(hide_password=False))
    decision = governance.current_decision(spec.id, version)
    if decision is None or not decision.approves:
        return [], [Finding(COMMITTEE, "committee approval", f"champion v{version} has no current approval")]
    findings = []
    if decision.valid_until is not None and decision.valid_until < end.date():
        findings.append(
            Finding(
                COMMITTEE, "committee approval", f"decision {decision.id} expired on {decision.valid_until}"
            )
        )
    if not governance.obligations(decision.id):
        return [], findings
    _sha, audit, _actual = gate.latest_audit(spec.id, version)
    if audit is None:
        return [], [*findings, Finding(COMMITTEE, "committee obligations", f"v{version} has no audit.json")]
    # Every case the champion scored: it could only serve after this approval, so all are evidence for it.
    logged = logged_cases(store, spec.id, end=end)
    scored = logged[logged["model_version"] == version].assign(flagged=flagged)
    table = register.tables[spec.table]
    source = read_source(data_dir, spec.table).frame[[table.key, "persoon_id", *spec.fairness.groups]]
    joined = scored.merge(source, left_on="case_id", right_on=table.key, how="inner")
    control = joined[joined["control"] & joined["outcome_recorded"]]
    live = obligations.LiveCases(
        scored=one_row_per_person(joined, seed=0) if len(joined) else joined,
        control=one_row_per_person(control, seed=0) if len(control) else control,
    )
    results = obligations.follow_up(governance, decision.id, audit, live, spec, register, end.date())
    findings += [
        Finding(COMMITTEE, f"obligation: {r.obligation.check}", f"{r.state}: {r.detail}")
        for r in results
        if r.state in obligations.REVIEW_NEEDED
    ]
    return results, findings


def _process_findings(spec: ScanSpec, health: process.ProcessHealth) -> list[Finding]:
    policy = spec.monitoring
    findings = []
    heard = health.hoor_en_wederhoor
    if heard.n and heard.estimate < policy.min_hoor_en_wederhoor:
        findings.append(
            Finding(
                COMMITTEE,
                "hoor en wederhoor",
                f"{heard.k} of {heard.n} outcomes ({heard.estimate:.1%}) were reached after hearing the client; "
                f"the minimum is {policy.min_hoor_en_wederhoor:.0%}",
            )
        )
    unassessed = health.never_assessed
    if unassessed.n and unassessed.estimate > policy.max_unassessed_share:
        findings.append(
            Finding(
                COMMITTEE,
                "signals never assessed",
                f"{unassessed.k} of {unassessed.n} selected cases older than {health.maturity_days} days "
                f"({unassessed.estimate:.1%}) have no outcome; the maximum is {policy.max_unassessed_share:.0%}",
            )
        )
    selected, control = health.model_selected_violation_rate, health.control_violation_rate
    ratio = health.effectiveness_ratio
    enough = min(selected.n, control.n) >= policy.min_assessed_for_effectiveness
    if enough and ratio.lies_below(1):
        findings.append(
            Finding(
                COMMITTEE,
                "effectiveness",
                f"model-selected cases end in a violation less often than random-control cases: ratio "
                f"{fmt.interval(ratio, 2)}; the scan selects worse than chance",
            )
        )
    return findings


def _effectiveness_note(spec: ScanSpec, health: process.ProcessHealth) -> str:
    selected, control = health.model_selected_violation_rate, health.control_violation_rate
    ratio = health.effectiveness_ratio
    if min(selected.n, control.n) < spec.monitoring.min_assessed_for_effectiveness:
        return (
            f"effectiveness not judged: {selected.n} model-selected and {control.n} random-control cases "
            f"assessed, fewer than {spec.monitoring.min_assessed_for_effectiveness} in a group"
        )
    if ratio.interval is None:
        return "effectiveness not judged: no violation in one of the groups"
    if ratio.lies_above(1):
        return f"the scan selects better than chance: ratio {fmt.interval(ratio, 2)}"
    return f"no evidence that the scan selects better than chance: ratio {fmt.interval(ratio, 2)} contains 1"


@dataclass(frozen=True)
class _Drift:
    """The drift part of a monitoring run: each input, the score, the flagged share, findings and notes."""

    inputs: list[DriftResult]
    score: DriftResult | None
    flagged_share: dict[str, float]
    findings: list[Finding]
    notes: list[str]


def _drift(spec: ScanSpec, logged: pd.DataFrame, profile: ReferenceProfile, version: str) -> _Drift:
    """Every logged input against the champion's profile, and the champion's own logged scores."""
    flagged_share = {"reference": profile.flagged_share, "recent": float("nan")}
    if len(logged) < spec.monitoring.min_cases:
        note = f"drift not judged: {len(logged)} scored cases in the window, fewer than {spec.monitoring.min_cases}"
        return _Drift([], None, flagged_share, [], [note])
    inputs = _recent_inputs(logged, list(profile.columns))
    results = [drift(profile.columns[name], inputs[name]) for name in profile.columns]
    served = logged.loc[logged["model_version"] == version]
    notes: list[str] = []
    score = None
    if len(served):
        score = drift(profile.score, served["score"])
        flagged_share["recent"] = float(flagged(served).mean())
    else:
        notes.append(
            f"no case in the window was scored by the champion (v{version}): score drift not measured"
        )
    findings, alpha = _drift_findings(spec, results, score)
    notes.append(f"drift tests at alpha {spec.monitoring.test_alpha} / {len(results)} features = {alpha:.2g}")
    notes += [
        f"drift of '{d.name}' is shown, never a finding (scan spec): {d.reason}"
        for d in spec.monitoring.drift_report_only
    ]
    return _Drift(results, score, flagged_share, findings, notes)


def monitor(
    scan: str,
    store: ServingStore,
    *,
    start: datetime,
    end: datetime,
    out_dir: Path,
    data_dir: Path | None = None,
    register: FeatureRegister | None = None,
    log_to_mlflow: bool = True,
    progress: Callable[[str], None] = print,
) -> MonitorResult:
    """Monitor ``scan`` over the window ``[start, end)`` (aware datetimes); writes ``monitor.json`` and
    ``monitor.html`` to ``out_dir`` and logs them to MLflow.

    Drift and live fairness use the cases scored in the window. Process health uses the window moved back
    by the spec's ``maturity_days``: those cases have had the time an investigation takes, so a missing
    outcome there means "never assessed", not "not yet".
    """
    register = register or default_register()
    spec = load_spec(scan, register)
    maturity = timedelta(days=spec.outcomes.maturity_days)
    logged = logged_cases(store, scan, start=start, end=end, with_inputs=True)
    matured = logged_cases(store, scan, start=start - maturity, end=end - maturity)
    champion = registry.version_by_alias(scan, registry.CHAMPION)
    if champion is None:
        raise Unavailable(f"scan '{scan}' has no champion to monitor")
    version = str(champion.version)
    out_dir.mkdir(parents=True, exist_ok=True)
    profile = _reference_profile(scan, version, out_dir / ".profile")
    progress(
        f"[monitor {scan}] {len(logged)} cases logged from {start:%Y-%m-%d} up to {end:%Y-%m-%d}; champion v{version}"
    )

    drifted = _drift(spec, logged, profile, version)
    findings, notes = [*drifted.findings], [*drifted.notes]
    progress(f"[monitor {scan}] drift: {len(drifted.findings)} finding(s)")
    fairness = None
    if len(logged):
        fairness, fairness_findings, fairness_notes = _live_fairness(
            spec, logged, data_dir or home.data_dir(), register
        )
        findings += fairness_findings
        notes += fairness_notes
    health = process.process_health(
        matured, as_of=end.date(), maturity_days=spec.outcomes.maturity_days, level=spec.fairness.ci_level
    )
    findings += _process_findings(spec, health)
    notes.append(_effectiveness_note(spec, health))
    followed, condition_findings = _committee_conditions(
        spec, store, version, end, data_dir or home.data_dir(), register
    )
    findings += condition_findings
    progress(
        f"[monitor {scan}] committee obligations: {len(followed)} followed up, {len(condition_findings)} finding(s)"
    )
    status = COMMITTEE if any(f.severity == COMMITTEE for f in findings) else RETRAIN if findings else HEALTHY
    result = MonitorResult(
        scan=scan,
        start=start.isoformat(),
        end=end.isoformat(),
        process_window=((start - maturity).isoformat(), (end - maturity).isoformat()),
        cases=len(logged),
        champion=version,
        status=status,
        findings=findings,
        notes=notes,
        drift=drifted.inputs,
        score_drift=drifted.score,
        flagged_share=drifted.flagged_share,
        fairness=fairness,
        process=health,
        obligations=followed,
    )
    _publish(result, spec, out_dir, log_to_mlflow=log_to_mlflow)
    progress(f"[monitor {scan}] status: {status}")
    return result


def _publish(result: MonitorResult, spec: ScanSpec, out_dir: Path, *, log_to_mlflow: bool) -> None:
    """Write monitor.json and monitor.html, and log them with the figures as an MLflow run."""
    files = report.write_monitor_report(result.as_dict(), spec, out_dir)
    result.files = {name: str(path) for name, path in files.items()}
    if log_to_mlflow:
        result.mlflow_run_id = registry.log_job_run(
            result.scan,
            job="monitor",
            params={"from": result.start, "to": result.end, "champion": result.champion},
            metrics=_metrics(result),
            tags={"status": result.status},
            files=list(files.values()),
        )


def _metrics(result: MonitorResult) -> dict[str, float]:
    metrics: dict[str, float] = {f"psi_{d.column}": d.psi for d in result.drift}
    if result.score_drift is not None:
        metrics["psi_score"] = result.score_drift.psi
        metrics["ks_score"] = result.score_drift.statistic
    health = result.process
    metrics.update(
        {
            "scored": float(result.cases),
            "scored_in_process_window": float(health.scored),
            "never_assessed_share": health.never_assessed.estimate,
            "hoor_en_wederhoor_rate": health.hoor_en_wederhoor.estimate,
            "model_selected_violation_rate": health.model_selected_violation_rate.estimate,
            "control_violation_rate": health.control_violation_rate.estimate,
            "effectiveness_ratio": health.effectiveness_ratio.estimate,
            "flagged_share_recent": result.flagged_share["recent"],
            "findings": float(len(result.findings)),
        }
    )
    return {k: float(v) for k, v in metrics.items() if np.isfinite(v)}
