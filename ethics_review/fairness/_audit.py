"""``audit_groups``: per attribute, the cells of every group, its rates and ratios with intervals, verdicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from ethics_review.fairness._cells import FN, FP, TN, TP, confusion_cells, fairlearn_point_estimates
from ethics_review.fairness._intervals import (
    fairlearn_estimates,
    group_estimates,
    multinomial_draws,
    ratio_estimate,
)
from ethics_review.fairness._judge import Reason, Verdict, judge
from ethics_review.fairness._policy import METRICS, Policy
from ethics_review.fairness._results import (
    INTERSECTION_SEPARATOR,
    AttributeAudit,
    Check,
    FairnessAudit,
    GroupResult,
)
from ethics_review.fairness._sentences import sentence
from features.register import FeatureRegister, default_register
from riskscan.errors import InvalidInput
from riskscan.stats import Estimate


def audit_groups(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    groups: pd.DataFrame,
    *,
    policy: Policy | None = None,
    reference: Mapping[str, str] | None = None,
    intersections: Sequence[Sequence[str]] = (),
    metrics: Sequence[str] = METRICS,
    register: FeatureRegister | None = None,
) -> FairnessAudit:
    """Audit a selection ``y_pred`` (1 = selected) against outcomes ``y_true`` (1 = violation) per group.

    ``groups`` has one column per sensitive attribute, aligned with the labels. ``intersections`` combines
    columns into one attribute (``("nationaliteit", "geslacht")`` -> ``"nationaliteit × geslacht"`` with
    groups like ``"turks_marokkaans × vrouw"``). ``reference`` maps an attribute (or intersection) name to
    its reference group; by default the register's ``audit_reference`` (joined for intersections) when
    that group occurs, else the largest group. ``metrics`` limits what is reported and judged (a
    label-free audit of selection rates passes ``("selection_rate",)``); checks are made for the policy's
    gating metrics among them. Raises ``InvalidInput`` for invalid input.
    """
    policy = policy or Policy()
    unknown_metrics = [m for m in metrics if m not in METRICS]
    if unknown_metrics or not metrics:
        raise InvalidInput(f"metrics must be a non-empty choice of {', '.join(METRICS)}; got {list(metrics)}")
    reported = tuple(m for m in METRICS if m in metrics)
    register = register or default_register()
    truth, flags = _binary(y_true, "y_true"), _binary(y_pred, "y_pred")
    if len(truth) != len(flags) or len(groups) != len(truth):
        raise InvalidInput(
            f"y_true ({len(truth)}), y_pred ({len(flags)}) and groups ({len(groups)}) differ in length"
        )
    if len(truth) == 0:
        raise InvalidInput("there are no rows to audit")
    attributes = _attributes(groups, intersections)
    unknown = sorted(set(reference or {}) - set(attributes))
    if unknown:
        raise InvalidInput(
            f"reference given for unknown attribute(s) {', '.join(unknown)}; known: {', '.join(attributes)}"
        )

    audits: dict[str, AttributeAudit] = {}
    checks: list[Check] = []
    for name, values in attributes.items():
        audit = _audit_attribute(
            name,
            values,
            truth=truth,
            flags=flags,
            policy=policy,
            reference=(reference or {}).get(name),
            metrics=reported,
            register=register,
        )
        audits[name] = audit
        checks.extend(_checks(audit, policy, reported, register))
    return FairnessAudit(policy=policy, attributes=audits, checks=tuple(checks))


def _attributes(groups: pd.DataFrame, intersections: Sequence[Sequence[str]]) -> dict[str, pd.Series]:
    """Every group column as text, then every asked intersection of them."""
    columns = {str(name): _group_values(groups[name], str(name)) for name in groups.columns}
    for combo in intersections:
        missing = [name for name in combo if name not in columns]
        if len(combo) < 2 or missing:
            raise InvalidInput(
                f"intersection {list(combo)} needs at least two of the group columns {list(columns)}"
            )
    attributes = dict(columns)
    for combo in intersections:
        joined = columns[combo[0]]
        for name in combo[1:]:
            joined = joined + INTERSECTION_SEPARATOR + columns[name]
        attributes[INTERSECTION_SEPARATOR.join(combo)] = joined
    return attributes


def _binary(values: ArrayLike, name: str) -> NDArray[np.int8]:
    series = pd.Series(np.asarray(values, dtype=object))
    missing = int(series.isna().sum())
    if missing:
        raise InvalidInput(f"{name} has {missing} missing values; every row needs a known 0/1 value")
    numeric = pd.to_numeric(series, errors="coerce")
    bad = series[numeric.isna() | ~numeric.isin((0, 1))]
    if len(bad):
        shown = ", ".join(sorted({repr(v) for v in bad})[:5])
        raise InvalidInput(f"{name} must be binary (0/1); found {shown}")
    return numeric.to_numpy(dtype=np.int8)


def _group_values(series: pd.Series, name: str) -> pd.Series:
    missing = int(series.isna().sum())
    if missing:
        raise InvalidInput(f"group column '{name}' has {missing} rows without a group value")
    return series.astype(str).reset_index(drop=True)


def register_reference(name: str, register: FeatureRegister) -> str | None:
    """The register's ``audit_reference`` of an attribute; of an intersection (``"nationaliteit × geslacht"``)
    its parts' references joined (``"nederlands × man"``); None when a part has none."""
    parts = name.split(INTERSECTION_SEPARATOR)
    if not all(part in register and register[part].audit_reference is not None for part in parts):
        return None
    return INTERSECTION_SEPARATOR.join(str(register[part].audit_reference) for part in parts)


def _reference(
    name: str, asked: str | None, labels: list[str], sizes: NDArray[np.int64], register: FeatureRegister
) -> str:
    """The asked reference group; else the register's ``audit_reference`` if it occurs; else the largest."""
    if asked is not None:
        if asked not in labels:
            shown = ", ".join(f"'{label}' (n={size})" for label, size in zip(labels, sizes, strict=True))
            raise InvalidInput(
                f"reference group '{asked}' does not occur in '{name}'; its groups are {shown}"
            )
        return asked
    candidate = register_reference(name, register)
    if candidate is not None and candidate in labels:
        return candidate
    order = sorted(range(len(labels)), key=lambda i: (-sizes[i], labels[i]))
    return labels[order[0]]


def _audit_attribute(
    name: str,
    values: pd.Series,
    *,
    truth: NDArray[np.int8],
    flags: NDArray[np.int8],
    policy: Policy,
    reference: str | None,
    metrics: tuple[str, ...],
    register: FeatureRegister,
) -> AttributeAudit:
    uniques, inverse = np.unique(values.to_numpy(dtype=object), return_inverse=True)
    labels = [str(u) for u in uniques]
    cells = confusion_cells(truth, flags, inverse, len(labels))
    sizes = cells.sum(axis=1)
    reference = _reference(name, reference, labels, sizes, register)
    ref = labels.index(reference)
    estimates = fairlearn_point_estimates(cells, labels, metrics)
    point = {metric: estimates[metric].to_numpy(dtype=np.float64) for metric in metrics}
    draws = multinomial_draws(cells, policy, name)
    if policy.ci_method == "fairlearn":
        row_labels = np.asarray(labels, dtype=object)[inverse]
        rates = fairlearn_estimates(
            truth, flags, row_labels, point=point, labels=labels, metrics=metrics, policy=policy
        )
    else:
        rates = {m: group_estimates(point[m], draws[m], policy.ci_level) for m in metrics}
    ratios = {
        m: [ratio_estimate(point[m], draws[m], i, ref, policy.ci_level) for i in range(len(labels))]
        for m in metrics
    }

    results: dict[str, GroupResult] = {}
    for i in sorted(range(len(labels)), key=lambda j: (-sizes[j], labels[j])):
        verdict: dict[str, Verdict] = {}
        reasons: dict[str, Reason | None] = {}
        for metric in policy.gating(metrics):
            verdict[metric], reasons[metric] = (
                ("reference", None)
                if i == ref
                else judge(metric, cells[i], cells[ref], ratios[metric][i], policy)
            )
        results[labels[i]] = GroupResult(
            n=int(sizes[i]),
            cells=(int(cells[i, TP]), int(cells[i, FP]), int(cells[i, FN]), int(cells[i, TN])),
            rates=_column(rates, i),
            ratios=_column(ratios, i),
            verdict=verdict,
            reasons=reasons,
        )
    return AttributeAudit(name=name, reference=reference, groups=results)


def _column(estimates: dict[str, list[Estimate]], group: int) -> dict[str, Estimate]:
    return {metric: per_group[group] for metric, per_group in estimates.items()}


def _checks(
    audit: AttributeAudit, policy: Policy, metrics: tuple[str, ...], register: FeatureRegister
) -> list[Check]:
    ref = audit.groups[audit.reference]
    checks = []
    for group, result in audit.groups.items():
        for metric in policy.gating(metrics):
            verdict = result.verdict[metric]
            if verdict == "reference":
                continue
            check = Check(
                attribute=audit.name,
                group=group,
                metric=metric,
                rate=result.rates[metric],
                reference=audit.reference,
                reference_rate=ref.rates[metric],
                ratio=result.ratios[metric],
                verdict=verdict,
                reason=result.reasons[metric],
                band=policy.ratio_band,
            )
            checks.append(
                replace(
                    check,
                    sentence_nl=sentence(check, "nl", register),
                    sentence_en=sentence(check, "en", register),
                )
            )
    return checks
