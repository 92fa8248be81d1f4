"""The committee's obligations followed up: the confidence sequence keeps its level under repeated looks,
and each obligation's state (pass, fail, open, overdue, not followed) is found and recorded."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.register import default_register
from jobs.obligations import LiveCases, confidence_sequence, follow_up, ratio_interval
from models.governance import GovernanceStore, Obligation
from models.specs import load_spec
from serving.history import flagged
from tests.models.test_governance import decide, member

ID_FPR = "random control sample: false_positive_rate ratio, nationaliteit = turks"
ID_SEL = "random control sample: selection_rate ratio, geslacht = vrouw"
ID_PROXY = "model inputs: no proxy for nationaliteit"
ID_CROSS = "random control sample: false_positive_rate ratio, nationaliteit × geslacht = turks × man"
ID_POPULATION = "all scored cases (selection rate): selection_rate ratio, nationaliteit = turks"
AUDIT: dict[str, Any] = {
    "checks": [
        {"scope": "random control sample", "name": "false_positive_rate ratio, nationaliteit = turks"},
        {"scope": "random control sample", "name": "selection_rate ratio, geslacht = vrouw"},
        {"scope": "model inputs", "name": "no proxy for nationaliteit"},
        {
            "scope": "random control sample",
            "name": "false_positive_rate ratio, nationaliteit × geslacht = turks × man",
        },
        {"scope": "all scored cases (selection rate)", "name": "selection_rate ratio, nationaliteit = turks"},
    ]
}


def test_the_confidence_sequence_covers_at_every_look_at_least_at_its_level() -> None:
    """2,000 monitored streams, looked at after every 50 cases up to 3,000: the share of streams whose
    interval ever misses the true rate stays below alpha (a fixed 95% interval would miss far more often)."""
    rng = np.random.default_rng(11)
    alpha, rate, looks = 0.05, 0.3, range(50, 3001, 50)
    streams = rng.random((2000, 3000)) < rate
    counts = np.cumsum(streams, axis=1)
    ever_missed = np.zeros(len(streams), dtype=bool)
    fixed_missed = np.zeros(len(streams), dtype=bool)
    for n in looks:
        successes = counts[:, n - 1]
        bounds = np.array([confidence_sequence(int(s), n, alpha) for s in successes])
        ever_missed |= (bounds[:, 0] > rate) | (bounds[:, 1] < rate)
        half = 1.96 * np.sqrt(successes / n * (1 - successes / n) / n)
        fixed_missed |= np.abs(successes / n - rate) > half
    assert ever_missed.mean() < alpha
    assert fixed_missed.mean() > 2 * alpha, "the fixed-sample interval under repeated looks is the problem"


def test_the_ratio_interval_narrows_around_the_true_ratio() -> None:
    rng = np.random.default_rng(3)
    small = ratio_interval(rng.random(100) < 0.2, rng.random(100) < 0.2, 0.05)
    large = ratio_interval(rng.random(20_000) < 0.2, rng.random(20_000) < 0.2, 0.05)
    assert small[0] < large[0] < 1 < large[1] < small[1]
    assert large[0] > 0.8 and large[1] < 1.25


def control_cases(n: int, turks_fpr: float, seed: int = 1) -> pd.DataFrame:
    """Live control cases with outcomes: half Turkish, half Dutch, no violation; signalled at the rates."""
    rng = np.random.default_rng(seed)
    nationality = np.where(np.arange(n) % 2 == 0, "turks", "nederlands")
    rate = np.where(nationality == "turks", turks_fpr, 0.2)
    return pd.DataFrame(
        {
            "nationaliteit": nationality,
            "geslacht": "man",
            "violation": False,
            "flagged": rng.random(n) < rate,
        }
    )


def live(n: int, turks_fpr: float) -> LiveCases:
    """The control cases above, and every scored person: the control cases and as many again, flagged at
    the same rates (the population's selection rate then follows the control sample's)."""
    control = control_cases(n, turks_fpr)
    return LiveCases(scored=pd.concat([control, control_cases(n, turks_fpr, seed=2)]), control=control)


@pytest.mark.parametrize(
    ("n", "turks_fpr", "days_past_due", "state"),
    [
        (40_000, 0.2, 0, "pass"),
        (40_000, 0.4, 0, "fail"),
        (60, 0.2, -10, "open"),
        (60, 0.2, 1, "overdue"),
    ],
)
def test_each_obligation_is_followed_up_and_recorded(
    riskscan_home: Path, n: int, turks_fpr: float, days_past_due: int, state: str
) -> None:
    due = date(2026, 9, 1)
    with GovernanceStore() as store:
        decision = decide(
            store,
            signer=member(store),
            decision="approve-with-conditions",
            conditions=["c"],
            obligations=[
                Obligation(ID_FPR, "Her-audit FPR turks", 800, due),
                Obligation(ID_SEL, "Her-audit selectie vrouw", None, due),
                Obligation(ID_PROXY, "Her-audit proxy", None, due),
                Obligation(ID_CROSS, "Her-audit FPR turks × man", 800, due),
                Obligation(ID_POPULATION, "Her-audit selectie turks", None, due),
            ],
            valid_until=date(2026, 12, 1),
        )
        as_of = due + timedelta(days=days_past_due)
        results = follow_up(
            store, decision.id, AUDIT, live(n, turks_fpr), load_spec("vw"), default_register(), as_of
        )
        by_check = {r.obligation.check: r for r in results}
        assert by_check[ID_FPR].state == state
        assert by_check[ID_FPR].cases == n
        # No woman among the cases: nothing to compare, so undecided, whatever the other check found.
        assert by_check[ID_SEL].state == ("overdue" if days_past_due > 0 else "open")
        assert by_check[ID_PROXY].state == ("overdue" if days_past_due > 0 else "not_followed")
        # Every case is a man: the intersection is the nationality's, against nederlands × man.
        assert (by_check[ID_CROSS].state, by_check[ID_CROSS].cases) == (state, n)
        assert "t.o.v. nederlands × man" in by_check[ID_CROSS].detail
        # The selection rate of every scored person (twice the control cases here), no outcome needed.
        assert (by_check[ID_POPULATION].state, by_check[ID_POPULATION].cases) == (state, 2 * n)
        reviews = store.latest_reviews(decision.id)
        assert sorted(r.state for r in reviews.values()) == sorted(r.state for r in results)


def test_the_rates_are_of_the_models_flag_not_of_the_logs_signal() -> None:
    """A drawn control case is logged with ``signal`` true (it was selected); whether the model flagged it
    is its score against the threshold. A rate of ``signal`` among control cases would be 1 in every group."""
    logged = pd.DataFrame(
        {
            "score": [0.9, 0.1, 0.5, 0.49],
            "threshold": [0.5, 0.5, 0.5, 0.5],
            "signal": [True, True, True, False],
            "control": [True, True, False, False],
        }
    )
    assert flagged(logged).tolist() == [True, False, True, False]
