"""riskscan.stats and riskscan.fmt: the one rule for undefined draws, the library intervals, the formats."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from scipy.stats import binomtest
from scipy.stats.contingency import relative_risk

from riskscan import fmt, stats
from riskscan.stats import Estimate, bootstrap, bootstrap_draws, katz_ratio, percentile_interval, wilson


@pytest.mark.parametrize("module", [stats, fmt])
def test_the_docstring_examples_run(module: object) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0


def test_undefined_draws_are_dropped_up_to_a_tails_share_and_no_further() -> None:
    defined = np.random.default_rng(0).normal(size=195)
    tolerated = np.r_[defined, [np.nan, np.inf, -np.inf, np.nan, np.inf]]  # 5 of 200: 2.5%, one tail at 95%
    estimate = percentile_interval(0.1, tolerated, 0.95)
    assert (estimate.low, estimate.high) == tuple(np.quantile(defined, stats.tail_quantiles(0.95)))
    assert percentile_interval(0.1, np.r_[tolerated, np.nan], 0.95).interval is None  # 6 of 201
    # The tolerance is a tail's share of the level asked: at 80% a tenth of the draws may be undefined.
    assert percentile_interval(0.1, np.r_[defined[:180], [np.nan] * 20], 0.8).interval is not None
    assert percentile_interval(np.nan, defined, 0.95).interval is None  # no interval for an undefined value


def test_the_bootstrap_resamples_rows_with_one_seeded_stream() -> None:
    values = np.random.default_rng(1).exponential(size=300)
    result = bootstrap(lambda rows: {"mean": values[rows].mean()}, len(values), n_boot=400, level=0.9, seed=7)
    rng = np.random.default_rng(7)
    by_hand = [values[rng.integers(0, 300, 300)].mean() for _ in range(400)]
    assert result["mean"].estimate == values.mean()
    assert (result["mean"].low, result["mean"].high) == tuple(np.quantile(by_hand, stats.tail_quantiles(0.9)))
    paired = bootstrap_draws(lambda rows: {"a": rows.sum(), "b": rows.sum()}, 10, n_boot=5, seed=0)
    assert np.array_equal(paired["a"], paired["b"])


def test_wilson_and_katz_are_scipys_and_undefined_without_cases_or_events() -> None:
    selected, control = wilson(12, 40, 0.9), wilson(3, 30, 0.9)
    interval = binomtest(12, 40).proportion_ci(confidence_level=0.9, method="wilson")
    assert (selected.k, selected.n, selected.estimate) == (12, 40, 0.3)
    assert (selected.low, selected.high) == (interval.low, interval.high)
    assert selected.as_dict() == {
        "k": 12,
        "n": 40,
        "estimate": 0.3,
        "low": interval.low,
        "high": interval.high,
    }
    ratio = katz_ratio(selected, control, 0.9)
    expected = relative_risk(12, 40, 3, 30).confidence_interval(confidence_level=0.9)
    assert (ratio.low, ratio.high) == (expected.low, expected.high)
    assert ratio.lies_above(1) and not ratio.lies_below(1) and ratio.lies_within(1.1, 8.1)
    assert not wilson(0, 0, 0.9).defined and wilson(0, 0, 0.9).interval is None
    assert np.isnan(katz_ratio(wilson(0, 30, 0.9), control, 0.9).estimate)


def test_numbers_read_the_same_everywhere_in_both_languages() -> None:
    assert fmt.number(1234.5678, 2, lang="nl") == "1234,57"
    assert [fmt.number(v) for v in (None, float("nan"), float("inf"), "0.5")] == ["—"] * 4
    assert fmt.percent(0.0571, lang="nl", missing=fmt.UNDEFINED["nl"]) == "5,7%"
    assert fmt.interval(Estimate.undefined(0.95, 0.25), 2) == "0.25 [—, —]"
    assert fmt.interval({"estimate": 0.1, "low": 0.05, "high": 0.2}, as_percent=True) == "10.0% [5.0%, 20.0%]"
    assert fmt.interval({}) == "—" and fmt.interval(None, missing="n/a") == "n/a"
    assert fmt.span(0.8, 1.25, 2, lang="nl") == "0,80–1,25"
