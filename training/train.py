"""Train one scan: temporal split, selection-aware weights, LightGBM candidate, logistic baseline,
calibration, an operating point from capacity, honest metrics, plots, and an MLflow run with a
registered candidate version.

The steps, and why:

1. Route (Wajong out of VW) and drop labels from excluded windows (COVID: censored, not innocent).
2. Split by time: the oldest months train, then validation, then the most recent months test. Never a
   random split across time: the model is used on future cases, so it is judged on later ones.
3. Learn only from investigated cases (others have no label). Optionally weight each by the inverse of
   its recorded selection probability, so the investigated cases stand for the whole caseload.
4. Calibrate on the validation months (Platt on the raw margin).
5. Set the operating threshold so that the expected signals per week match the spec's capacity, using
   every scored case of the validation months (the scan scores everyone, not only the investigated).
6. Report test metrics on all labelled test cases and, separately and with intervals, on the random
   control sample: the only unbiased estimate of precision at capacity and lift over random.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from features.pipeline import build_linear_pipeline, build_tree_pipeline, route
from features.profile import PROFILE_FILE, ReferenceProfile, build_profile, column_kinds
from features.register import FeatureRegister, default_register
from features.sources import SourceTable
from models import registry
from models.scorer import TRUSTED_TYPES, Calibration, ScanModel
from models.specs import ScanSpec
from riskscan.errors import InvalidInput
from training import plots
from training.evaluate import bootstrap_intervals, score_metrics

MAX_IPW_WEIGHT = 50.0  # clip: one case should not stand for more than 50 uninvestigated ones


@dataclass
class TemporalSplit:
    """Rows of each period. ``*_labelled`` keep only investigated, labelled, non-excluded cases."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    boundaries: dict[str, str]
    label: str

    @staticmethod
    def _labelled(frame: pd.DataFrame, label: str) -> pd.DataFrame:
        return frame.loc[frame["onderzocht"] & frame[label].notna() & ~frame["_excluded"]]

    @property
    def train_labelled(self) -> pd.DataFrame:
        return self._labelled(self.train, self.label)

    @property
    def validation_labelled(self) -> pd.DataFrame:
        return self._labelled(self.validation, self.label)

    @property
    def test_labelled(self) -> pd.DataFrame:
        return self._labelled(self.test, self.label)


def temporal_split(frame: pd.DataFrame, spec: ScanSpec, time_column: str) -> TemporalSplit:
    """Split by calendar month: train < validation < test, with no month in two parts."""
    months = frame[time_column].dt.to_period("M")
    last = months.max()
    test_start = last - (spec.split.test_months - 1)
    validation_start = test_start - spec.split.validation_months
    if months.min() >= validation_start:
        raise InvalidInput(
            f"data covers {months.min()} to {last}: too short for {spec.split.validation_months} validation "
            f"and {spec.split.test_months} test months plus training months"
        )
    marked = frame.assign(_excluded=spec.excluded_mask(frame[time_column]))
    return TemporalSplit(
        train=marked.loc[months < validation_start],
        validation=marked.loc[(months >= validation_start) & (months < test_start)],
        test=marked.loc[months >= test_start],
        boundaries={
            "train_end": str(validation_start - 1),
            "validation_start": str(validation_start),
            "validation_end": str(test_start - 1),
            "test_start": str(test_start),
            "test_end": str(last),
        },
        label=spec.label.column,
    )


def selection_weights(frame: pd.DataFrame, enabled: bool) -> np.ndarray:
    """Inverse-probability weights from the recorded selection probability, mean 1."""
    if not enabled:
        return np.ones(len(frame))
    weights = np.minimum(1.0 / frame["selectiekans"].to_numpy(dtype=float), MAX_IPW_WEIGHT)
    return weights / weights.mean()


def flag_fraction(
    population: pd.DataFrame, time_column: str, capacity_per_week: int, sample_fraction: float
) -> float:
    """Share of cases to flag so that signals per week match national capacity.

    The data may be a sample of the national caseload (synthetic data, a pilot region), so the weekly
    volume is scaled up by the sample fraction before it is compared with capacity.
    """
    days = (population[time_column].max() - population[time_column].min()).days + 1
    weekly_national = len(population) / (days / 7.0) / sample_fraction
    return float(min(1.0, capacity_per_week / weekly_national))


@dataclass
class TrainResult:
    scan: str
    run_id: str
    version: str
    threshold: float
    flag_fraction: float
    metrics: dict[str, float]
    control_intervals: dict[str, dict[str, float]]
    baseline_metrics: dict[str, float]
    boundaries: dict[str, str]
    ipw: bool
    artifacts: list[str] = field(default_factory=list)


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


def fit_scan_model(
    spec: ScanSpec,
    split: TemporalSplit,
    *,
    ipw: bool,
    seed: int = 0,
    register: FeatureRegister | None = None,
    dask_scheduler: str | None = None,
) -> tuple[ScanModel, int]:
    """Fit pipeline, booster and calibration on the train and validation months.

    With ``dask_scheduler`` only the booster is fitted on that Dask cluster (``training.distributed``,
    whose docstring lists what differs); the pipeline and the calibration are fitted here either way.
    """
    features = spec.feature_set(register)
    train, validation = split.train_labelled, split.validation_labelled
    label = spec.label.column
    preprocessor = build_tree_pipeline(features)
    features.validate(train)
    x_train = np.asarray(preprocessor.fit_transform(train[features.names]), dtype=np.float64)
    x_valid = np.asarray(preprocessor.transform(validation[features.names]), dtype=np.float64)
    y_train = train[label].to_numpy(dtype=int)
    y_valid = validation[label].to_numpy(dtype=int)
    names = [str(n) for n in preprocessor.get_feature_names_out()]
    categorical = [names.index(c.name) for c in features.categorical]
    if dask_scheduler is None:
        train_set = lgb.Dataset(
            x_train,
            y_train,
            weight=selection_weights(train, ipw),
            feature_name=names,
            categorical_feature=categorical,
            free_raw_data=False,
        )
        valid_set = lgb.Dataset(
            x_valid, y_valid, weight=selection_weights(validation, ipw), reference=train_set
        )
        booster = lgb.train(
            _lgb_params(spec, seed),
            train_set,
            num_boost_round=spec.model.n_estimators,
            valid_sets=[valid_set],
            valid_names=["validation"],
            callbacks=[lgb.early_stopping(spec.model.early_stopping_rounds, verbose=False)],
        )
        booster.free_dataset()
    else:
        from training.distributed import fit_booster  # dask is imported only when a cluster is asked for

        booster = fit_booster(
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
    margin = np.asarray(booster.predict(x_valid, raw_score=True))
    platt = LogisticRegression(C=1e6, max_iter=1000)
    platt.fit(margin.reshape(-1, 1), y_valid, sample_weight=selection_weights(validation, ipw))
    calibration = Calibration(slope=float(platt.coef_[0, 0]), intercept=float(platt.intercept_[0]))
    model = ScanModel(features, preprocessor, booster, calibration, threshold=1.0)
    return model, int(booster.best_iteration or spec.model.n_estimators)


def fit_baseline(spec: ScanSpec, split: TemporalSplit, *, ipw: bool) -> Pipeline:
    """Logistic regression on one-hot inputs: the simple model the candidate has to beat."""
    features = spec.feature_set()
    train = split.train_labelled
    baseline = Pipeline(
        [("features", build_linear_pipeline(features)), ("model", LogisticRegression(C=1.0, max_iter=2000))]
    )
    baseline.fit(
        train[features.names],
        train[spec.label.column].to_numpy(dtype=int),
        model__sample_weight=selection_weights(train, ipw),
    )
    return baseline


def _prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": float(v) for k, v in metrics.items() if np.isfinite(v)}


def train_scan(
    spec: ScanSpec,
    source: SourceTable,
    *,
    ipw: bool | None = None,
    seed: int = 0,
    register: FeatureRegister | None = None,
    progress: Any = print,
    dask_scheduler: str | None = None,
) -> TrainResult:
    """Train, evaluate, log and register one scan. Returns what was measured and registered.

    ``dask_scheduler`` (an address such as ``tcp://10.0.0.5:8786``) fits the booster on that Dask
    cluster; every other step, and the registered version, is the same as without it.
    """
    register = register or default_register()
    ipw = spec.model.inverse_probability_weighting if ipw is None else ipw
    table = register.tables[spec.table]
    label = spec.label.column
    scored = route(source.frame, spec.id, register).scored
    spec.feature_set(register).validate(scored, key_column=table.key)
    split = temporal_split(scored, spec, table.time)
    if split.train_labelled[label].sum() < 20 or split.validation_labelled[label].sum() < 5:
        raise InvalidInput(
            f"too few recorded sanctions to train scan '{spec.id}' "
            f"({int(split.train_labelled[label].sum())} in training, "
            f"{int(split.validation_labelled[label].sum())} in validation)"
        )
    progress(
        f"[{spec.id}] split {split.boundaries}; labelled train/validation/test = "
        f"{len(split.train_labelled)}/{len(split.validation_labelled)}/{len(split.test_labelled)}"
    )

    model, best_iteration = fit_scan_model(
        spec, split, ipw=ipw, seed=seed, register=register, dask_scheduler=dask_scheduler
    )
    progress(f"[{spec.id}] LightGBM: {best_iteration} trees (depth <= {spec.model.max_depth})")

    fraction = flag_fraction(
        split.validation, table.time, spec.capacity.investigations_per_week, source.sample_fraction
    )
    validation_scores = model.predict_proba(split.validation, validate=False)
    model.threshold = float(np.quantile(validation_scores, 1.0 - fraction)) if fraction < 1 else 0.0

    test = split.test_labelled
    y_test = test[label].to_numpy(dtype=int)
    test_scores = model.predict_proba(test, validate=False)
    control = test.loc[test["controlesteekproef"]]
    control_scores = model.predict_proba(control, validate=False) if len(control) else np.array([])
    y_control = control[label].to_numpy(dtype=int)
    all_test_scores = model.predict_proba(split.test, validate=False)

    metrics = _prefixed("test", score_metrics(y_test, test_scores, model.threshold))
    metrics.update(_prefixed("control", score_metrics(y_control, control_scores, model.threshold)))
    metrics["test_flagged_share_all_scored"] = float(np.mean(all_test_scores >= model.threshold))
    metrics["flag_fraction_target"] = fraction
    metrics["best_iteration"] = float(best_iteration)
    intervals = bootstrap_intervals(y_control, control_scores, model.threshold, n_boot=500, seed=seed)

    baseline = fit_baseline(spec, split, ipw=ipw)
    baseline_validation = baseline.predict_proba(split.validation[list(spec.features)])[:, 1]
    baseline_threshold = float(np.quantile(baseline_validation, 1.0 - fraction)) if fraction < 1 else 0.0
    baseline_metrics = _prefixed(
        "baseline_test",
        score_metrics(y_test, baseline.predict_proba(test[list(spec.features)])[:, 1], baseline_threshold),
    )
    if len(control):
        baseline_metrics.update(
            _prefixed(
                "baseline_control",
                score_metrics(
                    y_control, baseline.predict_proba(control[list(spec.features)])[:, 1], baseline_threshold
                ),
            )
        )
    progress(
        f"[{spec.id}] test ROC-AUC {metrics.get('test_roc_auc', float('nan')):.3f} "
        f"(baseline {baseline_metrics.get('baseline_test_roc_auc', float('nan')):.3f}); "
        f"control precision at capacity {intervals['precision_at_op'].estimate:.3f} "
        f"[{intervals['precision_at_op'].low:.3f}, {intervals['precision_at_op'].high:.3f}], "
        f"lift {intervals['lift'].estimate:.2f}"
    )

    model.meta.update(
        {
            "spec_hash": spec.content_hash,
            "split": split.boundaries,
            "flag_fraction": fraction,
            "ipw": ipw,
            "seed": seed,
            "data_sha256": source.sha256,
        }
    )
    return _log_run(
        spec,
        source,
        split,
        model,
        baseline,
        metrics,
        baseline_metrics,
        intervals,
        ipw,
        fraction,
        all_test_scores,
        progress,
        dask_scheduler=dask_scheduler,
    )


def _log_run(
    spec: ScanSpec,
    source: SourceTable,
    split: TemporalSplit,
    model: ScanModel,
    baseline: Pipeline,
    metrics: dict[str, float],
    baseline_metrics: dict[str, float],
    intervals: dict[str, Any],
    ipw: bool,
    fraction: float,
    all_test_scores: np.ndarray,
    progress: Any,
    *,
    dask_scheduler: str | None = None,
) -> TrainResult:
    label = spec.label.column
    # Under `mlflow run` the project has already started the run (MLFLOW_RUN_ID) in the experiment it was
    # given; naming another experiment would be refused, so only a run of our own gets the scan's experiment.
    experiment = None if os.environ.get("MLFLOW_RUN_ID") else registry.experiment_id(spec.id)
    tags = {
        "scan": spec.id,
        "register_hash": model.features.register_hash,
        "spec_hash": spec.content_hash,
        "git_commit": registry.git_commit(),
        "dataset_sha256": source.sha256,
        "ipw": str(ipw).lower(),
        # Which engine fitted the booster: a Dask fit differs slightly (training/distributed.py says how).
        "training_engine": "local" if dask_scheduler is None else "dask",
        **({"dask_scheduler": dask_scheduler} if dask_scheduler is not None else {}),
    }
    with mlflow.start_run(experiment_id=experiment, run_name=f"train-{spec.id}", tags=tags) as run:
        mlflow.log_params(
            {
                **{f"model_{k}": v for k, v in spec.model.model_dump().items()},
                "capacity_per_week": spec.capacity.investigations_per_week,
                "flag_fraction": round(fraction, 6),
                "threshold": round(model.threshold, 6),
                "ipw": ipw,
                "n_features": len(spec.features),
                **{f"split_{k}": v for k, v in split.boundaries.items()},
                "excluded_windows": "; ".join(f"{w.start}..{w.end}" for w in spec.excluded_windows),
            }
        )
        mlflow.log_metrics({**metrics, **baseline_metrics})
        mlflow.log_metrics(
            {
                f"control_{k}_ci_{side}": getattr(v, side)
                for k, v in intervals.items()
                for side in ("low", "high")
                if np.isfinite(getattr(v, side))
            }
        )
        for context, frame in (
            ("training", split.train_labelled),
            ("validation", split.validation_labelled),
            ("testing", split.test_labelled),
        ):
            dataset = mlflow.data.from_pandas(  # type: ignore[attr-defined]
                frame[[*spec.features, label]].assign(**{label: frame[label].astype(int)}),
                source=str(source.path),
                name=f"{spec.table}-{context}",
                targets=label,
            )
            mlflow.log_input(dataset, context=context)

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            (out / "input_features.json").write_text(
                json.dumps(
                    {
                        "scan": spec.id,
                        "features": [
                            {
                                "name": c.name,
                                "label": c.label,
                                "dtype": c.dtype,
                                "source": c.source,
                                "proxy_risk": c.proxy_risk,
                            }
                            for c in model.features.columns
                        ],
                        "register_hash": model.features.register_hash,
                    },
                    indent=2,
                    ensure_ascii=False,
                ),
                encoding="utf-8",
            )
            (out / "control_intervals.json").write_text(
                json.dumps({k: v.as_dict() for k, v in intervals.items()}, indent=2), encoding="utf-8"
            )
            (out / PROFILE_FILE).write_text(
                json.dumps(_reference_profile(spec, split, model).as_dict(), ensure_ascii=False),
                encoding="utf-8",
            )
            _training_plots(spec, split, model, all_test_scores, out)
            mlflow.log_artifacts(str(out), artifact_path="evaluation")
            artifacts = sorted(p.name for p in out.iterdir())

        mlflow.sklearn.log_model(
            baseline,
            name="baseline",
            serialization_format="skops",
            skops_trusted_types=TRUSTED_TYPES,
            pyfunc_predict_fn="predict_proba",
            signature=registry.signature_for(list(model.features.columns)),
            pip_requirements=registry.requirements(),
        )
        info = registry.log_scan_model(model, split.test_labelled)
        version = registry.register_candidate(spec.id, info, {**tags, "run_id": run.info.run_id})
    progress(
        f"[{spec.id}] registered {registry.model_name(spec.id)} version {version.version} (status=candidate)"
    )
    return TrainResult(
        scan=spec.id,
        run_id=run.info.run_id,
        version=str(version.version),
        threshold=model.threshold,
        flag_fraction=fraction,
        metrics=metrics,
        control_intervals={k: v.as_dict() for k, v in intervals.items()},
        baseline_metrics=baseline_metrics,
        boundaries=split.boundaries,
        ipw=ipw,
        artifacts=artifacts,
    )


def _reference_profile(spec: ScanSpec, split: TemporalSplit, model: ScanModel) -> ReferenceProfile:
    """What monitoring compares live traffic with: every scored case of the months the model was fitted
    and calibrated on (labelled or not, since the scan scores everyone), outside the excluded windows."""
    fitted_on = pd.concat([split.train, split.validation])
    fitted_on = fitted_on.loc[~fitted_on["_excluded"]]
    return build_profile(
        fitted_on,
        column_kinds(model.features.columns),
        model.predict_proba(fitted_on, validate=False),
        threshold=model.threshold,
        population=(
            f"scored cases of {split.boundaries['train_end']} and earlier, and of the validation months "
            f"{split.boundaries['validation_start']} to {split.boundaries['validation_end']}, outside the "
            "excluded windows"
        ),
    )


def _training_plots(
    spec: ScanSpec, split: TemporalSplit, model: ScanModel, all_test_scores: np.ndarray, out: Path
) -> None:
    label = spec.label.column
    test = split.test_labelled
    control = test.loc[test["controlesteekproef"]]
    curves = {
        "all labelled test cases": (
            test[label].to_numpy(dtype=int),
            model.predict_proba(test, validate=False),
        ),
    }
    if len(control):
        curves["random control sample"] = (
            control[label].to_numpy(dtype=int),
            model.predict_proba(control, validate=False),
        )
    plots.calibration_plot(curves, out / "calibration.png")
    sample = split.test.sample(n=min(2000, len(split.test)), random_state=0)
    encoded = model.encode(sample, validate=False)
    contributions, _ = model.explain(encoded)
    labels = [model.features.columns[model.features.names.index(n)].label for n in model.encoded_names]
    plots.shap_summary_plot(
        contributions, pd.DataFrame(encoded, columns=model.encoded_names), labels, out / "shap_summary.png"
    )
    gain = pd.Series(model.booster.feature_importance("gain"), index=labels)
    plots.importance_plot(gain, out / "feature_importance.png")
    pd.DataFrame({"feature": model.encoded_names, "label": labels, "gain": gain.to_numpy()}).to_csv(
        out / "feature_importance.csv", index=False
    )
    plots.score_distribution_plot(all_test_scores, model.threshold, out / "score_distribution.png")
