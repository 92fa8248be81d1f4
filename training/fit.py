"""Fit one scan model of either family on a temporal split: pipeline, margin model, calibration, threshold.

The families differ only in the margin model (:mod:`models.families`); everything around it is one code
path, so a comparison between them compares the models and nothing else:

1. the feature pipeline (one column per register input) is fitted on the training months;
2. the margin model is fitted on the labelled training cases, weighted for the historical selection:
   LightGBM with early stopping on the validation months, or a logistic regression;
3. Platt calibration on the validation months' margins;
4. the operating threshold: the ``1 - f`` quantile of the calibrated scores of *every* validation case
   (the scan scores everyone, not only the investigated), where ``f`` is the share of cases that matches
   the spec's capacity (:func:`training.split.flag_fraction`).
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.linear_model import LogisticRegression

from features.pipeline import build_tree_pipeline
from features.register import FeatureRegister
from models.families import LinearMargin, MarginModel, TreeMargin
from models.scorer import Calibration, ScanModel
from models.specs import Family, ScanSpec
from training.split import TemporalSplit, selection_weights


def _lgb_params(spec: ScanSpec, seed: int) -> dict[str, Any]:
    m = spec.model
    return {
        "objective": "binary",
        "learning_rate": m.learning_rate,
        "max_depth": m.max_depth,
        "num_leaves": m.num_leaves,
        "min_data_in_leaf": m.min_child_samples,
        "feature_fraction": 0.9,
        "lambda_l2": 1.0,
        "cat_smooth": 10.0,
        "seed": seed,
        "deterministic": True,
        "num_threads": 2,
        "verbosity": -1,
    }


def _fit_booster(
    spec: ScanSpec,
    split: TemporalSplit,
    x_train: np.ndarray,
    x_valid: np.ndarray,
    names: list[str],
    categorical: list[int],
    *,
    ipw: bool,
    seed: int,
    dask_scheduler: str | None,
) -> lgb.Booster:
    train, validation, label = split.train_labelled, split.validation_labelled, spec.label.column
    y_train, y_valid = train[label].to_numpy(dtype=int), validation[label].to_numpy(dtype=int)
    if dask_scheduler is not None:
        from training.distributed import fit_booster  # dask is imported only when a cluster is asked for

        return fit_booster(
            _lgb_params(spec, seed),
            x_train,
            y_train,
            selection_weights(train, ipw),
            x_valid,
            y_valid,
            selection_weights(validation, ipw),
            feature_names=names,
            categorical=categorical,
            num_boost_round=spec.model.n_estimators,
            early_stopping_rounds=spec.model.early_stopping_rounds,
            scheduler=dask_scheduler,
        )
    train_set = lgb.Dataset(
        x_train,
        y_train,
        weight=selection_weights(train, ipw),
        feature_name=names,
        categorical_feature=categorical,
        free_raw_data=False,
    )
    valid_set = lgb.Dataset(x_valid, y_valid, weight=selection_weights(validation, ipw), reference=train_set)
    booster = lgb.train(
        _lgb_params(spec, seed),
        train_set,
        num_boost_round=spec.model.n_estimators,
        valid_sets=[valid_set],
        valid_names=["validation"],
        callbacks=[lgb.early_stopping(spec.model.early_stopping_rounds, verbose=False)],
    )
    booster.free_dataset()
    return booster


def fit_scan_model(
    spec: ScanSpec,
    split: TemporalSplit,
    *,
    ipw: bool,
    family: Family | None = None,
    seed: int = 0,
    register: FeatureRegister | None = None,
    dask_scheduler: str | None = None,
) -> tuple[ScanModel, int]:
    """Fit pipeline, margin model and calibration on the train and validation months.

    ``family`` defaults to the spec's. Returns the model (threshold not yet set) and the fit's rounds: the
    LightGBM trees kept by early stopping, or the logistic solver's iterations. With ``dask_scheduler`` a
    LightGBM booster is fitted on that Dask cluster (``training.distributed``, whose docstring lists what
    differs); the pipeline, the logistic fit and the calibration are fitted here either way.
    """
    family = family or spec.model.family
    features = spec.feature_set(register)
    train, validation = split.train_labelled, split.validation_labelled
    label = spec.label.column
    preprocessor = build_tree_pipeline(features)
    features.validate(train)
    x_train = np.asarray(preprocessor.fit_transform(train[features.names]), dtype=np.float64)
    x_valid = np.asarray(preprocessor.transform(validation[features.names]), dtype=np.float64)
    estimator: MarginModel
    if family == "lightgbm":
        names = [str(n) for n in preprocessor.get_feature_names_out()]
        categorical = [names.index(c.name) for c in features.categorical]
        booster = _fit_booster(
            spec,
            split,
            x_train,
            x_valid,
            names,
            categorical,
            ipw=ipw,
            seed=seed,
            dask_scheduler=dask_scheduler,
        )
        estimator, rounds = TreeMargin(booster), int(booster.best_iteration or spec.model.n_estimators)
    else:
        linear = LinearMargin.fit(
            features,
            x_train,
            train[label].to_numpy(dtype=int),
            selection_weights(train, ipw),
            c=spec.model.logistic_c,
        )
        estimator, rounds = linear, linear.iterations
    calibration = _platt(estimator.margin(x_valid), validation[label].to_numpy(dtype=int), validation, ipw)
    return ScanModel(features, preprocessor, estimator, calibration, threshold=1.0), rounds


def _platt(margin: np.ndarray, y: np.ndarray, validation: Any, ipw: bool) -> Calibration:
    platt = LogisticRegression(C=1e6, max_iter=1000)
    platt.fit(margin.reshape(-1, 1), y, sample_weight=selection_weights(validation, ipw))
    return Calibration(slope=float(platt.coef_[0, 0]), intercept=float(platt.intercept_[0]))


def set_operating_threshold(model: ScanModel, split: TemporalSplit, fraction: float) -> float:
    """Set and return the threshold that flags ``fraction`` of every scored validation case."""
    scores = model.predict_proba(split.validation, validate=False)
    model.threshold = float(np.quantile(scores, 1.0 - fraction)) if fraction < 1 else 0.0
    return model.threshold
