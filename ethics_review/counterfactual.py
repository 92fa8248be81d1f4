"""Counterfactual proxy test: change one proxy column for every case and measure how scores and flags move.

For each proxy-prone column of the source table (register ``proxy_risk: high``), every test case gets the
column's *neutral* value (a digital application, Dutch correspondence, no RNI registration, and so on)
while everything else stays as it was. If the model does not take the column as input, the score cannot
move and the test proves it on the data; if it does, the shift shows how much a person's chance of being
investigated depends on, for example, having applied on paper.

This is the archetype test of the Rotterdam investigation made systematic: instead of a handful of
profiles, every real test case is its own counterfactual pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.register import FeatureRegister, default_register
from models.scorer import ScanModel

#: The value every case is moved to: the value the over-inspected groups are least likely to have.
NEUTRAL_VALUES: dict[str, Any] = {
    "aanvraagkanaal": "digitaal",
    "correspondentietaal": "nl",
    "rni_inschrijving": False,
    "correspondentieadres": False,
    "intermediair": False,
    "opleidingsniveau": "middelbaar",
}


@dataclass(frozen=True)
class CounterfactualShift:
    feature: str
    label: str
    neutral_value: str
    model_input: bool
    changed_cases: int
    mean_shift: float
    mean_abs_shift: float
    max_abs_shift: float
    flags_lost: int
    flags_gained: int
    by_group: dict[str, dict[str, float]]

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _neutral_value(feature: str, frame: pd.DataFrame, reference_mask: np.ndarray) -> Any:
    if feature in NEUTRAL_VALUES:
        return NEUTRAL_VALUES[feature]
    # Columns without a fixed neutral value (postcode region): the most common value in the reference group.
    return frame.loc[reference_mask, feature].mode().iloc[0]


def counterfactual_shifts(
    model: ScanModel,
    frame: pd.DataFrame,
    groups: pd.Series,
    reference_group: str,
    *,
    register: FeatureRegister | None = None,
) -> list[CounterfactualShift]:
    """One shift summary per high-proxy-risk column present in ``frame``."""
    register = register or default_register()
    baseline = model.predict_proba(frame, validate=False)
    baseline_flags = model.flags(baseline)
    reference_mask = (groups == reference_group).to_numpy()
    shifts = []
    table_columns = [c for c in register.columns.values() if c.name in frame.columns]
    for column in table_columns:
        if column.proxy_risk != "high" or column.role.value != "feature":
            continue
        neutral = _neutral_value(column.name, frame, reference_mask)
        changed = frame[column.name].astype(object) != neutral
        moved = frame.copy()
        if isinstance(moved[column.name].dtype, pd.CategoricalDtype):
            moved[column.name] = pd.Categorical(
                [neutral] * len(moved), categories=moved[column.name].cat.categories
            )
        else:
            moved[column.name] = pd.Series(neutral, index=moved.index).astype(moved[column.name].dtype)
        scores = model.predict_proba(moved, validate=False)
        delta = scores - baseline
        flags = model.flags(scores)
        by_group = {}
        for group, index in groups.groupby(groups, observed=True).groups.items():
            positions = groups.index.get_indexer(index)
            by_group[str(group)] = {
                "n": float(len(positions)),
                "mean_shift": float(delta[positions].mean()),
                "flag_rate_before": float(baseline_flags[positions].mean()),
                "flag_rate_after": float(flags[positions].mean()),
            }
        shifts.append(
            CounterfactualShift(
                feature=column.name,
                label=column.label,
                neutral_value=column.display_value(neutral),
                model_input=column.name in model.features.names,
                changed_cases=int(changed.sum()),
                mean_shift=float(delta.mean()),
                mean_abs_shift=float(np.abs(delta).mean()),
                max_abs_shift=float(np.abs(delta).max()) if len(delta) else 0.0,
                flags_lost=int((baseline_flags & ~flags).sum()),
                flags_gained=int((~baseline_flags & flags).sum()),
                by_group=by_group,
            )
        )
    return shifts
