"""An estimate with its interval, written one way: :class:`Estimate`, the percentile bootstrap, Wilson, Katz.

Every figure riskscan reports with an uncertainty (a group's false-positive rate in an audit, the precision
of a model on the random control sample, the difference between challenger and champion, a violation rate
in the monitor) is an :class:`Estimate`: a point value, the two bounds of its interval and the confidence
level of that interval. Three ways to get one:

* :func:`percentile_interval` (with :func:`bootstrap_draws` to resample rows, or any other resampling a
  caller proves equivalent, such as the audit's multinomial draws of confusion cells): the percentile
  bootstrap, with **one rule for draws in which the statistic is undefined** (see there);
* :func:`wilson`: a proportion ``k / n`` with the Wilson score interval (a :class:`Proportion`, an
  estimate that keeps its counts);
* :func:`katz_ratio`: the ratio of two proportions with the Katz log interval.

Wilson and Katz come from scipy (``binomtest(...).proportion_ci(method="wilson")`` and
``scipy.stats.contingency.relative_risk``); this module only fixes what riskscan reports when they are
undefined.

Platform module: it imports numpy and scipy, and no riskscan stage.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import binomtest
from scipy.stats.contingency import relative_risk

_NAN: Final = float("nan")
_Key = TypeVar("_Key", bound=Hashable)


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its interval ``[low, high]`` at confidence ``level`` (0.95 for a 95% interval).

    ``estimate`` is NaN when the statistic is undefined (a rate whose denominator is empty: "0% of
    innocents investigated" is a claim a group without innocents cannot support). ``low`` and ``high`` are
    NaN when the interval is undefined (:attr:`interval` is then None).

    Examples
    --------
    >>> e = Estimate(0.152, 0.048, 0.284, 0.95)
    >>> e.interval
    (0.048, 0.284)
    >>> e.lies_above(0.0), e.lies_within(0.0, 0.25)
    (True, False)
    >>> Estimate.undefined(0.95).as_dict()
    {'estimate': nan, 'low': nan, 'high': nan}
    """

    estimate: float
    low: float
    high: float
    level: float

    @classmethod
    def undefined(cls, level: float, estimate: float = _NAN) -> Estimate:
        """An estimate without an interval (and, by default, without a value)."""
        return cls(float(estimate), _NAN, _NAN, level)

    @property
    def defined(self) -> bool:
        """The point estimate is a finite number."""
        return math.isfinite(self.estimate)

    @property
    def interval(self) -> tuple[float, float] | None:
        """``(low, high)``, or None when the interval is undefined."""
        if math.isfinite(self.low) and math.isfinite(self.high):
            return self.low, self.high
        return None

    def lies_above(self, bound: float) -> bool:
        """The whole interval lies above ``bound`` (False when the interval is undefined)."""
        return self.interval is not None and self.low > bound

    def lies_below(self, bound: float) -> bool:
        """The whole interval lies below ``bound`` (False when the interval is undefined)."""
        return self.interval is not None and self.high < bound

    def lies_within(self, low: float, high: float) -> bool:
        """The whole interval lies inside ``[low, high]`` (False when the interval is undefined)."""
        return self.interval is not None and low <= self.low and self.high <= high

    def as_dict(self) -> dict[str, float]:
        """``estimate``, ``low`` and ``high``; the level is stated once by the document that holds them."""
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


def tail_quantiles(level: float) -> tuple[float, float]:
    """The quantile pair ``(a, 1 - a)`` with ``a = (1 - level) / 2`` of a two-sided interval.

    >>> tail_quantiles(0.9)
    (0.04999999999999999, 0.95)
    """
    tail = (1 - level) / 2
    return tail, 1 - tail


def percentile_interval(estimate: float, draws: ArrayLike, level: float) -> Estimate:
    r"""The percentile bootstrap interval of a statistic from its ``draws`` over resamples.

    With ``a = (1 - level) / 2``, the interval is the pair of ``a`` and ``1 - a`` quantiles of the draws
    (``numpy.quantile``, linear interpolation):

    .. math::  [\, \hat F^{-1}(a),\; \hat F^{-1}(1 - a) \,]

    **The rule for undefined draws**, the same for every interval riskscan bootstraps. A draw is
    *undefined* when the statistic is not a finite number in that resample: a rate whose denominator is
    empty (no innocent drawn, nothing flagged), a ratio to a rate that is zero, a ROC-AUC of a resample
    with one class. Undefined draws are dropped and the quantiles are taken over the rest, unless more than
    a tail's share ``a`` of the draws is undefined (2.5% for a 95% interval): then the interval is undefined
    (``low`` and ``high`` NaN). An undefined ``estimate`` has no interval either.

    Why a tail's share. The typical undefined draw is an unbounded one: a ratio to a reference rate that is
    zero in the resample is infinite. Kept as infinities, such draws leave the percentile bound on their
    side finite as long as they fit beyond it, that is while they are at most a share ``a`` of the draws
    (up to the interpolation between two draws); past that the bound is infinite and no interval can be
    stated. Every other undefined draw gets the same tolerance. Dropping the tolerated draws instead of
    keeping them at one end moves each bound by at most ``u / (1 - u)`` in quantile level (``u`` the
    undefined share), so a 95% interval still holds at least ``0.95 (1 - u) > 92.6%`` of all draws. A
    looser rule (Fairlearn's bootstrap drops any number of undefined draws) lets a rate whose denominator
    is usually empty look precise; a stricter one (no undefined draw at all) refuses an interval for one
    unlucky resample in a thousand.

    Examples
    --------
    >>> draws = np.r_[np.linspace(0.0, 1.0, 198), np.nan, np.inf]  # 2 undefined draws in 200 (1%)
    >>> e = percentile_interval(0.5, draws, 0.95)
    >>> round(e.low, 3), round(e.high, 3)
    (0.025, 0.975)
    >>> percentile_interval(0.5, np.r_[np.linspace(0.0, 1.0, 190), [np.inf] * 10], 0.95).interval is None
    True
    """
    values = np.asarray(draws, dtype=np.float64).ravel()
    defined = np.isfinite(values)
    low_tail, high_tail = tail_quantiles(level)
    # The margin keeps binary rounding of (1 - level) / 2 from refusing exactly a tail's share.
    if not values.size or not math.isfinite(estimate) or (~defined).mean() > low_tail + 1e-12:
        return Estimate.undefined(level, estimate)
    low, high = np.quantile(values[defined], (low_tail, high_tail))
    return Estimate(float(estimate), float(low), float(high), level)


def bootstrap_draws(
    statistic: Callable[[NDArray[np.intp]], Mapping[_Key, float]], n_rows: int, *, n_boot: int, seed: int
) -> dict[_Key, NDArray[np.float64]]:
    """Draws of each named value of ``statistic`` over ``n_boot`` resamples of ``n_rows`` rows.

    Each resample draws ``n_rows`` row positions with replacement (``Generator.integers``, seeded) and calls
    ``statistic(positions)``; a statistic that takes several models' values from the same positions gives
    *paired* draws. Returns ``{name: array of n_boot draws}`` (NaN where undefined), for
    :func:`percentile_interval`.
    """
    rng = np.random.default_rng(seed)
    draws: dict[_Key, NDArray[np.float64]] = {}
    for i in range(n_boot):
        values = statistic(rng.integers(0, n_rows, n_rows))
        for name, value in values.items():
            draws.setdefault(name, np.full(n_boot, np.nan))[i] = value
    return draws


def bootstrap(
    statistic: Callable[[NDArray[np.intp]], Mapping[_Key, float]],
    n_rows: int,
    *,
    n_boot: int,
    level: float,
    seed: int,
) -> dict[_Key, Estimate]:
    """Each named value of ``statistic`` on all rows, with its percentile interval over resampled rows.

    >>> y = np.r_[np.zeros(80), np.ones(20)]
    >>> result = bootstrap(lambda rows: {"mean": y[rows].mean()}, len(y), n_boot=500, level=0.95, seed=0)
    >>> result["mean"].estimate, result["mean"].lies_within(0.1, 0.3)
    (0.2, True)
    """
    point = statistic(np.arange(n_rows))
    draws = bootstrap_draws(statistic, n_rows, n_boot=n_boot, seed=seed)
    return {name: percentile_interval(value, draws.get(name, ()), level) for name, value in point.items()}


@dataclass(frozen=True)
class Proportion(Estimate):
    """An :class:`Estimate` of a share ``k / n`` that keeps its counts (get one from :func:`wilson`)."""

    k: int = 0
    n: int = 0

    def as_dict(self) -> dict[str, float]:
        return {"k": self.k, "n": self.n, **super().as_dict()}


def wilson(k: int, n: int, level: float) -> Proportion:
    r"""The proportion ``k / n`` with its Wilson score interval; undefined (NaN) when ``n`` is 0.

    With ``p = k / n`` and ``z`` the ``(1 + level) / 2`` normal quantile:

    .. math::

        \frac{p + z^2 / 2n}{1 + z^2 / n} \pm \frac{z}{1 + z^2 / n}\sqrt{\frac{p(1 - p)}{n} + \frac{z^2}{4n^2}}

    Unlike the normal (Wald) interval it stays inside [0, 1] and keeps its coverage near 0 and 1 and for
    small ``n`` (Brown, Cai and DasGupta 2001). Computed by ``scipy.stats.binomtest``.

    >>> e = wilson(12, 40, 0.95)
    >>> e.k, e.n, round(e.estimate, 2), round(e.low, 4), round(e.high, 4)
    (12, 40, 0.3, 0.1807, 0.4543)
    """
    if n == 0:
        return Proportion(_NAN, _NAN, _NAN, level, k=0, n=0)
    interval = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return Proportion(k / n, float(interval.low), float(interval.high), level, k=int(k), n=int(n))


def katz_ratio(numerator: Proportion, denominator: Proportion, level: float) -> Estimate:
    r"""The ratio of two proportions ``(k1 / n1) / (k2 / n2)`` with the Katz log interval.

    .. math::

        \widehat{RR} = \frac{k_1 / n_1}{k_2 / n_2}, \qquad
        \exp\Big(\ln \widehat{RR} \pm z \sqrt{1/k_1 - 1/n_1 + 1/k_2 - 1/n_2}\Big)

    Undefined (all NaN) when either proportion has no cases or no events: the log of zero is undefined,
    and a ratio to zero says nothing. Computed by ``scipy.stats.contingency.relative_risk``.

    >>> e = katz_ratio(wilson(12, 40, 0.95), wilson(3, 30, 0.95), 0.95)
    >>> round(e.estimate, 2), round(e.low, 3), round(e.high, 2)
    (3.0, 0.928, 9.7)
    """
    if min(numerator.k, numerator.n, denominator.k, denominator.n) == 0:
        return Estimate.undefined(level)
    result = relative_risk(numerator.k, numerator.n, denominator.k, denominator.n)
    interval = result.confidence_interval(confidence_level=level)
    return Estimate(float(result.relative_risk), float(interval.low), float(interval.high), level)


def estimates_as_dict(estimates: Mapping[str, Estimate]) -> dict[str, dict[str, Any]]:
    """``{name: estimate.as_dict()}``, the JSON form of a set of named estimates."""
    return {name: estimate.as_dict() for name, estimate in estimates.items()}
