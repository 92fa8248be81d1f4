"""The power figures of an undecided ratio check, against simulated audits run through the real check."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from ethics_review._obligations import MAX_MONTHS, proposed_obligations
from ethics_review._power import ratio_check_power, sigma_for_power
from ethics_review.fairness import Policy, rates_from_cells
from ethics_review.fairness._intervals import multinomial_draws, ratio_estimate
from ethics_review.fairness._judge import judge
from features.register import default_register

POLICY = Policy(min_group_size=200)
SIMULATIONS = 400


def _simulated_verdicts(
    n: int, group_share: float, cell_shares: list[list[float]], metric: str, seed: int
) -> dict[str, float]:
    """Share of each verdict over simulated audits of ``n`` cases: the group's and the reference's cells are
    drawn from their cell shares (tp, fp, fn, tn) and judged exactly as ``audit_groups`` judges them."""
    rng = np.random.default_rng(seed)
    counts = {"pass": 0, "fail": 0, "insufficient_evidence": 0}
    for i in range(SIMULATIONS):
        in_group = rng.binomial(n, group_share)
        cells = np.array(
            [rng.multinomial(in_group, cell_shares[0]), rng.multinomial(n - in_group, cell_shares[1])],
            dtype=np.int64,
        )
        policy = Policy(min_group_size=200, random_state=i)
        draws = multinomial_draws(cells, policy, "simulated")
        point = rates_from_cells(cells[None, :, :])[metric][0]
        ratio = ratio_estimate(point, draws[metric], 0, 1, policy.ci_level)
        verdict, _ = judge(metric, cells[0], cells[1], ratio, policy)
        counts[verdict] += 1
    return {verdict: count / SIMULATIONS for verdict, count in counts.items()}


def test_the_standard_error_for_80_percent_power_solves_the_equivalence_power_formula() -> None:
    # Symmetric band on the log scale: sigma* = log(1.25) / (z_0.975 + z_0.9).
    assert sigma_for_power((0.8, 1.25), 0.95) == pytest.approx(
        math.log(1.25) / (1.959964 + 1.281552), rel=1e-4
    )


@pytest.mark.parametrize(
    ("metric", "cells"),
    [
        # Selection rate on every scored case: 15% selected, no labels needed (flags stand in for y).
        ("selection_rate", [0.0, 0.15, 0.0, 0.85]),
        # False-positive rate on the control sample: 4% violators, 15% of the innocents investigated.
        ("false_positive_rate", [0.02, 0.96 * 0.15, 0.02, 0.96 * 0.85]),
    ],
)
def test_cases_needed_gives_a_verdict_in_80_percent_of_simulated_audits(
    metric: str, cells: list[float]
) -> None:
    observed, share = 2_000, 0.12
    group = np.round(np.array(cells) * observed * share).astype(int)
    reference = np.round(np.array(cells) * observed * (1 - share)).astype(int)
    power = ratio_check_power(
        metric, group.tolist(), reference.tolist(), POLICY, scope_cases=observed, cases_per_month=500.0
    )
    assert power.cases_needed is not None and power.cases_needed > 0
    assert power.months_needed == pytest.approx(power.cases_needed / 500.0)
    assert power.power_now is not None and power.power_now < 0.5, (
        "2,000 cases are too few: the check is undecided"
    )
    verdicts = _simulated_verdicts(observed + power.cases_needed, share, [cells, cells], metric, seed=11)
    assert 0.72 <= verdicts["pass"] <= 0.88, verdicts
    assert verdicts["fail"] < 0.01, "a true ratio of 1 is never called a disparity"


def test_a_ratio_at_the_minimum_detectable_ratio_fails_most_simulated_audits() -> None:
    observed, share, rate = 20_000, 0.1, 0.15
    group = [0, round(observed * share * rate), 0, round(observed * share * (1 - rate))]
    reference = [0, round(observed * (1 - share) * rate), 0, round(observed * (1 - share) * (1 - rate))]
    power = ratio_check_power(
        "selection_rate", group, reference, POLICY, scope_cases=observed, cases_per_month=None
    )
    assert power.minimum_detectable_ratio is not None and power.minimum_detectable_ratio > 1.25
    assert power.months_needed is None, "no accrual given, no months"
    high = rate * power.minimum_detectable_ratio
    verdicts = _simulated_verdicts(
        observed, share, [[0, high, 0, 1 - high], [0, rate, 0, 1 - rate]], "selection_rate", seed=5
    )
    # sigma is taken at the common rate; the group's higher rate makes its variance smaller, so at least 80%.
    assert 0.75 <= verdicts["fail"] <= 0.95, verdicts


def test_no_events_means_no_power_figures() -> None:
    power = ratio_check_power(
        "false_positive_rate",
        [0, 0, 0, 300],
        [0, 0, 1, 5_000],
        POLICY,
        scope_cases=5_301,
        cases_per_month=10.0,
    )
    assert (power.cases_needed, power.minimum_detectable_ratio, power.months_needed) == (None, None, None)


def test_minimums_of_the_policy_raise_the_cases_needed() -> None:
    # A huge reference and a group of 50: the 80%-power scale may be small, the group must still reach 200.
    group, reference = [0, 25, 0, 25], [0, 50_000, 0, 50_000]
    power = ratio_check_power(
        "selection_rate", group, reference, POLICY, scope_cases=100_050, cases_per_month=None
    )
    assert power.cases_needed is not None
    assert power.cases_needed >= math.ceil(100_050 * (200 / 50 - 1)) - 1


def _check(
    check_id: str, verdict: str, power: dict[str, object] | None, gating: bool = True
) -> dict[str, object]:
    check: dict[str, object] = {
        "id": check_id,
        "name": check_id,
        "scope": "random control sample",
        "verdict": verdict,
        "gating": gating,
        "detail": "",
    }
    if power is not None:
        check["power"] = power
    return check


def test_one_obligation_per_undecided_gating_check_with_its_due_date_capped() -> None:
    checks = [
        _check(
            "control:false_positive_rate:nationaliteit=pools",
            "insufficient_evidence",
            {"cases_needed": 12_345, "months_needed": 3.2},
        ),
        _check("control:selection_rate:geslacht=vrouw", "pass", None),
        _check(
            "population:selection_rate:nationaliteit=turks_marokkaans",
            "insufficient_evidence",
            {"cases_needed": 900_000, "months_needed": 40.0},
        ),
        _check(
            "labelled:precision:nationaliteit=pools",
            "insufficient_evidence",
            {"cases_needed": 1, "months_needed": 0.1},
            gating=False,
        ),
        _check("proxy:set:migratieachtergrond", "insufficient_evidence", None),
    ]
    obligations = proposed_obligations(checks, date(2026, 1, 31), default_register())
    assert [o["check"] for o in obligations] == [
        "control:false_positive_rate:nationaliteit=pools",
        "population:selection_rate:nationaliteit=turks_marokkaans",
        "proxy:set:migratieachtergrond",
    ]
    assert all(set(o) == {"check", "text_nl", "cases_needed", "due"} for o in obligations)
    assert [o["due"] for o in obligations] == ["2026-05-31", "2027-01-31", "2027-01-31"]
    assert [o["cases_needed"] for o in obligations] == [12_345, 900_000, None]
    first = obligations[0]["text_nl"]
    assert (
        first.startswith("Her-audit ")
        and "12.345 controle-uitkomsten" in first
        and "uiterlijk op 2026-05-31" in first
    )
    assert MAX_MONTHS == 12
