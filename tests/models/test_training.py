"""Training: temporal split, censored windows, pyfunc probabilities, the register lock at registration, both
model families on one split, and a run that prints nothing but its own progress."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

import synthetic as generator
from features.sources import read_source
from models import registry
from models.specs import load_spec
from riskscan import jsonio
from riskscan.errors import ForbiddenColumn
from training.train import TrainResult, temporal_split, train_scan


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data")
    config = generator.GeneratorConfig(n_applications=60_000, n_periods=60_000, seed=11)
    generator.write_tables(generator.generate(config), out, config)
    return out


@dataclass
class Noise:
    """What a training run said besides its own progress lines."""

    warnings: list[warnings.WarningMessage]
    log_records: list[logging.LogRecord]
    stderr: str


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def noisy_training(
    data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainResult, str, Noise]:
    """One VW training run, with every warning, every WARNING log line and all of stderr recorded."""
    home_dir = tmp_path_factory.mktemp("home")
    handler = _Records()
    logging.getLogger().addHandler(handler)
    stderr = io.StringIO()
    try:
        with (
            pytest.MonkeyPatch.context() as mp,
            warnings.catch_warnings(record=True) as caught,
            contextlib.redirect_stderr(stderr),
        ):
            warnings.simplefilter("always")
            mp.setenv("RISKSCAN_HOME", str(home_dir))
            mp.delenv("MLFLOW_TRACKING_URI", raising=False)
            result = train_scan(
                load_spec("vw"), read_source(data_dir, "ww_aanvragen"), progress=lambda _: None
            )
    finally:
        logging.getLogger().removeHandler(handler)
    return (
        result,
        f"sqlite:///{home_dir / 'mlflow.db'}",
        Noise(list(caught), handler.records, stderr.getvalue()),
    )


@pytest.fixture(scope="module")
def trained(noisy_training: tuple[TrainResult, str, Noise]) -> tuple[TrainResult, str]:
    return noisy_training[0], noisy_training[1]


def test_a_training_run_emits_no_mlflow_or_sklearn_warnings(
    noisy_training: tuple[TrainResult, str, Noise],
) -> None:
    """The warnings `make demo` printed three times per run (dataset source, integer schema, pip version,
    one-class ROC-AUC in the bootstrap, "Registered model ... already exists") are fixed at their cause."""
    _, _, noise = noisy_training
    ours = [
        w
        for w in noise.warnings
        if issubclass(w.category, UserWarning) and ("mlflow" in w.filename or "sklearn" in w.filename)
    ]
    assert not ours, [f"{w.filename}: {w.message}" for w in ours]
    mlflow_lines = [r.getMessage() for r in noise.log_records if r.name.startswith("mlflow")]
    assert not mlflow_lines
    for text in (
        "pip",
        "interpreted in multiple ways",
        "Integer columns",
        "Registered model",
        "Created version",
    ):
        assert text not in noise.stderr


def test_both_families_are_fitted_and_compared_on_the_control_sample(
    trained: tuple[TrainResult, str],
) -> None:
    result, uri = trained
    assert result.family == "lightgbm" and result.comparison["family"] == "logistic"
    comparison = result.family_comparison
    assert set(comparison) == {"this", "other"}
    assert [comparison[r]["family"] for r in ("this", "other")] == ["lightgbm", "logistic"]
    for role in ("this", "other"):
        assert set(comparison[role]) == {"family", "precision_at_op", "lift"}
        for metric in ("precision_at_op", "lift"):
            figure = comparison[role][metric]
            assert set(figure) == {"estimate", "low", "high"}
            assert figure["low"] <= figure["estimate"] <= figure["high"]
    assert comparison["this"]["precision_at_op"] == result.control_intervals["precision_at_op"]
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    logged = json.loads(
        Path(client.download_artifacts(result.run_id, "evaluation/family_comparison.json")).read_text()
    )
    assert logged == jsonio.json_safe(comparison)
    assert "other_family/scan_model/linear_head.skops" in {
        f.path for f in client.list_artifacts(result.run_id, "other_family/scan_model")
    }


def test_temporal_split_never_mixes_months(data_dir: Path) -> None:
    spec = load_spec("vw")
    frame = read_source(data_dir, "ww_aanvragen").frame
    split = temporal_split(frame, spec, "aanvraagdatum")
    assert split.train["aanvraagdatum"].max() < split.validation["aanvraagdatum"].min()
    assert split.validation["aanvraagdatum"].max() < split.test["aanvraagdatum"].min()
    assert split.test["aanvraagdatum"].dt.to_period("M").nunique() == spec.split.test_months
    assert len(split.train) + len(split.validation) + len(split.test) == len(frame)


def test_censored_window_is_excluded_from_labels(data_dir: Path) -> None:
    spec = load_spec("vw")
    split = temporal_split(read_source(data_dir, "ww_aanvragen").frame, spec, "aanvraagdatum")
    dates = split.train_labelled["aanvraagdatum"]
    in_window = (dates >= "2020-03-15") & (dates < "2020-09-01")
    assert not in_window.any()
    all_dates = split.train["aanvraagdatum"]
    assert ((all_dates >= "2020-03-15") & (all_dates < "2020-09-01")).any(), (
        "window rows exist before exclusion"
    )


def test_only_investigated_cases_are_labelled(data_dir: Path) -> None:
    split = temporal_split(read_source(data_dir, "ww_aanvragen").frame, load_spec("vw"), "aanvraagdatum")
    assert split.train_labelled["onderzocht"].all()
    assert split.train_labelled["maatregel_vw"].notna().all()


def test_registered_model_loads_through_pyfunc_and_returns_probabilities(
    trained: tuple[TrainResult, str], data_dir: Path
) -> None:
    result, uri = trained
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    model = mlflow.pyfunc.load_model(f"models:/riskscan-vw/{result.version}")
    frame = read_source(data_dir, "ww_aanvragen").frame
    raw = frame.loc[~frame["wajong"], load_spec("vw").features].head(200)
    raw = raw.astype({c: str for c in raw.columns if isinstance(raw[c].dtype, pd.CategoricalDtype)})
    scores = np.asarray(model.predict(raw)).ravel()
    assert scores.shape == (200,)
    assert ((scores > 0) & (scores < 1)).all()
    assert len(np.unique(scores)) > 10, "probabilities, not class labels"


def test_run_records_hashes_dataset_and_metrics(trained: tuple[TrainResult, str]) -> None:
    result, uri = trained
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.get_run(result.run_id)
    for tag in ("register_hash", "spec_hash", "git_commit", "dataset_sha256"):
        assert run.data.tags[tag]
    for metric in (
        "test_roc_auc",
        "test_pr_auc",
        "test_brier",
        "control_precision_at_op",
        "control_lift",
        "other_test_roc_auc",
        "other_control_precision_at_op_ci_low",
    ):
        assert metric in run.data.metrics
    assert {d.dataset.name for d in run.inputs.dataset_inputs} >= {"ww_aanvragen-training"}
    version = client.get_model_version("riskscan-vw", result.version)
    assert version.tags["status"] == "candidate"
    features_file = client.download_artifacts(result.run_id, "evaluation/input_features.json")
    assert [f["name"] for f in json.loads(Path(features_file).read_text())["features"]] == list(
        load_spec("vw").features
    )


def test_registration_refuses_a_signature_with_an_audit_only_column() -> None:
    from features.register import default_register

    columns = [default_register()[n] for n in ("sector", "nationaliteit")]
    with pytest.raises(ForbiddenColumn, match="nationaliteit"):
        registry.check_signature("vw", registry.signature_for(columns))


def test_spec_listing_nationality_fails_to_train(data_dir: Path) -> None:
    from riskscan.errors import ConfigError

    with pytest.raises(ConfigError, match="'nationaliteit' has register role 'audit_only'"):
        load_spec("vw").with_features([*load_spec("vw").features, "nationaliteit"])


@pytest.mark.postgres
def test_tracking_and_registry_work_on_postgresql(data_dir: Path, tmp_path: Path) -> None:
    from tests.postgres import temporary_database

    with temporary_database() as url, pytest.MonkeyPatch.context() as mp:
        mp.setenv("RISKSCAN_HOME", str(tmp_path))
        mp.setenv("MLFLOW_TRACKING_URI", url)
        result = train_scan(
            load_spec("sollicitatie"),
            read_source(data_dir, "ww_sollicitatieperiodes"),
            progress=lambda _: None,
        )
        client = mlflow.MlflowClient(tracking_uri=url, registry_uri=url)
        assert client.get_model_version("riskscan-sollicitatie", result.version).tags["status"] == "candidate"
        assert client.get_run(result.run_id).data.metrics["test_roc_auc"] > 0.5
        assert (tmp_path / "mlartifacts").is_dir(), "artifacts stay in the home folder"
