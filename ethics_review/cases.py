"""The cases an audit measures: a model version's held-out months, scored at its operating point.

**The audit window** is every month the version's fitting did not learn from: the validation months and
the test months (:func:`audit_window`). Three sets of cases in it, each answering a different question:

* every scored case: who gets selected (needs no labels);
* the labelled cases: investigated, excluded windows left out; biased by the historical selection;
* the random control sample among them: unbiased, and the only basis for error rates that gate.

**Why pooling the validation months is valid, and what it costs.** ``training/`` learns the trees and the
logistic coefficients from the training months only. The validation months choose four numbers, all of them
for the whole population and none for a group: the number of boosting rounds (early stopping on the
validation loss), the two Platt calibration parameters, and the threshold (the ``1 - f`` quantile of the
validation scores, so that ``f`` of them are flagged; calibration is monotone, so the flags depend only on
the threshold's rank). The hyperparameters come from the spec, not from a search. A fairness check compares
the rate of one group with the reference's under those fixed numbers; the small optimism that reusing the
validation months brings is in the overall loss and in the overall flag share (exactly ``f`` there), and
it reaches a ratio between groups only through these four shared numbers, a second-order effect against
the sampling error of the groups. So selection rates and error-rate ratios pool validation and test months
(twice the evidence), while the model's effectiveness (precision and lift on the control sample, where
early stopping's optimism would show) stays measured on the test months alone, as training recorded it.

Each person counts once (:func:`one_row_per_person`): several 4-week periods of one person are not
independent evidence.

Audit-only attributes (nationality, migration background, ...) are columns of the source table here, at
audit time; they never pass through the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.pipeline import Routing
from features.register import FeatureRegister
from models.scorer import ScanModel
from models.specs import ScanSpec
from riskscan.errors import Refusal


@dataclass(frozen=True)
class HeldOut:
    """The scored test cases with their scores and flags, and the attributes that can be compared."""

    scored: pd.DataFrame
    labelled: pd.DataFrame
    control: pd.DataFrame
    scores: np.ndarray
    flags: np.ndarray  # aligned with ``scored``
    label: str
    attributes: tuple[str, ...]  # audit attributes with two or more groups among the scored cases
    not_comparable: dict[str, str]  # attribute -> why it cannot be compared
    routed_away: dict[str, str]  # routing attribute with one group among the scored -> what the routing did
    references: dict[str, str]  # attribute -> the register's reference group
    intersections: tuple[tuple[str, ...], ...]
    window: AuditWindow

    def flags_of(self, rows: pd.DataFrame) -> np.ndarray:
        """The flags (0/1) of some of the scored cases, by index."""
        return pd.Series(self.flags, index=self.scored.index).loc[rows.index].to_numpy(dtype=int)

    def groups_frame(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The comparable attributes of ``rows`` as text, one column each."""
        return pd.DataFrame({a: rows[a].astype(str).to_numpy() for a in self.attributes}, index=rows.index)


@dataclass(frozen=True)
class AuditWindow:
    """The months an audit pools, and how many national cases one row of them stands for."""

    start: str  # first month, YYYY-MM (the first validation month)
    end: str  # last month (the last test month)
    months: tuple[str, ...]
    national_per_row: float  # mean of 1 / sample fraction over the scored rows (1 for a complete extract)

    def to_dict(self) -> dict[str, object]:
        return {
            "start": self.start,
            "end": self.end,
            "months": list(self.months),
            "national_cases_per_row": round(self.national_per_row, 4),
            "why": POOLING_REASON,
        }


#: Why the audit may pool the validation months (the module notes say it at length).
POOLING_REASON = (
    "Validation and test months took no part in fitting the trees or coefficients. The validation months "
    "set four population-wide numbers (boosting rounds by early stopping, two Platt parameters, the "
    "threshold), none per group, so group ratios measured on them stay valid; precision and lift remain "
    "measured on the test months only."
)


def held_out_cases(
    spec: ScanSpec,
    model: ScanModel,
    routing: Routing,
    register: FeatureRegister,
    fractions: Callable[[pd.Series], np.ndarray] | None = None,
) -> HeldOut:
    """The model's audit window among the cases its scan scores, scored and split as the module says.

    ``fractions`` gives each row's share of the national caseload (the source table's); without it the
    rows are taken as the whole caseload.
    """
    table = register.tables[spec.table]
    label = spec.label.column
    test = _window_rows(spec, model, routing.scored, table.time)
    per_row = 1.0 if fractions is None else float(np.mean(1.0 / fractions(test[table.time])))
    labelled = test.loc[test["onderzocht"] & test[label].notna() & ~test["_excluded"]]
    scores = model.predict_proba(test, validate=False)
    # An attribute with one group among the scored cases cannot be compared; it is reported, never silently
    # dropped. When the attribute is one the scan routes on (Wajong applicants go to a labour expert, not to
    # the VW scan), one group is what the routing must achieve, and that is a fact the audit can check:
    # no scored case belongs to the routed group.
    attributes = tuple(a for a in spec.fairness.groups if test[a].nunique() >= 2)
    routing_columns = {c.name for c in register.routing_columns(spec.id)}
    single = [a for a in spec.fairness.groups if a not in attributes]
    window = routing.routed[table.time].between(test[table.time].min(), test[table.time].max())
    routed_away = {
        a: (
            f"every one of the {len(test)} scored cases has {a} = {test[a].astype(str).iloc[0]}; "
            f"{int(window.sum())} cases of the same months were routed away from the scan "
            f"({routing.reason})"
        )
        for a in single
        if a in routing_columns and len(test) and a in routing.routed.columns
    }
    not_comparable = {
        a: f"one group only among scored cases ({test[a].astype(str).iloc[0] if len(test) else 'none'})"
        for a in single
        if a not in routed_away
    }
    return HeldOut(
        scored=test,
        labelled=labelled,
        control=labelled.loc[labelled["controlesteekproef"]],
        scores=scores,
        flags=model.flags(scores),
        label=label,
        attributes=attributes,
        not_comparable=not_comparable,
        routed_away=routed_away,
        references={a: str(register[a].audit_reference) for a in attributes if register[a].audit_reference},
        intersections=tuple(
            tuple(pair) for pair in spec.fairness.intersections if set(pair) <= set(attributes)
        ),
        window=audit_window(model, per_row),
    )


def audit_window(model: ScanModel, national_per_row: float = 1.0) -> AuditWindow:
    """Validation and test months of a version (a version trained before validation months were recorded
    has only its test months)."""
    split = model.meta.get("split") or {}
    if "test_start" not in split:
        raise Refusal("the model records no test months; retrain it with this version of riskscan")
    start = split.get("validation_start", split["test_start"])
    months = pd.period_range(pd.Period(start, "M"), pd.Period(split["test_end"], "M"), freq="M")
    return AuditWindow(start, split["test_end"], tuple(str(m) for m in months), national_per_row)


def _window_rows(spec: ScanSpec, model: ScanModel, frame: pd.DataFrame, time_column: str) -> pd.DataFrame:
    window = audit_window(model)
    months = frame[time_column].dt.to_period("M")
    rows = frame.loc[(months >= pd.Period(window.start)) & (months <= pd.Period(window.end))]
    if rows.empty:
        raise Refusal(f"the data has no rows in the model's audit months {window.start}..{window.end}")
    return rows.assign(_excluded=spec.excluded_mask(rows[time_column]))


def one_row_per_person(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """One randomly chosen (seeded) row of every person, in the original order.

    Several 4-week periods of one person are not independent, and a bootstrap over rows would give
    intervals that are too narrow (a handful of people with many periods can look like a proven
    disparity). Each person contributes one randomly chosen row; VW has one per person.
    """
    if not frame["persoon_id"].duplicated().any():
        return frame
    chosen = frame.sample(frac=1.0, random_state=seed).drop_duplicates("persoon_id")
    return frame.loc[frame.index.isin(chosen.index)]
