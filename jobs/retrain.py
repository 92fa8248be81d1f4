"""``riskscan retrain``: the scheduled retraining job, from the decision log to an audited challenger.

1. Take the job lock (cron may start a run while the last is still going).
2. Build the training table and train, unless this data was trained on before (:mod:`training.retrain`);
   the version becomes the ``challenger``. The job never touches ``champion``.
3. Audit the challenger (``ethics_review.audit.audit_version``) unless it already carries an audit, so a
   run that died after training is completed by the next one.
4. Compare challenger and champion on the same recent random-control cases (:mod:`training.compare`),
   and write the comparison report (HTML and JSON) beside the version's run.

Promotion stays with the committee: decide, then ``riskscan promote``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from ethics_review.audit import audit_version
from features.register import FeatureRegister, default_register
from features.sources import SourceTable, read_source
from jobs import report
from models import registry
from models.specs import ScanSpec, load_spec
from serving.history import logged_cases
from serving.store import ServingStore
from training.compare import Comparison, compare_on_control
from training.retrain import RetrainResult, job_lock, maturity_cutoff, retrain

COMPARE_DAYS = 90


@dataclass
class RetrainJobResult:
    training: RetrainResult
    audit: dict[str, Any] | None
    comparison: Comparison | None
    comparison_note: str
    verdict: str
    champion: str | None
    files: dict[str, str] = field(default_factory=dict)
    view: dict[str, Any] = field(default_factory=dict)


def _comparison_cases(
    spec: ScanSpec,
    logged: pd.DataFrame,
    assembled: SourceTable,
    *,
    as_of: date,
    days: int,
    test_start: str,
    register: FeatureRegister,
) -> tuple[pd.DataFrame, str]:
    """Recent random-control cases with a heard outcome, as rows of the training table (for features),
    restricted to the challenger's test months so it is never judged on cases it learned from."""
    table = register.tables[spec.table]
    cutoff = maturity_cutoff(as_of, spec.outcomes.maturity_days)
    since = datetime.combine(as_of - timedelta(days=days), time(0), tzinfo=UTC)
    chosen = logged.loc[
        logged["control"]
        & logged["outcome_recorded"]
        & logged["hoor_en_wederhoor"].fillna(False).astype(bool)
        & (logged["created_at"] >= since)
        & (logged["created_at"] < cutoff)
    ].drop_duplicates("case_id")
    rows = assembled.frame.merge(
        chosen[["case_id", "violation"]], left_on=table.key, right_on="case_id", how="inner"
    )
    months = rows[table.time].dt.to_period("M")
    unseen = rows.loc[months >= pd.Period(test_start)]
    note = (
        f"{len(chosen)} random-control cases with a heard outcome were scored between {since:%Y-%m-%d} and "
        f"{cutoff:%Y-%m-%d}; {len(rows)} are in the source extract; {len(unseen)} fall in the challenger's "
        f"test months (from {test_start}) and are compared"
    )
    return unseen, note


def run_retrain_job(
    scan: str,
    store: ServingStore,
    *,
    work_dir: Path,
    report_dir: Path,
    data_dir: Path,
    as_of: date,
    compare_days: int = COMPARE_DAYS,
    seed: int = 0,
    register: FeatureRegister | None = None,
    progress: Callable[[str], None] = print,
) -> RetrainJobResult:
    """The whole job, on every case logged before the end of the ``as_of`` day."""
    register = register or default_register()
    spec = load_spec(scan, register)
    with job_lock(work_dir / "locks", f"retrain-{scan}"):
        end = datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=UTC)
        logged = logged_cases(store, scan, end=end)
        source = read_source(data_dir, spec.table)
        trained = retrain(
            spec,
            source,
            logged,
            work_dir=work_dir,
            as_of=as_of,
            seed=seed,
            register=register,
            progress=progress,
        )
        version = registry.get_version(scan, trained.version)
        if version.tags.get("audit_sha256"):
            audit = {
                "verdict": version.tags.get("audit_verdict"),
                "sha256": version.tags.get("audit_sha256"),
                "fail_count": version.tags.get("audit_fail_count"),
            }
            progress(f"[retrain {scan}] version {trained.version} already audited: {audit['verdict']}")
        else:
            result = audit_version(
                scan, trained.version, data_dir=trained.data_dir, register=register, progress=progress
            )
            audit = {
                "verdict": result.verdict,
                "sha256": result.report_sha256,
                "fail_count": str(result.summary.get("fail", 0)),
            }
        comparison, note, champion = _compare(
            spec, logged, trained, as_of=as_of, days=compare_days, seed=seed, register=register
        )
        verdict = comparison.verdict() if comparison else "not compared"
        progress(f"[retrain {scan}] {note}")
        if comparison is not None:
            precision = comparison.difference["precision_at_op"]
            progress(
                f"[retrain {scan}] challenger minus champion, precision at the operating point: "
                f"{precision.estimate:+.3f} [{precision.low:+.3f}, {precision.high:+.3f}]: {verdict}"
            )
        view = {
            "scan": scan,
            "as_of": as_of.isoformat(),
            "fingerprint": trained.fingerprint,
            "reused": trained.reused,
            "challenger": {"version": trained.version, "alias": registry.CHALLENGER},
            "champion": {"version": champion},
            "accounting": trained.accounting.as_dict(),
            "training": trained.training,
            "audit": audit,
            "comparison": comparison.as_dict() if comparison else None,
            "comparison_note": note,
            "comparison_window": {
                "from": (as_of - timedelta(days=compare_days)).isoformat(),
                "to": maturity_cutoff(as_of, spec.outcomes.maturity_days).date().isoformat(),
            },
            "verdict": verdict,
            "promoted": False,
        }
        out = report_dir / scan / f"v{trained.version}-{as_of.isoformat()}"
        files = report.write_retrain_report(view, spec, out)
        folder = f"retrain/{as_of.isoformat()}"
        registry.attach_run_files(scan, trained.version, list(files.values()), folder)
        registry.set_version_tag(
            scan, trained.version, registry.COMPARISON_TAG, f"{folder}/{files['html'].name}"
        )
        registry.set_version_tag(scan, trained.version, registry.COMPARISON_VERDICT_TAG, verdict)
        return RetrainJobResult(
            training=trained,
            audit=audit,
            comparison=comparison,
            comparison_note=note,
            verdict=verdict,
            champion=champion,
            files={name: str(path) for name, path in files.items()},
            view=view,
        )


def _compare(
    spec: ScanSpec,
    logged: pd.DataFrame,
    trained: RetrainResult,
    *,
    as_of: date,
    days: int,
    seed: int,
    register: FeatureRegister,
) -> tuple[Comparison | None, str, str | None]:
    champion_version = registry.version_by_alias(spec.id, registry.CHAMPION)
    if champion_version is None:
        return None, "there is no champion to compare with", None
    champion_id = str(champion_version.version)
    if champion_id == trained.version:
        return None, f"the challenger is version {champion_id}, the champion itself", champion_id
    challenger = registry.load_scan_model(spec.id, trained.version)
    champion = registry.load_scan_model(spec.id, champion_id)
    assembled = read_source(trained.data_dir, spec.table)
    cases, note = _comparison_cases(
        spec,
        logged,
        assembled,
        as_of=as_of,
        days=days,
        test_start=str(challenger.meta["split"]["test_start"]),
        register=register,
    )
    if len(cases) < spec.monitoring.min_assessed_for_effectiveness:
        return (
            None,
            f"{note}; fewer than {spec.monitoring.min_assessed_for_effectiveness}, too few to compare",
            champion_id,
        )
    y = cases["violation"].astype(bool).to_numpy()
    comparison = compare_on_control(
        y,
        (champion.predict_proba(cases), champion.threshold),
        (challenger.predict_proba(cases), challenger.threshold),
        level=spec.fairness.ci_level,
        seed=seed,
    )
    return comparison, note, champion_id
