"""Reference profiles: what a model's input columns and scores looked like when it was trained.

Monitoring compares recent traffic with the champion's training data. It does so against a *profile*
written at training time, not against the training rows themselves, for two reasons:

- data minimisation: a profile holds aggregates over at least tens of thousands of cases (bin counts and
  a quantile grid), never a person's record, so it can live beside the model in the registry;
- durability: the source extract is replaced every month, the profile stays with the version.

What a column's profile holds, and why:

- ``edges`` and ``counts`` (numeric columns): the reference deciles as bin edges and the number of
  reference cases per bin, for the Population Stability Index (PSI);
- ``quantiles`` (numeric columns): 1,001 quantiles, the reference distribution function at a resolution of
  0.001, for a one-sample Kolmogorov-Smirnov test (``scipy.stats.ks_1samp``) of recent values against it;
- ``counts`` by category (categorical columns): for PSI and a chi-square goodness-of-fit test. A KS test
  needs an order, and categories have none.

Missing values are counted apart (``missing``); PSI gives them a bin of their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from features.register import Column
from riskscan.errors import InvalidInput

PROFILE_FORMAT = 1
#: The file name under the training run's ``evaluation/`` artifacts.
PROFILE_FILE = "reference_profile.json"
PSI_BINS = 10
KS_GRID = 1001  # quantiles 0.000, 0.001, ..., 1.000

Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class ColumnProfile:
    """The reference distribution of one column (see the module docstring for what each field is for)."""

    name: str
    kind: Kind
    n: int
    missing: int
    edges: list[float] = field(default_factory=list)
    counts: list[int] | dict[str, int] = field(default_factory=list)
    quantiles: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "n": self.n,
            "missing": self.missing,
            "edges": self.edges,
            "counts": self.counts,
            "quantiles": self.quantiles,
        }

    @classmethod
    def from_dict(cls, content: dict[str, Any]) -> ColumnProfile:
        kind = content.get("kind")
        if kind not in ("numeric", "categorical"):
            raise InvalidInput(
                f"column profile '{content.get('name')}': kind {kind!r} is not numeric or categorical"
            )
        return cls(
            name=str(content["name"]),
            kind=kind,
            n=int(content["n"]),
            missing=int(content["missing"]),
            edges=[float(e) for e in content.get("edges", [])],
            counts=(
                {str(k): int(v) for k, v in content["counts"].items()}
                if kind == "categorical"
                else [int(c) for c in content["counts"]]
            ),
            quantiles=[float(q) for q in content.get("quantiles", [])],
        )


def profile_column(name: str, values: pd.Series, kind: Kind) -> ColumnProfile:
    """Profile one column. Numeric values are read as floats; categories as text."""
    present = values.dropna()
    missing = int(len(values) - len(present))
    if kind == "categorical":
        by_category = present.astype(str).value_counts(sort=False)
        return ColumnProfile(
            name, kind, len(values), missing, counts={str(k): int(v) for k, v in by_category.items()}
        )
    numbers = present.to_numpy(dtype=np.float64)
    if len(numbers) == 0:
        return ColumnProfile(name, kind, len(values), missing)
    # Interior deciles, de-duplicated: a column with many ties (counts of earlier benefits) gets fewer bins.
    edges = np.unique(np.quantile(numbers, np.linspace(0, 1, PSI_BINS + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, numbers, side="right"), minlength=len(edges) + 1)
    quantiles = np.quantile(numbers, np.linspace(0, 1, KS_GRID))
    return ColumnProfile(
        name,
        kind,
        len(values),
        missing,
        edges=[float(e) for e in edges],
        counts=[int(c) for c in counts],
        quantiles=[float(q) for q in quantiles],
    )


@dataclass(frozen=True)
class ReferenceProfile:
    """The profile of a model's inputs and calibrated scores on its reference population."""

    population: str  # which cases, in words (e.g. "scored cases of the training and validation months")
    n: int
    columns: dict[str, ColumnProfile]
    score: ColumnProfile
    threshold: float
    flagged_share: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": PROFILE_FORMAT,
            "population": self.population,
            "n": self.n,
            "columns": [c.as_dict() for c in self.columns.values()],
            "score": self.score.as_dict(),
            "threshold": self.threshold,
            "flagged_share": self.flagged_share,
        }

    @classmethod
    def from_dict(cls, content: dict[str, Any]) -> ReferenceProfile:
        if content.get("format") != PROFILE_FORMAT:
            raise InvalidInput(
                f"reference profile format {content.get('format')!r} is not supported (expected {PROFILE_FORMAT})"
            )
        columns = [ColumnProfile.from_dict(c) for c in content["columns"]]
        return cls(
            population=str(content["population"]),
            n=int(content["n"]),
            columns={c.name: c for c in columns},
            score=ColumnProfile.from_dict(content["score"]),
            threshold=float(content["threshold"]),
            flagged_share=float(content["flagged_share"]),
        )


def build_profile(
    frame: pd.DataFrame,
    kinds: dict[str, Kind],
    scores: np.ndarray,
    *,
    threshold: float,
    population: str,
) -> ReferenceProfile:
    """Profile ``kinds``' columns of ``frame`` and the calibrated ``scores`` of the same rows."""
    if len(scores) != len(frame):
        raise InvalidInput(f"{len(scores)} scores for {len(frame)} rows; a profile needs one score per row")
    if len(frame) == 0:
        raise InvalidInput("cannot profile an empty population")
    missing = [name for name in kinds if name not in frame.columns]
    if missing:
        raise InvalidInput(f"columns to profile are not in the frame: {', '.join(missing)}")
    columns = {name: profile_column(name, frame[name], kind) for name, kind in kinds.items()}
    score_series = pd.Series(np.asarray(scores, dtype=np.float64))
    return ReferenceProfile(
        population=population,
        n=len(frame),
        columns=columns,
        score=profile_column("score", score_series, "numeric"),
        threshold=float(threshold),
        flagged_share=float(np.mean(np.asarray(scores) >= threshold)),
    )


def column_kinds(columns: Iterable[Column]) -> dict[str, Kind]:
    """How each register column is profiled: categories and flags by count, numbers by distribution."""
    return {c.name: ("numeric" if c.dtype in ("int", "float") else "categorical") for c in columns}
