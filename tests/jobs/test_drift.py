"""Reference profiles and drift measures: known values, the tests' behaviour under the null, round trips."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from features.profile import ReferenceProfile, build_profile, profile_column
from jobs.drift import EPSILON, DriftResult, categorical_drift, ks_against_grid, numeric_drift, psi
from jobs.monitor import _drift_findings
from models.specs import load_spec, parse_spec
from riskscan.errors import ConfigError, InvalidInput


def test_psi_matches_its_formula_and_is_zero_for_equal_shares() -> None:
    reference = np.array([50, 30, 20])
    recent = np.array([30, 30, 40])
    e, r = reference / 100, recent / 100
    assert psi(reference, recent) == pytest.approx(np.sum((r - e) * np.log(r / e)))
    assert psi(reference, reference * 7) == pytest.approx(0.0)
    assert psi(reference, recent) == pytest.approx(psi(recent, reference))  # symmetric


def test_psi_floors_empty_bins_instead_of_dividing_by_zero() -> None:
    value = psi(np.array([100, 0]), np.array([50, 50]))
    assert np.isfinite(value)
    assert value == pytest.approx((0.5 - 1) * np.log(0.5) + (0.5 - EPSILON) * np.log(0.5 / EPSILON))


def test_psi_refuses_bins_that_differ() -> None:
    with pytest.raises(ValueError, match="bins differ"):
        psi(np.array([1, 2]), np.array([1, 2, 3]))


def test_ks_against_the_grid_agrees_with_scipy_for_continuous_data() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(size=200_000)
    grid = np.quantile(reference, np.linspace(0, 1, 1001))
    recent = rng.normal(0.1, 1, size=2_000)
    statistic, p_value = ks_against_grid(recent, grid)
    exact = stats.ks_1samp(recent, stats.norm.cdf)  # against the true distribution function
    assert statistic == pytest.approx(exact.statistic, abs=0.005)  # grid resolution plus reference noise
    assert p_value < 0.05 and exact.pvalue < 0.05


def test_ks_against_the_grid_does_not_flag_ties_of_an_unchanged_discrete_column() -> None:
    """``scipy.stats.ks_1samp`` with a step CDF reports each atom as a difference; this must not."""
    rng = np.random.default_rng(1)
    reference = rng.poisson(1.2, size=100_000).astype(float)
    grid = np.quantile(reference, np.linspace(0, 1, 1001))
    same = rng.poisson(1.2, size=4_000).astype(float)
    shifted = rng.poisson(1.6, size=4_000).astype(float)
    assert ks_against_grid(same, grid)[1] > 0.01
    assert ks_against_grid(shifted, grid)[1] < 1e-6


def test_ks_p_values_are_not_too_small_under_the_null() -> None:
    """Under no drift, p < 0.05 should happen at most about 5% of the time (conservative allowed)."""
    rng = np.random.default_rng(2)
    grid = np.quantile(rng.gamma(2.0, size=200_000), np.linspace(0, 1, 1001))
    p_values = [ks_against_grid(rng.gamma(2.0, size=500), grid)[1] for _ in range(200)]
    assert np.mean(np.asarray(p_values) < 0.05) <= 0.09


def test_numeric_and_categorical_drift_see_a_shift_and_no_shift() -> None:
    rng = np.random.default_rng(3)
    wages = pd.Series(rng.lognormal(4.5, 0.3, size=50_000))
    profile = profile_column("dagloon", wages, "numeric")
    unchanged = numeric_drift(profile, pd.Series(rng.lognormal(4.5, 0.3, size=3_000)))
    raised = numeric_drift(profile, pd.Series(rng.lognormal(4.5, 0.3, size=3_000) * 1.4))
    assert unchanged.psi < 0.02 and unchanged.p_value > 0.001
    assert raised.psi > 0.25 and raised.p_value < 1e-10

    reasons = pd.Series(rng.choice(["a", "b", "c"], p=[0.5, 0.3, 0.2], size=50_000))
    categories = profile_column("reden", reasons, "categorical")
    same = categorical_drift(
        categories, pd.Series(rng.choice(["a", "b", "c"], p=[0.5, 0.3, 0.2], size=3_000))
    )
    moved = categorical_drift(
        categories, pd.Series(rng.choice(["a", "b", "c"], p=[0.2, 0.3, 0.5], size=3_000))
    )
    assert same.psi < 0.02 and same.p_value > 0.001
    assert moved.psi > 0.25 and moved.p_value < 1e-10


def test_a_category_never_seen_in_the_reference_counts_as_drift() -> None:
    profile = profile_column("kanaal", pd.Series(["web"] * 900 + ["papier"] * 100), "categorical")
    result = categorical_drift(profile, pd.Series(["web"] * 800 + ["app"] * 200))
    assert {b["bin"] for b in result.bins} >= {"app", "web"}
    assert result.psi > 1 and result.p_value < 1e-10


def test_missing_values_have_a_bin_of_their_own() -> None:
    profile = profile_column("uren", pd.Series([10.0, 20.0, 30.0, 40.0] * 250), "numeric")
    assert profile.missing == 0
    result = numeric_drift(profile, pd.Series([10.0, None, 30.0, None] * 100))
    missing = next(b for b in result.bins if b["bin"] == "(missing)")
    assert missing["reference"] == 0 and missing["recent"] == pytest.approx(0.5)


def test_numeric_drift_refuses_values_that_are_not_numbers() -> None:
    profile = profile_column("uren", pd.Series([1.0, 2.0, 3.0] * 100), "numeric")
    with pytest.raises(InvalidInput, match="'uren': 1 recent values are not numbers"):
        numeric_drift(profile, pd.Series([1.0, "veel", 3.0], dtype=object))


def test_a_profile_round_trips_through_json_and_holds_no_records() -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "dagloon": rng.uniform(50, 250, size=5_000),
            "contractsoort": pd.Categorical(rng.choice(["vast", "uitzend"], size=5_000)),
            "vaststellingsovereenkomst": rng.random(5_000) < 0.3,
        }
    )
    scores = rng.random(5_000)
    profile = build_profile(
        frame,
        {"dagloon": "numeric", "contractsoort": "categorical", "vaststellingsovereenkomst": "categorical"},
        scores,
        threshold=0.9,
        population="test",
    )
    text = json.dumps(profile.as_dict())
    again = ReferenceProfile.from_dict(json.loads(text))
    assert again == profile
    assert again.flagged_share == pytest.approx(np.mean(scores >= 0.9))
    assert len(again.columns["dagloon"].quantiles) == 1001 and sum(again.columns["dagloon"].counts) == 5_000
    # Aggregates only: no individual wage appears beyond the quantile grid.
    assert len(text) < 60_000


def test_build_profile_refuses_mismatched_or_empty_input() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(InvalidInput, match="3 scores for 2 rows"):
        build_profile(frame, {"x": "numeric"}, np.zeros(3), threshold=0.5, population="p")
    with pytest.raises(InvalidInput, match="not in the frame: y"):
        build_profile(frame, {"y": "numeric"}, np.zeros(2), threshold=0.5, population="p")
    with pytest.raises(InvalidInput, match="format"):
        ReferenceProfile.from_dict({"format": 99})


def _drifted(column: str, psi_value: float, p_value: float) -> DriftResult:
    return DriftResult(column, "numeric", 1000, 1000, psi_value, "ks", 0.3, p_value, [])


def test_drift_findings_need_both_size_and_significance_and_respect_report_only_inputs() -> None:
    spec = load_spec("sollicitatie")
    results = [
        _drifted("activiteiten_gemeld", 0.40, 1e-20),  # big and significant: a finding
        _drifted("werkmap_logins", 0.40, 0.2),  # big but could be chance
        _drifted("weken_ww", 0.05, 1e-20),  # significant but small
        _drifted("arbeidsmarkt_krapte", 5.0, 1e-300),  # report-only by the spec
    ]
    findings, alpha = _drift_findings(spec, results, None)
    assert [f.subject for f in findings] == ["drift of 'activiteiten_gemeld'"]
    assert alpha == pytest.approx(spec.monitoring.test_alpha / 4)
    score = _drifted("score", 0.5, 1e-10)
    assert _drift_findings(spec, [], score)[0][0].subject == "drift of the score"


def test_a_spec_cannot_exempt_an_input_it_does_not_use() -> None:
    content = load_spec("sollicitatie").model_dump(mode="json", exclude={"content_hash"})
    content["monitoring"]["drift_report_only"] = [{"name": "dagloon", "reason": "not an input of this scan"}]
    with pytest.raises(ConfigError, match="drift_report_only names inputs the scan does not use: dagloon"):
        parse_spec(content)
