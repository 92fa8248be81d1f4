"""``riskscan audit``: judge a registered model version on its held-out months at its operating point.

The audit answers the committee's questions with numbers that carry intervals:

1. Lock 1: does the model take any column whose register role is ``audit_only`` or ``forbidden``?
2. Lock 2: does any input, or the set of inputs together, stand in for nationality (proxy scan)?
3. Counterfactual: does a person's score move when only a proxy column changes?
4. Group metrics (Fairlearn), per audit attribute and nationality x gender, on three scopes:
   selection rates over every scored case (no labels needed), all metrics on labelled test cases
   (investigated, so biased), and all metrics on the random control sample (unbiased, small).

Every check gets a verdict: ``pass``, ``fail``, or ``insufficient_evidence``. Audit-only attributes are
joined from the source table here, at audit time; they never pass through the model.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethics_review import plots
from ethics_review.counterfactual import counterfactual_shifts
from ethics_review.fairness import METRICS, Policy, audit_groups
from ethics_review.proxies import proxy_scan
from ethics_review.report import write_documents
from features.pipeline import route
from features.register import FeatureRegister, Role, default_register
from features.sources import read_source
from models import registry
from models.scorer import ScanModel
from models.specs import ScanSpec, load_spec
from riskscan import home
from riskscan.errors import ForbiddenColumn, NotFound, Refusal
from riskscan.jsonio import json_safe

#: Share of signals that may change when one proxy column is neutralised before the test fails.
COUNTERFACTUAL_FLAG_TOLERANCE = 0.01
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


def _held_out(spec: ScanSpec, model: ScanModel, frame: pd.DataFrame, time_column: str) -> pd.DataFrame:
    split = model.meta.get("split") or {}
    if "test_start" not in split:
        raise Refusal("the model records no test months; retrain it with this version of riskscan")
    months = frame[time_column].dt.to_period("M")
    test = frame.loc[(months >= pd.Period(split["test_start"])) & (months <= pd.Period(split["test_end"]))]
    if test.empty:
        raise Refusal(
            f"the data has no rows in the model's test months {split['test_start']}..{split['test_end']}"
        )
    return test.assign(_excluded=spec.excluded_mask(test[time_column]))


def one_row_per_person(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """One randomly chosen (seeded) row of every person, in the original order."""
    if not frame["persoon_id"].duplicated().any():
        return frame
    chosen = frame.sample(frac=1.0, random_state=seed).drop_duplicates("persoon_id")
    return frame.loc[frame.index.isin(chosen.index)]


def _groups_frame(frame: pd.DataFrame, attributes: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({a: frame[a].astype(str).to_numpy() for a in attributes}, index=frame.index)


def _references(spec: ScanSpec, register: FeatureRegister) -> dict[str, str]:
    return {a: str(register[a].audit_reference) for a in spec.fairness.groups if register[a].audit_reference}


def _fairness_checks(scope: str, result: dict[str, Any], *, gating: bool = True) -> list[dict[str, Any]]:
    return [
        {
            "name": f"{c['metric']} ratio, {c['attribute']} = {c['group']}",
            "scope": scope,
            "verdict": c["verdict"],
            "gating": gating,
            "detail": c.get("sentence_en") or _ratio_text(c),
        }
        for c in result["checks"]
    ]


def _ratio_text(check: dict[str, Any]) -> str:
    ratio, ci = check.get("ratio"), check.get("ratio_ci") or [None, None]
    if ratio is None or ci[0] is None:
        return "ratio undefined (too few cases)"
    return f"ratio {ratio:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


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
    table = register.tables[spec.table]
    label = spec.label.column
    routing = route(source.frame, scan, register)
    test = _held_out(spec, model, routing.scored, table.time)
    labelled = test.loc[test["onderzocht"] & test[label].notna() & ~test["_excluded"]]
    control = labelled.loc[labelled["controlesteekproef"]]
    progress(
        f"[audit {scan} v{version}] {len(test)} scored test cases, {len(labelled)} labelled, "
        f"{len(control)} in the control sample"
    )

    scores = model.predict_proba(test, validate=False)
    flags = model.flags(scores)
    flags_by_index = pd.Series(flags, index=test.index)
    policy = Policy.from_spec(spec.fairness)
    references = _references(spec, register)
    # An attribute with one group among the scored cases cannot be compared (Wajong applicants are routed
    # away from the VW scan, so every scored VW case is non-Wajong). It is reported, not silently dropped.
    attributes = tuple(a for a in spec.fairness.groups if test[a].nunique() >= 2)
    not_comparable = {
        a: f"one group only among scored cases ({test[a].astype(str).iloc[0]})"
        + (f"; {routing.reason}" if a in {c.name for c in register.routing_columns(scan)} else "")
        for a in spec.fairness.groups
        if a not in attributes
    }
    intersections = tuple(tuple(pair) for pair in spec.fairness.intersections if set(pair) <= set(attributes))
    references = {a: g for a, g in references.items() if a in attributes}
    checks: list[dict[str, Any]] = [
        {
            "name": f"groups of '{a}' compared",
            "scope": "all scored cases",
            "verdict": "insufficient_evidence",
            "detail": f"not comparable: {reason}",
        }
        for a, reason in not_comparable.items()
    ]

    # Lock 1: the register, applied to the signature the version was registered with.
    signature = registry.version_signature(scan, version)
    inputs = signature.inputs.input_names() if signature and signature.inputs else []
    try:
        registry.check_signature(scan, signature, register)
        lock1 = {
            "verdict": "pass",
            "detail": f"all {len(inputs)} inputs have register role 'feature' for {scan}; "
            "no audit-only or forbidden column.",
        }
    except ForbiddenColumn as exc:
        lock1 = {"verdict": "fail", "detail": str(exc)}
    checks.append(
        {"name": "no audit-only or forbidden input (register)", "scope": "model signature", **lock1}
    )

    # Group metrics on three scopes.
    progress(f"[audit {scan} v{version}] group metrics with {policy.n_boot} bootstrap draws")

    # One row per person: several 4-week periods of one person are not independent, and a bootstrap
    # over rows would give intervals that are too narrow (a handful of people with many periods can look
    # like a proven disparity). Each person contributes one randomly chosen row; VW has one per person.
    def group_metrics(rows: pd.DataFrame, *, with_labels: bool) -> dict[str, Any]:
        people = one_row_per_person(rows, seed=0)
        flagged = flags_by_index.loc[people.index].to_numpy(dtype=int)
        # Without labels only the selection rate is defined; it needs none, so the flags stand in for y.
        y = people[label].to_numpy(dtype=int) if with_labels else flagged
        return audit_groups(
            y,
            flagged,
            _groups_frame(people, attributes),
            policy=policy,
            reference=references,
            intersections=intersections,
            metrics=METRICS if with_labels else ("selection_rate",),
        ).to_dict()

    independent = one_row_per_person(test, seed=0)
    population = group_metrics(test, with_labels=False)
    on_labelled = group_metrics(labelled, with_labels=True)
    on_control = group_metrics(control, with_labels=True)
    checks += _fairness_checks("all scored cases (selection rate)", population)
    # Investigated cases were not selected at random (100% of paper applications, risk rules for the
    # rest), so a disparity among them can be the selection's, not the model's: those checks are shown
    # with verdicts but do not gate. The random control sample gives the same metrics without that bias.
    checks += _fairness_checks(
        "labelled test cases (biased by selection; reported, not gating)", on_labelled, gating=False
    )
    checks += _fairness_checks("random control sample", on_control)

    # Lock 2: proxies among the inputs, and the inputs together.
    progress(f"[audit {scan} v{version}] proxy scan")
    candidates = [c.name for c in register.table_columns(spec.table) if c.role is Role.FEATURE]
    proxies = proxy_scan(
        test,
        candidates,
        _groups_frame(test, attributes),
        association_threshold=spec.fairness.proxy.association_threshold,
        auc_threshold=spec.fairness.proxy.auc_threshold,
        set_features=list(model.features.names),
        row_groups=test["persoon_id"].reset_index(drop=True),
    ).to_dict()
    gating = spec.fairness.proxy.gating_attributes
    threshold = spec.fairness.proxy.association_threshold
    for feature in proxies["features"]:
        feature["model_input"] = feature["feature"] in model.features.names
        strongest = max(
            (
                (attr, values.get("cramers_v") or 0.0)
                for attr, values in feature["association"].items()
                if attr in gating
            ),
            key=lambda pair: pair[1],
            default=(None, 0.0),
        )
        feature["gating_association"], feature["gating_attribute"] = strongest[1], strongest[0]
        if feature["model_input"] and strongest[1] >= threshold:
            checks.append(
                {
                    "name": f"input '{feature['feature']}' is not a proxy",
                    "scope": "proxy scan",
                    "verdict": "fail",
                    "detail": f"Cramér's V {strongest[1]:.2f} with {strongest[0]} (threshold {threshold})",
                }
            )
    flagged_inputs = [
        f["feature"] for f in proxies["features"] if f["model_input"] and f["gating_association"] >= threshold
    ]
    if not flagged_inputs:
        checks.append(
            {
                "name": "no input is a proxy",
                "scope": "proxy scan",
                "verdict": "pass",
                "detail": f"no model input reaches Cramér's V {threshold} with {' or '.join(gating)}",
            }
        )
    for attribute in gating:
        result = proxies["set"].get(attribute)
        if result is None:
            continue
        auc = result.get("auc")
        if auc is None:
            checks.append(
                {
                    "name": f"inputs together do not predict {attribute}",
                    "scope": "proxy scan",
                    "verdict": "insufficient_evidence",
                    "detail": "too few cases in the groups to estimate the AUC",
                }
            )
            continue
        checks.append(
            {
                "name": f"inputs together do not predict {attribute}",
                "scope": "proxy scan",
                "verdict": "fail" if auc >= spec.fairness.proxy.auc_threshold else "pass",
                "detail": f"out-of-sample AUC {auc:.3f} (threshold {spec.fairness.proxy.auc_threshold})",
            }
        )

    # Counterfactual: neutralise each proxy column for every scored test case.
    progress(f"[audit {scan} v{version}] counterfactual proxy test")
    shifts = [
        s.as_dict()
        for s in counterfactual_shifts(
            model,
            test,
            test["nationaliteit"].astype(str),
            references.get("nationaliteit", "nederlands"),
            register=register,
        )
    ]
    signals = max(int(flags.sum()), 1)
    for shift in shifts:
        moved = shift["flags_lost"] + shift["flags_gained"]
        verdict = "fail" if moved / signals > COUNTERFACTUAL_FLAG_TOLERANCE else "pass"
        checks.append(
            {
                "name": f"signals do not depend on '{shift['feature']}'",
                "scope": "counterfactual",
                "verdict": verdict,
                "detail": f"setting it to '{shift['neutral_value']}' for every case moves {moved} of {signals} signals "
                f"(tolerance {COUNTERFACTUAL_FLAG_TOLERANCE:.0%}); mean score change {shift['mean_shift']:+.5f}",
            }
        )

    for check in checks:
        check.setdefault("gating", True)
    verdicts = ("pass", "fail", "insufficient_evidence")
    summary = {v: sum(1 for c in checks if c["gating"] and c["verdict"] == v) for v in verdicts}
    reported = {v: sum(1 for c in checks if not c["gating"] and c["verdict"] == v) for v in verdicts}
    verdict = (
        "fail"
        if summary["fail"]
        else ("insufficient_evidence" if summary["insufficient_evidence"] else "pass")
    )
    run = registry.run_data(str(mv.run_id))
    audit = json_safe(
        {
            "scan": scan,
            "model_name": registry.model_name(scan),
            "version": str(version),
            "run_id": mv.run_id,
            "audited_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "verdict": verdict,
            "summary": summary,
            "reported_not_gating": reported,
            "checks": checks,
            "register_hash": register.content_hash,
            "model_register_hash": model.features.register_hash,
            "spec_hash": spec.content_hash,
            "model_spec_hash": model.meta.get("spec_hash"),
            "data_sha256": source.sha256,
            "git_commit": mv.tags.get("git_commit", "unknown"),
            "inputs": list(model.features.names),
            "operating_point": {
                "threshold": model.threshold,
                "flag_fraction": model.meta.get("flag_fraction"),
                "capacity_per_week": spec.capacity.investigations_per_week,
            },
            "data": {
                "test_start": model.meta["split"]["test_start"],
                "test_end": model.meta["split"]["test_end"],
                "scored_cases": len(test),
                "people_in_group_metrics": len(independent),
                "labelled_cases": len(labelled),
                "control_cases": len(control),
                "routed_cases": len(routing.routed),
                "routed_to": routing.destination,
            },
            "policy": {
                "groups": list(spec.fairness.groups),
                "intersections": [list(p) for p in spec.fairness.intersections],
                "gating_metrics": list(spec.fairness.gating_metrics),
                "ratio_band": list(spec.fairness.ratio_band),
                "min_group_size": spec.fairness.min_group_size,
                "ci_level": spec.fairness.ci_level,
                "n_boot": spec.fairness.n_boot,
                "proxy": spec.fairness.proxy.model_dump(),
            },
            "fairness": {
                "population": population,
                "labelled_test": on_labelled,
                "control_sample": on_control,
            },
            "sentences": {
                lang: [
                    f"[{scope}] {text}"
                    for scope, result in (
                        ("all scored cases", population),
                        ("labelled test cases, not gating", on_labelled),
                        ("random control sample", on_control),
                    )
                    for text in result["sentences"][lang]
                ]
                for lang in ("nl", "en")
            },
            "proxy_scan": proxies,
            "counterfactual": shifts,
            "training": run["metrics"],
            "training_params": run["params"],
            "control_intervals": _control_intervals(run["metrics"]),
            "hazards": HAZARD_NOTES,
        }
    )
    view = _report_view(audit, spec, register, scores, test)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_documents(Path(tmp), audit, view, spec)
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
    progress(f"[audit {scan} v{version}] verdict {verdict}: {summary}; report {local['report.html']}")
    return AuditResult(scan, str(version), verdict, summary, report_sha, artifact_path, local, audit)


def _control_intervals(metrics: dict[str, float]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for name in ("precision_at_op", "recall_at_op", "lift", "base_rate"):
        out[name] = {
            "estimate": metrics.get(f"control_{name}"),
            "low": metrics.get(f"control_{name}_ci_low"),
            "high": metrics.get(f"control_{name}_ci_high"),
        }
    return out


def _table_rows(result: dict[str, Any], metrics: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = []
    for group, entry in result["groups"].items():
        cells = []
        for metric in metrics:
            value, ci = entry.get(metric), entry["ci"].get(metric) or [None, None]
            verdict = entry["verdict"].get(metric, "")
            text = "—" if value is None else f"{value:.3f}"
            if ci[0] is not None and ci[1] is not None:
                text += f" [{ci[0]:.3f}, {ci[1]:.3f}]"
            ratio = entry["ratio"].get(metric)
            if ratio is not None and verdict != "reference":
                text += f"; ratio {ratio:.2f}"
            if verdict:
                text += f" ({verdict.replace('_', ' ')})"
            cells.append(text)
        rows.append({"group": group, "n": entry["n"], "cells": cells})
    return rows


def _report_view(
    audit: dict[str, Any], spec: ScanSpec, register: FeatureRegister, scores: np.ndarray, test: pd.DataFrame
) -> dict[str, Any]:
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
