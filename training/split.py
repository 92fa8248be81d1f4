"""The data side of training: which rows train, validate and test, how much each counts, how many to flag.

1. Split by time: the oldest months train, then validation, then the most recent months test. Never a
   random split across time: the model is used on future cases, so it is judged on later ones.
2. Learn only from investigated cases (others have no label), outside the excluded windows (COVID:
   censored, not innocent). Optionally weight each by the inverse of its recorded selection probability, so
   the investigated cases stand for the whole caseload.
3. Flag the share of cases that matches the spec's investigation capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.specs import ScanSpec
from riskscan.errors import InvalidInput

MAX_IPW_WEIGHT = 50.0  # clip: one case should not stand for more than 50 uninvestigated ones


@dataclass
class TemporalSplit:
    """Rows of each period. ``*_labelled`` keep only investigated, labelled, non-excluded cases."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    boundaries: dict[str, str]
    label: str

    @staticmethod
    def _labelled(frame: pd.DataFrame, label: str) -> pd.DataFrame:
        return frame.loc[frame["onderzocht"] & frame[label].notna() & ~frame["_excluded"]]

    @property
    def train_labelled(self) -> pd.DataFrame:
        return self._labelled(self.train, self.label)

    @property
    def validation_labelled(self) -> pd.DataFrame:
        return self._labelled(self.validation, self.label)

    @property
    def test_labelled(self) -> pd.DataFrame:
        return self._labelled(self.test, self.label)

    @property
    def control(self) -> pd.DataFrame:
        """The labelled test cases of the random control sample: the only unbiased basis for precision."""
        test = self.test_labelled
        return test.loc[test["controlesteekproef"]]


def temporal_split(frame: pd.DataFrame, spec: ScanSpec, time_column: str) -> TemporalSplit:
    """Split by calendar month: train < validation < test, with no month in two parts."""
    months = frame[time_column].dt.to_period("M")
    last = months.max()
    test_start = last - (spec.split.test_months - 1)
    validation_start = test_start - spec.split.validation_months
    if months.min() >= validation_start:
        raise InvalidInput(
            f"data covers {months.min()} to {last}: too short for {spec.split.validation_months} validation "
            f"and {spec.split.test_months} test months plus training months"
        )
    marked = frame.assign(_excluded=spec.excluded_mask(frame[time_column]))
    return TemporalSplit(
        train=marked.loc[months < validation_start],
        validation=marked.loc[(months >= validation_start) & (months < test_start)],
        test=marked.loc[months >= test_start],
        boundaries={
            "train_end": str(validation_start - 1),
            "validation_start": str(validation_start),
            "validation_end": str(test_start - 1),
            "test_start": str(test_start),
            "test_end": str(last),
        },
        label=spec.label.column,
    )


def selection_weights(frame: pd.DataFrame, enabled: bool) -> np.ndarray:
    """Inverse-probability weights from the recorded selection probability, mean 1."""
    if not enabled:
        return np.ones(len(frame))
    weights = np.minimum(1.0 / frame["selectiekans"].to_numpy(dtype=float), MAX_IPW_WEIGHT)
    return weights / weights.mean()


def flag_fraction(
    population: pd.DataFrame, time_column: str, capacity_per_week: int, sample_fraction: float | np.ndarray
) -> float:
    """Share of cases to flag so that signals per week match national capacity.

    The data may be a sample of the national caseload (synthetic data, a pilot region), so each row counts
    for 1 / its sample fraction national cases (one fraction, or one per row when the extract is complete
    from some month on) before the weekly volume is compared with capacity.
    """
    days = (population[time_column].max() - population[time_column].min()).days + 1
    national_rows = float(np.sum(1.0 / np.broadcast_to(sample_fraction, (len(population),))))
    weekly_national = national_rows / (days / 7.0)
    return float(min(1.0, capacity_per_week / weekly_national))
