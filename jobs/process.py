"""Process health of a scan from its decision log: are signals assessed, are clients heard, does it work?

All figures are over the cases logged in the monitoring window (one row per logged case, with its latest
outcome; see :func:`serving.history.logged_cases`). "Selected" means selected for investigation: a model
signal or a random-control draw. "Mature" means scored at least ``maturity_days`` before the as-of date,
so an outcome can be expected by now.

* **Never assessed**: the share of mature selected cases without any outcome. Unassessed random-control
  cases also erode the control sample, the only unbiased measure of the scan.
* **Hoor-en-wederhoor compliance**: the share of recorded outcomes reached after hearing the client.
  Outcomes without it are not used as labels by retraining either.
* **Effectiveness**: the violation rate among assessed *model-selected* cases (signal, not drawn at
  random) against the rate among assessed *random-control* cases, and their ratio. A ratio whose interval
  lies above 1 shows that the scan selects better than chance; one whose interval lies below 1 shows that
  it selects worse (the DUO scan's failure). Proportions get Wilson intervals and the ratio the Katz log
  interval (:func:`riskscan.stats.wilson`, :func:`riskscan.stats.katz_ratio`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from riskscan.stats import Estimate, Proportion, katz_ratio, wilson
from training.retrain import maturity_cutoff


@dataclass(frozen=True)
class ProcessHealth:
    scored: int
    selected: int
    model_selected: int
    control: int
    mature_selected: int
    immature_selected: int
    never_assessed: Proportion
    hoor_en_wederhoor: Proportion
    model_selected_violation_rate: Proportion
    control_violation_rate: Proportion
    effectiveness_ratio: Estimate
    maturity_days: int
    level: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "scored": self.scored,
            "selected": self.selected,
            "model_selected": self.model_selected,
            "control": self.control,
            "mature_selected": self.mature_selected,
            "immature_selected": self.immature_selected,
            "never_assessed": self.never_assessed.as_dict(),
            "hoor_en_wederhoor": self.hoor_en_wederhoor.as_dict(),
            "model_selected_violation_rate": self.model_selected_violation_rate.as_dict(),
            "control_violation_rate": self.control_violation_rate.as_dict(),
            "effectiveness_ratio": self.effectiveness_ratio.as_dict(),
            "maturity_days": self.maturity_days,
            "level": self.level,
        }


def process_health(logged: pd.DataFrame, *, as_of: date, maturity_days: int, level: float) -> ProcessHealth:
    """The figures of the module docstring for the logged cases of one scan."""
    signal = logged["signal"].to_numpy(dtype=bool)
    control = logged["control"].to_numpy(dtype=bool)
    selected = signal | control
    model_selected = signal & ~control
    mature = (logged["created_at"] < maturity_cutoff(as_of, maturity_days)).to_numpy(dtype=bool)
    recorded = logged["outcome_recorded"].to_numpy(dtype=bool)
    heard = logged["hoor_en_wederhoor"].fillna(False).to_numpy(dtype=bool)
    violation = logged["violation"].fillna(False).to_numpy(dtype=bool)
    mature_selected = selected & mature
    # Only heard outcomes count as findings; an unheard "no violation" is not evidence either way.
    assessed = recorded & heard
    selected_found = wilson(
        int((assessed & model_selected & violation).sum()), int((assessed & model_selected).sum()), level
    )
    control_found = wilson(
        int((assessed & control & violation).sum()), int((assessed & control).sum()), level
    )
    return ProcessHealth(
        scored=len(logged),
        selected=int(selected.sum()),
        model_selected=int(model_selected.sum()),
        control=int(control.sum()),
        mature_selected=int(mature_selected.sum()),
        immature_selected=int((selected & ~mature).sum()),
        never_assessed=wilson(int((mature_selected & ~recorded).sum()), int(mature_selected.sum()), level),
        hoor_en_wederhoor=wilson(int((recorded & heard).sum()), int(recorded.sum()), level),
        model_selected_violation_rate=selected_found,
        control_violation_rate=control_found,
        effectiveness_ratio=katz_ratio(selected_found, control_found, level),
        maturity_days=maturity_days,
        level=level,
    )
