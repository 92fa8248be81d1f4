"""The ethics verbs: ``audit`` on registered versions, ``audit-scores`` and ``proxy-scan``
on any table.

``audit-scores`` and ``proxy-scan`` take any CSV or Parquet table, so they can audit a model this project
never trained: scores and outcomes from elsewhere, or the inputs of a proposed scan before anyone builds it.
The work is in ``ethics_review`` (``audit``, ``fairness``, ``proxies``, ``tables``); this
module parses arguments and words the summary. Input problems arrive as ``InvalidInput`` refusals.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethics_review import tables
from ethics_review.fairness import Policy, audit_groups
from ethics_review.proxies import proxy_scan
from models.specs import scan_ids
from riskscan.cli._verb import Outcome, Verb
from riskscan.errors import InvalidInput

_DEFAULTS = Policy()


# -- audit -------------------------------------------------------------------------------------------------


def _configure_audit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scan", choices=scan_ids(), required=True)
    parser.add_argument("--version", required=True, help="registered model version to audit")
    parser.add_argument(
        "--data", type=Path, help="folder with the source tables (default RISKSCAN_HOME/data)"
    )
    parser.add_argument(
        "--allow-other-data",
        action="store_true",
        help="audit on data other than the version was trained on (the report says so)",
    )


def audit(args: argparse.Namespace) -> Outcome:
    from ethics_review.audit import audit_version
    from models.governance import GovernanceStore

    result = audit_version(
        args.scan,
        args.version,
        data_dir=args.data,
        register=GovernanceStore().ruled_register(),  # a column ruled unlawful is forbidden here too
        allow_other_data=args.allow_other_data,
    )
    s = result.summary
    lines = [
        f"{args.scan} version {args.version}: audit verdict {result.verdict} "
        f"({s['pass']} pass, {s['fail']} fail, {s['insufficient_evidence']} insufficient evidence)",
        f"  report: {result.local_paths['report.html']}",
        f"  audit hash {result.report_sha256} (tagged on the model version; artifacts under {result.artifact_path})",
    ]
    checks = result.audit["checks"]
    lines += [
        f"  FAIL {c['name']} [{c['scope']}]: {c['detail']}"
        for c in checks
        if c["verdict"] == "fail" and c["gating"]
    ]
    undecided = [c for c in checks if c["verdict"] == "insufficient_evidence" and c["gating"]]
    if undecided:
        within_year = [c for c in undecided if (c.get("power") or {}).get("months_needed") is not None]
        within_year = [c for c in within_year if c["power"]["months_needed"] <= 12]
        lines.append(
            f"  undecided: {len(undecided)} gating checks, {len(within_year)} of them decidable within 12 months "
            f"at national volume; {len(result.audit['proposed_obligations'])} proposed obligations (audit.json)"
        )
    reported = [c for c in checks if c["verdict"] == "fail" and not c["gating"]]
    if reported:
        # Shown apart, and never as FAIL: these do not decide the verdict (the investigated cases were not
        # chosen at random, so their disparities can be the selection's), and nobody should read them as a
        # failed audit. The report gives each one's sentence and interval.
        scopes = sorted({c["scope"] for c in reported})
        lines.append(
            f"  reported, not gating: {len(reported)} outside the band on {'; '.join(scopes)}; they do not "
            "decide the verdict (sentences in the report):"
        )
        lines += [f"    {c['name']}" for c in reported]
    return Outcome(
        lines,
        {
            "verdict": result.verdict,
            "summary": s,
            "report_sha256": result.report_sha256,
            "paths": {k: str(v) for k, v in result.local_paths.items()},
            "checks": result.audit["checks"],
            "proposed_obligations": result.audit["proposed_obligations"],
        },
    )


# -- register-entry ---------------------------------------------------------------------------------------


def _configure_register_entry(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scan", choices=scan_ids(), required=True)
    parser.add_argument("--version", help="an audited version (default: the champion)")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="FILE",
        help="where to write the entry (JSON, the API's body)",
    )


def register_entry(args: argparse.Namespace) -> Outcome:
    """The version's Algoritmeregister entry, validated against publication standard 1.0, written to FILE."""
    from ethics_review.algoritmeregister import entry_for_version
    from riskscan import jsonio

    version, entry = entry_for_version(args.scan, args.version)
    jsonio.write_json(args.out, entry)
    dates = f" since {entry['begin_date']}" if entry.get("begin_date") else ""
    dates += f" until {entry['end_date']}" if entry.get("end_date") else ""
    return Outcome(
        [
            f"wrote {args.out}: Algoritmeregister entry (publication standard {entry['standard_version']}, "
            f"validated) of riskscan-{args.scan} version {version}",
            f"  status {entry['status']}{dates}; publication category {entry['publication_category']}; "
            f"themes {', '.join(entry['category'])}",
        ],
        {"version": version, "path": str(args.out), "entry": entry},
    )


# -- audit-scores -----------------------------------------------------------------------------------------


def _configure_audit_scores(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", type=Path, required=True, metavar="FILE", help="a .csv or .parquet table")
    parser.add_argument("--score-col", required=True, help="column with the risk score (higher = riskier)")
    parser.add_argument("--label-col", required=True, help="column with the outcome: 1 = violation found")
    parser.add_argument(
        "--group-col", action="append", required=True, help="sensitive attribute column (repeat for several)"
    )
    parser.add_argument("--threshold", type=float, help="flag rows with score >= T")
    parser.add_argument("--top-fraction", type=float, help="flag the top fraction F of scores (0 < F <= 1)")
    parser.add_argument(
        "--reference",
        action="append",
        metavar="[ATTR=]GROUP",
        help="reference group of the first --group-col, or of ATTR (default: the register's audit reference, "
        "else the largest group)",
    )
    parser.add_argument(
        "--n-boot", type=int, default=_DEFAULTS.n_boot, help="bootstrap resamples (%(default)s)"
    )
    parser.add_argument(
        "--ci-level", type=float, default=_DEFAULTS.ci_level, help="interval level (%(default)s)"
    )
    parser.add_argument(
        "--ci-method",
        choices=("multinomial", "fairlearn"),
        default=_DEFAULTS.ci_method,
        help="per-group intervals: vectorised multinomial bootstrap, or Fairlearn's row bootstrap (slow)",
    )
    parser.add_argument(
        "--min-group-size",
        type=int,
        default=_DEFAULTS.min_group_size,
        help="fewest rows for a verdict (%(default)s)",
    )
    parser.add_argument(
        "--min-denominator",
        type=int,
        default=_DEFAULTS.min_denominator,
        help="fewest innocents / violators / selected cases a rate needs for a verdict (%(default)s)",
    )
    parser.add_argument(
        "--band",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=list(_DEFAULTS.ratio_band),
        help="policy band for ratios to the reference (default %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=_DEFAULTS.random_state, help="bootstrap seed (%(default)s)"
    )


def audit_scores(args: argparse.Namespace) -> Outcome:
    """Per-group selection and error rates of thresholded scores, with intervals, ratios and verdicts."""
    path: Path = args.input
    group_cols: list[str] = args.group_col
    frame = tables.read_table(path, text_columns=group_cols)
    tables.require_columns(frame, [args.score_col, args.label_col, *group_cols], path)
    scores = tables.numeric_column(frame, args.score_col)
    labels = tables.binary_column(frame, args.label_col)
    groups = pd.DataFrame({col: tables.group_column(frame, col) for col in group_cols})
    threshold, threshold_info = _threshold(args.threshold, args.top_fraction, scores)
    flags = (scores >= threshold).astype(np.int8)
    reference = _references(args.reference or [], group_cols)
    policy = Policy(
        ratio_band=(args.band[0], args.band[1]),
        min_group_size=args.min_group_size,
        ci_level=args.ci_level,
        n_boot=args.n_boot,
        min_denominator=args.min_denominator,
        random_state=args.seed,
        ci_method=args.ci_method,
    )
    audit = audit_groups(labels, flags, groups, policy=policy, reference=reference)

    result = audit.to_dict()
    payload: dict[str, Any] = {
        "input": {
            "path": str(path),
            "rows": len(frame),
            "score_col": args.score_col,
            "label_col": args.label_col,
            "group_cols": group_cols,
        },
        "threshold": threshold_info,
        "policy": result["policy"],
        "references": {name: attr["reference"] for name, attr in result["attributes"].items()},
        "groups": {name: attr["groups"] for name, attr in result["attributes"].items()},
        "checks": result["checks"],
        "summary": result["summary"],
        "sentences": result["sentences"],
    }
    source = (
        f" (the top {threshold_info['top_fraction']:g} of scores)"
        if threshold_info["top_fraction"] is not None
        else ""
    )
    lines = [
        f"audit-scores: {len(frame):,} rows from {path}; flagged {threshold_info['flagged']:,} "
        f"({threshold_info['flagged_share']:.1%}) with {args.score_col} >= {threshold:.6g}{source}",
        f"  verdicts on {', '.join(policy.gating_metrics)}, "
        f"band {policy.ratio_band[0]:g}-{policy.ratio_band[1]:g}, "
        f"{policy.ci_level:.0%} intervals ({policy.n_boot} resamples): "
        + ", ".join(f"{count} {verdict.replace('_', ' ')}" for verdict, count in audit.summary.items()),
    ]
    for name, attribute in audit.attributes.items():
        checks = [c for c in audit.checks if c.attribute == name]
        fails = [c for c in checks if c.verdict == "fail"]
        unsure = sum(c.verdict == "insufficient_evidence" for c in checks)
        lines.append(
            f"  {name} (reference '{attribute.reference}', {len(attribute.groups)} groups): "
            f"{len(fails)} fail, {unsure} insufficient evidence"
        )
        lines.extend(f"    FAIL: {c.sentence_en}" for c in fails)
    return Outcome(lines, payload)


def _threshold(
    threshold: float | None, top_fraction: float | None, scores: np.ndarray
) -> tuple[float, dict[str, Any]]:
    """The flag threshold: given, or the score of the ceil(F * n)-th highest row (ties flag more rows)."""
    if threshold is not None:
        if top_fraction is not None:
            raise InvalidInput("give exactly one of --threshold T or --top-fraction F, not both")
        value = threshold
    elif top_fraction is not None:
        if not 0 < top_fraction <= 1:
            raise InvalidInput(f"--top-fraction must lie in (0, 1], not {top_fraction}")
        value = float(np.sort(scores)[::-1][math.ceil(top_fraction * len(scores)) - 1])
    else:
        raise InvalidInput("give exactly one of --threshold T or --top-fraction F (neither was given)")
    flagged = int((scores >= value).sum())
    return value, {
        "value": value,
        "rule": "flag = score >= value",
        "top_fraction": top_fraction,
        "flagged": flagged,
        "flagged_share": flagged / len(scores),
    }


def _references(given: list[str], group_cols: list[str]) -> dict[str, str]:
    """``GROUP`` names the reference of the first group column, ``ATTR=GROUP`` that of column ATTR."""
    references: dict[str, str] = {}
    for item in given:
        attr, sep, group = item.partition("=")
        if not sep or attr not in group_cols:
            attr, group = group_cols[0], item
        if attr in references:
            raise InvalidInput(f"more than one --reference for '{attr}'")
        references[attr] = group
    return references


# -- proxy-scan -------------------------------------------------------------------------------------------


def _configure_proxy_scan(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", type=Path, required=True, metavar="FILE", help="a .csv or .parquet table")
    parser.add_argument("--sensitive-col", required=True, help="the sensitive attribute column")
    parser.add_argument(
        "--exclude", action="extend", nargs="+", default=[], metavar="COL", help="columns that are not inputs"
    )
    parser.add_argument(
        "--association-threshold",
        type=float,
        default=0.3,
        help="flag a feature at Cramér's V >= (%(default)s)",
    )
    parser.add_argument(
        "--auc-threshold", type=float, default=0.65, help="flag the feature set at macro AUC >= (%(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="subsample and cross-validation seed (%(default)s)"
    )


def proxy_scan_verb(args: argparse.Namespace) -> Outcome:
    """How strongly each column, and all columns together, predict the sensitive column."""
    path: Path = args.input
    sensitive: str = args.sensitive_col
    frame = tables.read_table(path, text_columns=[sensitive])
    tables.require_columns(frame, [sensitive, *args.exclude], path)
    groups = tables.group_column(frame, sensitive)
    features = [str(c) for c in frame.columns if c != sensitive and c not in args.exclude]
    if not features:
        raise InvalidInput(f"no feature columns left in {path} after leaving out '{sensitive}' and --exclude")
    scan = proxy_scan(
        frame,
        features,
        groups,
        association_threshold=args.association_threshold,
        auc_threshold=args.auc_threshold,
        random_state=args.seed,
    )

    result = scan.to_dict()
    set_result = scan.sets[sensitive]
    payload: dict[str, Any] = {
        "input": {
            "path": str(path),
            "rows": len(frame),
            "sensitive_col": sensitive,
            "excluded": args.exclude,
        },
        "features": result["features"],
        "flagged": result["flagged"],
        "auc": set_result.auc,
        "auc_per_group": set_result.auc_per_group,
        "auc_flagged": set_result.flagged,
        "auc_without_flagged": set_result.auc_without_flagged,
        "set": result["set"],
        "thresholds": result["thresholds"],
        "method": result["method"],
    }
    lines = [
        f"proxy-scan: {len(frame):,} rows, {len(features)} feature columns against '{sensitive}' "
        f"({groups.nunique()} groups)",
    ]
    strong = [f for f in scan.features if f.flagged]
    if strong:
        shown = ", ".join(f"{f.feature} (V={f.max_association:.2f})" for f in strong)
        lines.append(f"  flagged features (Cramér's V >= {args.association_threshold:g}): {shown}")
    else:
        lines.append(f"  no single feature reaches Cramér's V {args.association_threshold:g}")
    if set_result.auc is None:
        lines.append("  the feature set could not be evaluated: fewer than two groups are large enough")
    else:
        verdict = "PROXY" if set_result.flagged else "below the threshold"
        lines.append(
            f"  all features together predict '{sensitive}' with macro ROC-AUC {set_result.auc:.3f} "
            f"(threshold {args.auc_threshold:g}): {verdict}"
        )
        if strong and set_result.auc_without_flagged is not None:
            lines.append(
                f"  without the flagged features: macro ROC-AUC {set_result.auc_without_flagged:.3f}"
            )
    if set_result.groups_excluded:
        lines.append(f"  groups too small for the set model: {', '.join(set_result.groups_excluded)}")
    return Outcome(lines, payload)


VERBS = (
    Verb(
        "audit",
        "audit a registered model version (fairness, proxies, counterfactuals)",
        _configure_audit,
        audit,
    ),
    Verb(
        "register-entry",
        "write a version's Algoritmeregister entry (the intake API's body, publication standard 1.0)",
        _configure_register_entry,
        register_entry,
    ),
    Verb(
        "audit-scores",
        "audit thresholded scores per group (any model): rates, intervals, ratios, verdicts",
        _configure_audit_scores,
        audit_scores,
    ),
    Verb(
        "proxy-scan",
        "measure how strongly the columns of a table stand in for a sensitive column",
        _configure_proxy_scan,
        proxy_scan_verb,
    ),
)
