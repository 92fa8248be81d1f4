"""The cases an audit measures: a model version's held-out months, scored at its operating point.

Three sets, each answering a different question:

* every scored test case: who gets selected (needs no labels);
* the labelled test cases: investigated, excluded windows left out; biased by the historical selection;
* the random control sample among them: unbiased, small.

Audit-only attributes (nationality, migration background, ...) are columns of the source table here, at
audit time; they never pass through the model.
"""

from __future__ import annotations

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
    references: dict[str, str]  # attribute -> the register's reference group
    intersections: tuple[tuple[str, ...], ...]

    def flags_of(self, rows: pd.DataFrame) -> np.ndarray:
        """The flags (0/1) of some of the scored cases, by index."""
        return pd.Series(self.flags, index=self.scored.index).loc[rows.index].to_numpy(dtype=int)

    def groups_frame(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The comparable attributes of ``rows`` as text, one column each."""
        return pd.DataFrame({a: rows[a].astype(str).to_numpy() for a in self.attributes}, index=rows.index)


def held_out_cases(spec: ScanSpec, model: ScanModel, routing: Routing, register: FeatureRegister) -> HeldOut:
    """The model's test months among the cases its scan scores, scored and split as the module says."""
    table = register.tables[spec.table]
    label = spec.label.column
    test = _test_months(spec, model, routing.scored, table.time)
    labelled = test.loc[test["onderzocht"] & test[label].notna() & ~test["_excluded"]]
    scores = model.predict_proba(test, validate=False)
    # An attribute with one group among the scored cases cannot be compared (Wajong applicants are routed
    # away from the VW scan, so every scored VW case is non-Wajong). It is reported, not silently dropped.
    attributes = tuple(a for a in spec.fairness.groups if test[a].nunique() >= 2)
    routing_columns = {c.name for c in register.routing_columns(spec.id)}
    not_comparable = {
        a: f"one group only among scored cases ({test[a].astype(str).iloc[0]})"
        + (f"; {routing.reason}" if a in routing_columns else "")
        for a in spec.fairness.groups
        if a not in attributes
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
        references={a: str(register[a].audit_reference) for a in attributes if register[a].audit_reference},
        intersections=tuple(
            tuple(pair) for pair in spec.fairness.intersections if set(pair) <= set(attributes)
        ),
    )


def _test_months(spec: ScanSpec, model: ScanModel, frame: pd.DataFrame, time_column: str) -> pd.DataFrame:
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
    """One randomly chosen (seeded) row of every person, in the original order.

    Several 4-week periods of one person are not independent, and a bootstrap over rows would give
    intervals that are too narrow (a handful of people with many periods can look like a proven
    disparity). Each person contributes one randomly chosen row; VW has one per person.
    """
    if not frame["persoon_id"].duplicated().any():
        return frame
    chosen = frame.sample(frac=1.0, random_state=seed).drop_duplicates("persoon_id")
    return frame.loc[frame.index.isin(chosen.index)]
