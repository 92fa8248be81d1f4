"""Training on a Dask cluster (lightgbm.dask) gives an ordinary registered version close to the local one."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pytest
from distributed import LocalCluster
from sklearn.metrics import roc_auc_score

import synthetic as generator
from features.pipeline import route
from features.register import default_register
from features.sources import read_source
from models import registry
from models.specs import load_spec
from riskscan.cli import main
from riskscan.cluster import dask_client
from riskscan.errors import InvalidInput
from training.distributed import best_iteration, sklearn_params
from training.train import TemporalSplit, _lgb_params, fit_scan_model, temporal_split, train_scan

# Two workers build bins from their own rows and sum histograms, so their trees are not the local trees
# (training/distributed.py). Measured (this data, and bench_scale.py's 76k training rows): mean |difference|
# of calibrated test scores 0.002-0.003, correlation about 0.98, single cases up to about 0.1. So the
# mean, the correlation and the AUC are bounded, not every case; the bounds leave room for other seeds,
# not for a broken fit (which would miss them by an order of magnitude).
MEAN_ABS_TOLERANCE = 0.02
CORRELATION_FLOOR = 0.9
AUC_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def data_dir(
    small_tables: dict[str, generator.GeneratedTable], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("data")
    generator.write_tables(
        small_tables, out, generator.GeneratorConfig(n_applications=30_000, n_periods=40_000, seed=7)
    )
    return out


@pytest.fixture(scope="module")
def split(data_dir: Path) -> TemporalSplit:
    spec = load_spec("vw")
    scored = route(read_source(data_dir, "ww_aanvragen").frame, "vw", default_register()).scored
    return temporal_split(scored, spec, "aanvraagdatum")


@pytest.fixture(scope="module")
def two_workers() -> Iterator[LocalCluster]:
    # Worker processes: LightGBM keeps one network per process, as on separate machines.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster


def test_every_local_parameter_has_a_dask_name() -> None:
    params = sklearn_params(_lgb_params(load_spec("vw"), seed=3), num_boost_round=300)
    assert params["random_state"] == 3 and params["n_estimators"] == 300
    assert params["min_child_samples"] == load_spec("vw").model.min_child_samples
    assert "num_threads" not in params, "lightgbm.dask sets threads per worker"
    with pytest.raises(ValueError, match=r"\['bagging_fraction'\] have no mapping to the Dask trainer"):
        sklearn_params({**_lgb_params(load_spec("vw"), seed=0), "bagging_fraction": 0.5}, 10)


def test_one_worker_fit_equals_the_local_fit(split: TemporalSplit) -> None:
    """With one worker nothing is distributed, so the fit must equal lgb.train exactly. This pins down
    the parameter mapping and that the early-stopping rule applied afterwards keeps the same round."""
    spec = load_spec("vw")
    local, local_rounds = fit_scan_model(spec, split, ipw=True)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as one:
        dask, dask_rounds = fit_scan_model(spec, split, ipw=True, dask_scheduler=one.scheduler_address)
    assert dask_rounds == local_rounds
    test = split.test
    np.testing.assert_allclose(
        dask.predict_proba(test, validate=False),
        local.predict_proba(test, validate=False),
        rtol=0,
        atol=1e-12,
    )
    assert dask.calibration == local.calibration


def test_two_worker_training_registers_an_ordinary_version_close_to_local(
    data_dir: Path, split: TemporalSplit, two_workers: LocalCluster, riskscan_home: Path
) -> None:
    spec = load_spec("vw")
    local, _ = fit_scan_model(spec, split, ipw=True)
    result = train_scan(
        spec,
        read_source(data_dir, "ww_aanvragen"),
        progress=lambda _: None,
        dask_scheduler=two_workers.scheduler_address,
    )

    # An ordinary version: registered as candidate, loads through the registry, same signature.
    version = registry.get_version("vw", result.version)
    assert version.tags["status"] == "candidate"
    assert version.tags["training_engine"] == "dask"
    assert registry.run_data(result.run_id)["tags"]["training_engine"] == "dask"
    signature = registry.version_signature("vw", result.version)
    assert signature is not None
    assert signature.to_dict() == registry.signature_for(list(local.features.columns)).to_dict()
    loaded = registry.load_scan_model("vw", result.version)
    assert loaded.booster.feature_name() == local.booster.feature_name() == loaded.encoded_names
    assert loaded.threshold == pytest.approx(result.threshold)

    test = split.test_labelled
    dask_scores = loaded.predict_proba(test, validate=False)
    local_scores = local.predict_proba(test, validate=False)
    assert np.mean(np.abs(dask_scores - local_scores)) < MEAN_ABS_TOLERANCE
    assert np.corrcoef(dask_scores, local_scores)[0, 1] > CORRELATION_FLOOR
    y = test[spec.label.column].to_numpy(dtype=int)
    assert abs(roc_auc_score(y, dask_scores) - roc_auc_score(y, local_scores)) < AUC_TOLERANCE

    # Serving's path, the MLflow pyfunc, gives the same scores as the loaded ScanModel.
    pyfunc = mlflow.pyfunc.load_model(f"models:/{registry.model_name('vw')}/{result.version}")
    raw = test[list(spec.features)].head(50)
    raw = raw.astype({c.name: str for c in local.features.categorical})
    np.testing.assert_allclose(np.asarray(pyfunc.predict(raw)).ravel(), dask_scores[:50], rtol=1e-9)


def test_best_iteration_follows_lightgbm_early_stopping(split: TemporalSplit) -> None:
    """Applied to a booster that lgb.train stopped early, the rule finds the round lgb.train kept."""
    spec = load_spec("vw")
    local, rounds = fit_scan_model(spec, split, ipw=True)
    x_valid = local.encode(split.validation_labelled, validate=False)
    y_valid = split.validation_labelled[spec.label.column].to_numpy(dtype=int)
    from training.train import selection_weights

    weights = selection_weights(split.validation_labelled, True)
    assert (
        best_iteration(local.booster, x_valid, y_valid, weights, spec.model.early_stopping_rounds) == rounds
    )


def test_unreachable_scheduler_is_refused_in_one_sentence(
    data_dir: Path, riskscan_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"  # closed when the block ends
    start = time.monotonic()
    code = main(["train", "--scan", "vw", "--data", str(data_dir), "--dask-scheduler", address])
    elapsed = time.monotonic() - start
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(
        f"riskscan train: refused: cannot reach the Dask scheduler at '{address}' within 5 s"
    )
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert elapsed < 30, f"refused after {elapsed:.1f} s; the connect timeout is 5 s"
    assert not registry.versions("vw"), "nothing registered"


def test_malformed_scheduler_address_is_refused_before_connecting() -> None:
    with (
        pytest.raises(
            InvalidInput, match=r"dask scheduler address 'localhost' is not valid \(missing port number"
        ),
        dask_client("localhost"),
    ):
        pass
