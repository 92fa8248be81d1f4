"""Batch scoring on a Dask cluster gives the same scores, signals and explanations as the local path."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from distributed import LocalCluster
from distributed.protocol import deserialize, serialize

from features.pipeline import route
from features.register import default_register
from features.sources import read_source
from models.governance import GovernanceStore
from models.specs import load_spec
from riskscan.cli import main
from riskscan.cluster import dask_client
from riskscan.errors import InvalidInput
from serving.batch import champion, score_batch
from serving.batch_dask import partitions, score_partition
from serving.store import ServingStore
from tests.serving.conftest import ServedHome


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    # Two one-thread workers inside this process: a worker process would spend most of the test importing
    # lightgbm and scikit-learn. That the model survives serialisation, as it must to reach other
    # machines, is checked on its own below; training's test runs worker processes.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as local:
        yield local


def closed_port_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return f"tcp://127.0.0.1:{port}"  # nothing listens there once the socket is closed


def test_partitions_cover_every_row_once_in_order() -> None:
    for n_rows, workers, size in ((0, 2, 10), (1, 4, 10), (7, 2, 10), (95, 2, 10), (100, 3, 10)):
        parts = partitions(n_rows, workers, size)
        covered = [i for part in parts for i in range(n_rows)[part]]
        assert covered == list(range(n_rows)), (n_rows, workers, size)
        assert all(part.stop - part.start <= max(size, -(-n_rows // max(workers, 1))) for part in parts)
    assert len(partitions(100, 3, 10)) == 10, "no partition longer than partition_rows"
    assert len(partitions(100, 4, 1000)) == 4, "at least one partition per worker"


def test_scan_model_survives_the_trip_to_a_worker(at_home: ServedHome) -> None:
    model, _ = champion("vw", GovernanceStore())
    cases = route(read_source(at_home.data, "ww_aanvragen").frame.tail(500), "vw", default_register()).scored
    # What client.scatter does with the model on the way to a worker in another process or machine.
    shipped = deserialize(*serialize(model))
    np.testing.assert_array_equal(score_partition(shipped, cases), model.predict_proba(cases, validate=False))


def test_dask_scores_signals_and_explanations_equal_the_local_path(
    at_home: ServedHome, cluster: LocalCluster, tmp_path: Path
) -> None:
    spec = load_spec("vw")
    frame = read_source(at_home.data, "ww_aanvragen").frame.tail(2500)
    model, ref = champion("vw", GovernanceStore())
    store = ServingStore()  # the home's log: its rows refer to the committee decisions in the same database
    results = {}
    for engine, scheduler in (("local", None), ("dask", cluster.scheduler_address)):
        result = score_batch(
            spec,
            frame,
            tmp_path / f"{engine}.parquet",
            model=model,
            ref=ref,
            store=store,
            progress=False,
            dask_scheduler=scheduler,
        )
        results[engine] = (result, pd.read_parquet(tmp_path / f"{engine}.parquet"))
    assert store.verify_chain().ok, "the decision log stays one intact hash chain"
    store.close()

    (local, local_out), (dask, dask_out) = results["local"], results["dask"]
    assert len(dask_out) == len(local_out) == len(frame)
    key = default_register().tables[spec.table].key
    assert dask_out[key].tolist() == local_out[key].tolist(), "same cases, same order"
    scored = local_out["routed_to"].isna()
    # Same booster, same calibration, same encoded rows: the numbers are the same, not merely close.
    np.testing.assert_allclose(
        dask_out.loc[scored, "score"], local_out.loc[scored, "score"], rtol=0, atol=1e-12
    )
    for column in ("signal", "control", "control_draw", "explanation", "routed_to"):
        pd.testing.assert_series_equal(dask_out[column], local_out[column])  # NaN of routed rows equal too
    for field in ("scored", "routed", "signals", "controls", "capped_by_capacity"):
        assert getattr(dask, field) == getattr(local, field), field
    assert 0 < dask.signals < dask.scored


def test_score_batch_cli_on_dask(
    at_home: ServedHome, cluster: LocalCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "caseload.parquet"
    read_source(at_home.data, "ww_aanvragen").frame.tail(1500).to_parquet(source)
    out, report = tmp_path / "scores.parquet", tmp_path / "batch.json"
    argv = ["score-batch", "--scan", "vw", "--input", str(source), "--output", str(out), "--no-progress"]
    assert main([*argv, "--dask-scheduler", cluster.scheduler_address, "--json", str(report)]) == 0
    printed = capsys.readouterr().out
    assert f"scores computed on the Dask cluster at {cluster.scheduler_address}" in printed
    result = json.loads(report.read_text())["result"]
    assert result["scored"] == int(pd.read_parquet(out)["routed_to"].isna().sum()) > 0
    assert main(["log", "verify"]) == 0, "the shared decision log stays one intact chain"


def test_unreachable_scheduler_is_refused_in_one_sentence(
    at_home: ServedHome, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # stderr holds only the refusal
    source = tmp_path / "caseload.parquet"
    read_source(at_home.data, "ww_aanvragen").frame.tail(200).to_parquet(source)
    out = tmp_path / "scores.parquet"
    address = closed_port_address()
    start = time.monotonic()
    argv = ["score-batch", "--scan", "vw", "--input", str(source), "--output", str(out), "--no-progress"]
    code = main([*argv, "--dask-scheduler", address])
    elapsed = time.monotonic() - start
    err = capsys.readouterr().err
    assert code == 2
    assert f"cannot reach the Dask scheduler at '{address}' within 5 s" in err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.strip()] == [
        f"riskscan score-batch: refused: cannot reach the Dask scheduler at '{address}' within 5 s (OSError); "
        f"start one with 'dask scheduler' and 'dask worker {address}', or leave out --dask-scheduler to run "
        "on this machine"
    ]
    assert elapsed < 20, f"refused after {elapsed:.1f} s; the connect timeout is 5 s"
    assert not out.exists(), "nothing is written when the cluster cannot be reached"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("", "it is empty"),
        ("scheduler-zonder-poort", "missing port number"),
        ("http://127.0.0.1:8786", "unknown address scheme 'http'"),
    ],
)
def test_malformed_scheduler_address_is_refused_before_connecting(address: str, reason: str) -> None:
    refusal = rf"dask scheduler address '{address}' is not valid \({reason}"
    with pytest.raises(InvalidInput, match=refusal), dask_client(address):
        pass
