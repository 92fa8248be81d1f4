"""Train one scan: temporal split, selection-aware weights, the spec's model family and the other family
beside it, calibration, an operating point from capacity, honest metrics, plots, and an MLflow run with a
registered candidate version.

The steps, and where they live:

1. Route (Wajong out of VW), split by time and weight for the historical selection (:mod:`training.split`).
2. Fit the spec's family (``model.family``: LightGBM or logistic regression), calibrate it on the
   validation months and set its operating threshold from capacity (:mod:`training.fit`).
3. Fit the *other* family the same way, on the same split and weights: the committee sees what the choice
   between a model people can read and a boosted one costs or gains. Only the spec's family is registered;
   the other is logged with the run (``other_family/``).
4. Report test metrics on all labelled test cases and, separately and with intervals, on the random
   control sample: the only unbiased estimate of precision at capacity and lift over random, for both
   families on the same bootstrap draws (:mod:`training.evaluate`).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from features.pipeline import route
from features.profile import PROFILE_FILE, ReferenceProfile, build_profile, column_kinds
from features.register import FeatureRegister, default_register
from features.sources import SourceTable
from models import registry
from models.families import LinearMargin, other_family
from models.scorer import ScanModel
from models.specs import ScanSpec
from riskscan import fmt, jsonio
from riskscan.errors import InvalidInput
from training import plots
from training.evaluate import FamilyEvaluation, evaluate_model, family_comparison
from training.fit import _lgb_params, fit_scan_model, set_operating_threshold
from training.split import TemporalSplit, flag_fraction, selection_weights, temporal_split

__all__ = [
    "TemporalSplit",
    "TrainResult",
    "_lgb_params",
    "fit_scan_model",
    "flag_fraction",
    "selection_weights",
    "temporal_split",
    "train_scan",
]


@dataclass
class TrainResult:
    scan: str
    run_id: str
    version: str
    family: str
    threshold: float
    flag_fraction: float
    metrics: dict[str, float]
    control_intervals: dict[str, dict[str, float]]
    #: The other family, fitted on the same split: ``family``, ``threshold``, ``metrics`` (``test_*`` and
    #: ``control_*``) and ``control_intervals``.
    comparison: dict[str, Any]
    #: ``{"this": {"family", "precision_at_op", "lift"}, "other": {...}}`` on the control sample.
    family_comparison: dict[str, dict[str, Any]]
    boundaries: dict[str, str]
    ipw: bool
    artifacts: list[str] = field(default_factory=list)


@dataclass
class _Fitted:
    """One family's model and its evaluation, as the run logs them."""

    model: ScanModel
    rounds: int
    evaluation: FamilyEvaluation


def _fit_and_evaluate(
    spec: ScanSpec, split: TemporalSplit, fraction: float, family: Any, **options: Any
) -> _Fitted:
    model, rounds = fit_scan_model(spec, split, family=family, **options)
    set_operating_threshold(model, split, fraction)
    return _Fitted(model, rounds, evaluate_model(model, split, seed=options.get("seed", 0)))


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

    ``dask_scheduler`` (an address such as ``tcp://10.0.0.5:8786``) fits the LightGBM booster on that Dask
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
    fraction = flag_fraction(
        split.validation,
        table.time,
        spec.capacity.investigations_per_week,
        source.fractions(split.validation[table.time]),
    )
    options = {"ipw": ipw, "seed": seed, "register": register, "dask_scheduler": dask_scheduler}
    this = _fit_and_evaluate(spec, split, fraction, spec.model.family, **options)
    progress(f"[{spec.id}] {_describe(this, spec)} (registered)")
    other = _fit_and_evaluate(spec, split, fraction, other_family(spec.model.family), **options)
    progress(f"[{spec.id}] {_describe(other, spec)} (comparison, not registered)")
    this.model.meta.update(
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
        this,
        other,
        ipw,
        fraction,
        progress,
        register=register,
        dask_scheduler=dask_scheduler,
    )


def _describe(fitted: _Fitted, spec: ScanSpec) -> str:
    m, ci = fitted.evaluation.metrics, fitted.evaluation.intervals
    size = (
        f"{fitted.rounds} trees (depth <= {spec.model.max_depth})"
        if fitted.model.family == "lightgbm"
        else f"{fitted.rounds} solver iterations"
    )
    # Undefined, not zero, when no control case lies above the threshold.
    undefined = "undefined (too few control cases)"
    return (
        f"{fitted.model.family}: {size}; test ROC-AUC {m.get('test_roc_auc', float('nan')):.3f}; control "
        f"precision at capacity {fmt.interval(ci['precision_at_op'], missing=undefined)}, "
        f"lift {fmt.number(ci['lift'].estimate, 2, missing=undefined)}"
    )


def _interval_metrics(prefix: str, intervals: dict[str, Any]) -> dict[str, float]:
    return {
        f"{prefix}_{k}_ci_{side}": getattr(v, side)
        for k, v in intervals.items()
        for side in ("low", "high")
        if np.isfinite(getattr(v, side))
    }


def _run_metrics(this: _Fitted, other: _Fitted, fraction: float) -> dict[str, float]:
    """The run's metrics: the registered family's as before, the other family's prefixed ``other_``."""
    metrics = {
        **this.evaluation.metrics,
        **_interval_metrics("control", this.evaluation.intervals),
        "flag_fraction_target": fraction,
        **{f"other_{k}": v for k, v in other.evaluation.metrics.items()},
        **_interval_metrics("other_control", other.evaluation.intervals),
        "other_threshold": other.model.threshold,
    }
    metrics["best_iteration" if this.model.family == "lightgbm" else "solver_iterations"] = float(this.rounds)
    return metrics


def _log_datasets(spec: ScanSpec, source: SourceTable, split: TemporalSplit) -> None:
    """The three parts of the split as MLflow datasets, all from one declared source (the table's file).

    MLflow infers each dataset's schema from its frame and warns about every integer column (an integer
    cannot hold a missing value), so counts are logged as doubles, as MLflow advises; the label as a boolean.
    """
    label = spec.label.column
    data_source = registry.dataset_source(source.path)
    for context, frame in (
        ("training", split.train_labelled),
        ("validation", split.validation_labelled),
        ("testing", split.test_labelled),
    ):
        logged = frame[[*spec.features, label]].astype({label: bool})
        integers = [c for c in spec.features if pd.api.types.is_integer_dtype(logged[c])]
        dataset = mlflow.data.from_pandas(  # type: ignore[attr-defined]
            logged.astype(dict.fromkeys(integers, "float64")),
            source=data_source,
            name=f"{spec.table}-{context}",
            targets=label,
        )
        mlflow.log_input(dataset, context=context)


def _log_run(
    spec: ScanSpec,
    source: SourceTable,
    split: TemporalSplit,
    this: _Fitted,
    other: _Fitted,
    ipw: bool,
    fraction: float,
    progress: Any,
    *,
    register: FeatureRegister,
    dask_scheduler: str | None = None,
) -> TrainResult:
    model = this.model
    # Under `mlflow run` the project has already started the run (MLFLOW_RUN_ID) in the experiment it was
    # given; naming another experiment would be refused, so only a run of our own gets the scan's experiment.
    experiment = None if os.environ.get("MLFLOW_RUN_ID") else registry.experiment_id(spec.id)
    tags = {
        "scan": spec.id,
        "model_family": model.family,
        "register_hash": model.features.register_hash,
        "spec_hash": spec.content_hash,
        "git_commit": registry.git_commit(),
        "dataset_sha256": source.sha256,
        "ipw": str(ipw).lower(),
        # Which engine fitted the booster: a Dask fit differs slightly (training/distributed.py says how).
        "training_engine": "local" if dask_scheduler is None else "dask",
        **({"dask_scheduler": dask_scheduler} if dask_scheduler is not None else {}),
    }
    comparison = family_comparison(this.evaluation, other.evaluation)
    with mlflow.start_run(experiment_id=experiment, run_name=f"train-{spec.id}", tags=tags) as run:
        mlflow.log_params(
            {
                **{f"model_{k}": v for k, v in spec.model.model_dump().items()},
                "other_family": other.model.family,
                "capacity_per_week": spec.capacity.investigations_per_week,
                "flag_fraction": round(fraction, 6),
                "threshold": round(model.threshold, 6),
                "ipw": ipw,
                "n_features": len(spec.features),
                **{f"split_{k}": v for k, v in split.boundaries.items()},
                "excluded_windows": "; ".join(f"{w.start}..{w.end}" for w in spec.excluded_windows),
            }
        )
        mlflow.log_metrics(_run_metrics(this, other, fraction))
        _log_datasets(spec, source, split)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            _write_evaluation(spec, split, this, other, comparison, out)
            mlflow.log_artifacts(str(out), artifact_path="evaluation")
            artifacts = sorted(p.name for p in out.iterdir())
            other.model.save(Path(tmp) / "other" / "scan_model")
            mlflow.log_artifacts(str(Path(tmp) / "other"), artifact_path="other_family")
        info = registry.log_scan_model(model, split.test_labelled, register=register)
        version = registry.register_candidate(spec.id, info, {**tags, "run_id": run.info.run_id}, register)
    progress(
        f"[{spec.id}] registered {registry.model_name(spec.id)} version {version.version} (status=candidate)"
    )
    return TrainResult(
        scan=spec.id,
        run_id=run.info.run_id,
        version=str(version.version),
        family=model.family,
        threshold=model.threshold,
        flag_fraction=fraction,
        metrics=this.evaluation.metrics,
        control_intervals={k: v.as_dict() for k, v in this.evaluation.intervals.items()},
        comparison={
            "family": other.model.family,
            "threshold": other.model.threshold,
            "metrics": other.evaluation.metrics,
            "control_intervals": {k: v.as_dict() for k, v in other.evaluation.intervals.items()},
        },
        family_comparison=comparison,
        boundaries=split.boundaries,
        ipw=ipw,
        artifacts=artifacts,
    )


def _write_evaluation(
    spec: ScanSpec,
    split: TemporalSplit,
    this: _Fitted,
    other: _Fitted,
    comparison: dict[str, Any],
    out: Path,
) -> None:
    """The run's ``evaluation/`` files: inputs, intervals, the family comparison, coefficients of a
    logistic model, the monitoring profile and the plots."""
    model = this.model

    def write(name: str, content: Any) -> None:
        (out / name).write_text(jsonio.dumps(content), encoding="utf-8")  # NaN (undefined) as null

    write(
        "input_features.json",
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
    )
    write("control_intervals.json", {k: v.as_dict() for k, v in this.evaluation.intervals.items()})
    write(Path(registry.FAMILY_COMPARISON_FILE).name, comparison)
    for fitted in (this, other):
        if isinstance(fitted.model.estimator, LinearMargin):
            write(
                "coefficients.json",
                {
                    "family_role": "registered" if fitted is this else "comparison",
                    **(fitted.model.coefficient_table() or {}),
                },
            )
    (out / PROFILE_FILE).write_text(
        json.dumps(_reference_profile(split, model).as_dict(), ensure_ascii=False), encoding="utf-8"
    )
    _training_plots(spec, split, model, this.evaluation.all_test_scores, out)


def _reference_profile(split: TemporalSplit, model: ScanModel) -> ReferenceProfile:
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
    test, control = split.test_labelled, split.control
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
    tree = model.family == "lightgbm"
    plots.shap_summary_plot(
        contributions,
        pd.DataFrame(encoded, columns=model.encoded_names),
        labels,
        out / "shap_summary.png",
        xlabel="SHAP-bijdrage (log-odds)"
        if tree
        else "Bijdrage (log-odds), coëfficiënt x (waarde - gemiddelde)",
    )
    if tree:
        importance, measure = model.booster.feature_importance("gain"), "gain"
    else:
        importance, measure = np.abs(contributions).mean(axis=0), "mean_abs_contribution"
    plots.importance_plot(
        pd.Series(importance, index=labels), out / "feature_importance.png", measure=measure
    )
    pd.DataFrame({"feature": model.encoded_names, "label": labels, measure: importance}).to_csv(
        out / "feature_importance.csv", index=False
    )
    plots.score_distribution_plot(all_test_scores, model.threshold, out / "score_distribution.png")
