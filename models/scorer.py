"""The scan model: feature pipeline, a margin model of the spec's family, and calibration, saved without pickle.

One ``ScanModel`` is what training produces, what the registry stores, what the audit judges and what
serving loads, whichever family (``model.family`` in the spec, :mod:`models.families`) computes its margin.
It is saved as a folder of safe formats:

* ``preprocessor.skops``: the fitted feature pipeline (skops, which refuses untrusted types on load);
* ``booster.txt`` (LightGBM's native text model) or ``linear_head.skops`` (the logistic family's design and
  coefficients);
* ``model.json``: the family, the feature list, register and spec hashes, calibration, operating threshold,
  and for the logistic family the reference its explanations are measured against.

Scores are calibrated probabilities. Explanations are exact, in the family's margin units (log-odds before
calibration): for every case ``base_value + sum(contributions) == margin``, one contribution per register
input, and the calibrated score is a monotone function of that margin, so the explanation ranks and signs
always agree with the score. :mod:`models.families` gives each family's formula.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer

from features.pipeline import FeatureSet, feature_set
from features.register import FeatureRegister, default_register
from models.families import (
    TRUSTED_TYPES,
    Family,
    LinearMargin,
    MarginModel,
    TreeMargin,
    load_margin_model,
    load_skops,
)

PREPROCESSOR_FILE = "preprocessor.skops"
META_FILE = "model.json"

__all__ = ["TRUSTED_TYPES", "Calibration", "ScanModel"]


@dataclass(frozen=True)
class Calibration:
    """Platt scaling on the raw margin: p = 1 / (1 + exp(-(slope * margin + intercept))).

    Platt rather than isotonic: with a few hundred positives it is stable, and being strictly monotone it
    keeps the order of cases and the meaning of every SHAP contribution.
    """

    slope: float = 1.0
    intercept: float = 0.0

    def apply(self, margin: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.slope * margin + self.intercept)))

    def margin_for(self, probability: float) -> float:
        """The raw margin at which the calibrated score equals ``probability``."""
        logit = float(np.log(probability / (1.0 - probability)))
        return (logit - self.intercept) / self.slope


@dataclass
class ScanModel:
    """A trained scan: inputs -> calibrated probability, with exact per-feature explanations."""

    features: FeatureSet
    preprocessor: ColumnTransformer
    estimator: MarginModel
    calibration: Calibration
    threshold: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def scan(self) -> str:
        return self.features.scan

    @property
    def family(self) -> Family:
        return self.estimator.family

    @property
    def margin_scale(self) -> str:
        """What the margin and the explanations are measured in, as the decision log records it."""
        return self.estimator.margin_scale

    @property
    def explanation_method(self) -> str:
        return self.estimator.explanation_method

    @property
    def booster(self) -> lgb.Booster:
        """The LightGBM booster of a ``lightgbm`` model (benchmarks and distributed training read it)."""
        if not isinstance(self.estimator, TreeMargin):
            raise TypeError(f"a {self.family} model has no LightGBM booster")
        return self.estimator.booster

    @property
    def encoded_names(self) -> list[str]:
        # Cached: get_feature_names_out() costs 0.14 ms, which was 30% of scoring one case (benchmark).
        names = self.meta.get("_encoded_names")
        if names is None:
            names = [str(n) for n in self.preprocessor.get_feature_names_out()]
            self.meta["_encoded_names"] = names
        return list(names)

    def encode(
        self, frame: pd.DataFrame, *, validate: bool = True, key_column: str | None = None
    ) -> np.ndarray:
        if validate:
            self.features.validate(frame, key_column=key_column)
        return np.asarray(self.preprocessor.transform(frame[self.features.names]), dtype=np.float64)

    def encode_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        """Encode already-validated JSON cases without building a DataFrame.

        Serving scores one case per request; a pandas round trip would cost more than the trees and
        TreeSHAP together. The codes are read from the *fitted* pipeline's own category lists, so this
        path cannot disagree with ``encode`` (a test checks both on the same cases).
        """
        lookups = self._lookups()
        out = np.empty((len(records), len(lookups)), dtype=np.float64)
        for row, record in enumerate(records):
            for col, (name, mapping) in enumerate(lookups):
                value = record[name]
                if mapping is not None:
                    out[row, col] = mapping[value]
                else:
                    out[row, col] = np.nan if value is None else float(value)
        return out

    def _lookups(self) -> list[tuple[str, dict[Any, float] | None]]:
        cached = self.meta.get("_lookups")
        if cached is None:
            cached = []
            for _, transformer, columns in self.preprocessor.transformers_:
                if transformer == "drop":
                    continue
                categories = getattr(transformer, "categories_", None)
                for index, column in enumerate(columns):
                    mapping = None
                    if categories is not None:
                        mapping = {value: float(code) for code, value in enumerate(categories[index])}
                    cached.append((column, mapping))
            self.meta["_lookups"] = cached
        return list(cached)

    def coefficient_table(self) -> dict[str, Any] | None:
        """A logistic model's coefficients with Dutch labels (:meth:`LinearMargin.coefficient_table`); None
        for a tree model, which has none."""
        if isinstance(self.estimator, LinearMargin):
            return self.estimator.coefficient_table(self.features.columns)
        return None

    def raw_margin(self, encoded: np.ndarray, *, num_threads: int | None = None) -> np.ndarray:
        """The margin (log-odds before calibration) of already encoded rows."""
        return self.estimator.margin(encoded, num_threads=num_threads)

    def margin(self, frame: pd.DataFrame, *, validate: bool = True) -> np.ndarray:
        return self.raw_margin(self.encode(frame, validate=validate))

    def predict_proba(self, frame: pd.DataFrame, *, validate: bool = True) -> np.ndarray:
        """Calibrated probability of a sanction-worthy finding, one per row."""
        return self.calibration.apply(self.margin(frame, validate=validate))

    def flags(self, scores: np.ndarray) -> np.ndarray:
        return scores >= self.threshold

    def explain(
        self, encoded: np.ndarray, *, num_threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact contributions (n x features) and base values (n), in :attr:`margin_scale` units.

        Columns follow ``encoded_names``, one per register feature, so each contribution belongs to one
        column a person can read; ``base_values + contributions.sum(axis=1)`` is the margin.
        """
        return self.estimator.explain(encoded, num_threads=num_threads)

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        sio.dump(self.preprocessor, directory / PREPROCESSOR_FILE)
        family_meta = self.estimator.save(directory)
        meta = {
            **{k: v for k, v in self.meta.items() if not k.startswith("_")},
            **family_meta,
            "family": self.family,
            "scan": self.scan,
            "features": self.features.names,
            "register_hash": self.features.register_hash,
            "calibration": {"slope": self.calibration.slope, "intercept": self.calibration.intercept},
            "threshold": self.threshold,
            "margin_scale": self.margin_scale,
            "explanation_method": self.explanation_method,
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: Path, register: FeatureRegister | None = None) -> ScanModel:
        register = register or default_register()
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        # Rebuilding the feature set re-checks every input against the register on every load: a model
        # that somehow carries an audit-only or forbidden input cannot be loaded, let alone served.
        features = feature_set(meta["scan"], meta["features"], register)
        preprocessor = load_skops(directory / PREPROCESSOR_FILE)
        calibration = Calibration(**meta["calibration"])
        return cls(
            features=features,
            preprocessor=preprocessor,
            estimator=load_margin_model(directory, meta),
            calibration=calibration,
            threshold=float(meta["threshold"]),
            meta=meta,
        )
