"""Drift of recent values against a reference profile (:mod:`features.profile`).

Population Stability Index, over the profile's bins (deciles of the reference for numbers, categories
for categories, plus a bin for missing values)::

    PSI = sum_i (r_i - e_i) * ln(r_i / e_i)

with ``e_i`` the reference share and ``r_i`` the recent share of bin ``i``, each floored at ``EPSILON`` so
that an empty bin gives a large but finite term. PSI is symmetric in the two distributions and does not
grow with the number of cases: it measures *how much* moved. Common reading: below 0.1 stable, 0.1 to 0.25
a shift worth watching, above 0.25 a major shift.

A test says whether the move could be chance:

* numbers: one-sample Kolmogorov-Smirnov of the recent values against the reference distribution function,
  read from the profile's 1,001 quantiles (resolution 0.001; the reference has tens of thousands of cases,
  so it is treated as known), with the p-value from ``scipy.stats.kstwo`` (see :func:`ks_against_grid`
  for why the statistic is computed here and not by ``scipy.stats.ks_1samp``). For columns with ties
  (counts of earlier benefits) the test is conservative: its p-value is too large, never too small.
* categories: chi-square goodness of fit (``scipy.stats.chisquare``) of the recent counts against the
  reference shares. Categories never seen in the reference get the floor share, so they count heavily.

With thousands of recent cases, a test flags shifts far too small to matter; with a hundred, PSI is
noisy. The monitor therefore asks for both (see the scan spec's ``monitoring`` thresholds).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from features.profile import ColumnProfile
from riskscan.errors import InvalidInput

EPSILON = 1e-4
MISSING = "(missing)"


@dataclass(frozen=True)
class DriftResult:
    column: str
    kind: str
    n_reference: int
    n_recent: int
    psi: float
    test: str  # "ks" or "chi-square"
    statistic: float
    p_value: float
    bins: list[dict[str, Any]]  # label, reference share, recent share

    def as_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "n_reference": self.n_reference,
            "n_recent": self.n_recent,
            "psi": self.psi,
            "test": self.test,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "bins": self.bins,
        }


def p_value_text(p_value: float) -> str:
    """ "= 2.6e-197" or "< 1e-300": p-values span hundreds of orders of magnitude, and one that underflowed
    to 0.0 is tiny, not zero."""
    return "< 1e-300" if p_value < 1e-300 else f"= {p_value:.2g}"


def psi(reference_counts: np.ndarray, recent_counts: np.ndarray) -> float:
    """Population Stability Index of two count vectors over the same bins (see the module docstring)."""
    reference = np.asarray(reference_counts, dtype=np.float64)
    recent = np.asarray(recent_counts, dtype=np.float64)
    if reference.shape != recent.shape:
        raise ValueError(f"bins differ: {reference.shape} reference, {recent.shape} recent")
    if reference.sum() <= 0 or recent.sum() <= 0:
        return float("nan")
    e = np.maximum(reference / reference.sum(), EPSILON)
    r = np.maximum(recent / recent.sum(), EPSILON)
    return float(np.sum((r - e) * np.log(r / e)))


def ks_against_grid(values: np.ndarray, quantiles: np.ndarray) -> tuple[float, float]:
    """Kolmogorov-Smirnov statistic ``D = max_x |F_n(x) - F(x)|`` of ``values`` against the reference
    distribution function ``F`` given by its quantile grid, and the p-value ``scipy.stats.kstwo.sf(D, n)``.

    Both functions are right-continuous step functions and are compared at every point where either
    jumps, so ties (counts, whole months) are handled exactly; ``scipy.stats.ks_1samp`` assumes a
    continuous ``F`` and would report every atom of a discrete column as a difference. For a discrete
    ``F`` the null distribution of ``D`` is smaller than ``kstwo``, so the p-value is conservative.
    """
    grid = np.sort(np.asarray(quantiles, dtype=np.float64))
    sample = np.sort(np.asarray(values, dtype=np.float64))
    points = np.unique(np.concatenate([sample, grid]))
    reference = np.searchsorted(grid, points, side="right") / len(grid)
    empirical = np.searchsorted(sample, points, side="right") / len(sample)
    statistic = float(np.max(np.abs(empirical - reference)))
    return statistic, float(stats.kstwo.sf(statistic, len(sample)))


@dataclass(frozen=True)
class _Binned:
    """A column's reference and recent counts over the same bins (the last one for missing values), and the
    test that fits its kind."""

    kind: str
    labels: list[str]
    reference: np.ndarray
    recent: np.ndarray
    test: str
    statistic: float
    p_value: float


def drift(profile: ColumnProfile, recent: pd.Series) -> DriftResult:
    """PSI and the test that fits the column's kind."""
    if profile.kind == "numeric":
        return numeric_drift(profile, recent)
    return categorical_drift(profile, recent)


def numeric_drift(profile: ColumnProfile, recent: pd.Series) -> DriftResult:
    """Deciles of the reference (and missing), with Kolmogorov-Smirnov against the reference's quantiles."""
    values = pd.to_numeric(recent, errors="coerce")
    unreadable = int(values.isna().sum() - recent.isna().sum())
    if unreadable:
        raise InvalidInput(f"column '{profile.name}': {unreadable} recent values are not numbers")
    present = values.dropna().to_numpy(dtype=np.float64)
    edges = np.asarray(profile.edges, dtype=np.float64)
    assert isinstance(profile.counts, list)
    recent_counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    labels = [f"< {edges[0]:g}"] if len(edges) else ["all"]
    labels += [f"[{lo:g}, {hi:g})" for lo, hi in itertools.pairwise(edges)]
    labels += [f">= {edges[-1]:g}"] if len(edges) else []
    if len(present) and profile.quantiles:
        statistic, p_value = ks_against_grid(present, np.asarray(profile.quantiles))
    else:
        statistic, p_value = float("nan"), float("nan")
    binned = _Binned(
        "numeric",
        [*labels, MISSING],
        np.append(np.asarray(profile.counts, dtype=np.float64), profile.missing),
        np.append(recent_counts.astype(np.float64), float(len(values) - len(present))),
        "ks",
        statistic,
        p_value,
    )
    return _result(profile, len(values), binned)


def categorical_drift(profile: ColumnProfile, recent: pd.Series) -> DriftResult:
    """Categories of either (and missing), with chi-square goodness of fit against the reference shares."""
    assert isinstance(profile.counts, dict)
    present = recent.dropna().astype(str)
    recent_by_category = present.value_counts()
    categories = sorted(set(profile.counts) | set(recent_by_category.index))
    reference = np.array([profile.counts.get(c, 0) for c in categories] + [profile.missing], dtype=np.float64)
    current = np.array(
        [int(recent_by_category.get(c, 0)) for c in categories] + [len(recent) - len(present)],
        dtype=np.float64,
    )
    if current.sum() > 0:
        expected = np.maximum(reference / reference.sum(), EPSILON)
        expected = expected / expected.sum() * current.sum()
        result = stats.chisquare(current, expected)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    else:
        statistic, p_value = float("nan"), float("nan")
    binned = _Binned(
        "categorical", [*categories, MISSING], reference, current, "chi-square", statistic, p_value
    )
    return _result(profile, len(recent), binned)


def _result(profile: ColumnProfile, n_recent: int, binned: _Binned) -> DriftResult:
    return DriftResult(
        column=profile.name,
        kind=binned.kind,
        n_reference=profile.n,
        n_recent=n_recent,
        psi=psi(binned.reference, binned.recent),
        test=binned.test,
        statistic=binned.statistic,
        p_value=binned.p_value,
        bins=_bins(binned.labels, binned.reference, binned.recent),
    )


def _bins(labels: list[str], reference: np.ndarray, recent: np.ndarray) -> list[dict[str, Any]]:
    ref_share = reference / reference.sum() if reference.sum() else reference
    rec_share = recent / recent.sum() if recent.sum() else recent
    return [
        {"bin": label, "reference": float(a), "recent": float(b)}
        for label, a, b in zip(labels, ref_share, rec_share, strict=True)
        if a > 0 or b > 0
    ]
