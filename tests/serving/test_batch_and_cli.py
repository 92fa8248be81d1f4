"""Batch scoring and the serving verbs: capacity, explanations only for signals, everything logged."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from features.sources import read_source
from models import registry
from riskscan import anchors
from riskscan.cli import main
from serving.batch import capacity_limit, select_signals
from tests.serving.conftest import ServedHome


def test_select_signals_caps_at_capacity_by_score() -> None:
    import numpy as np

    scores = np.array([0.9, 0.1, 0.8, 0.7, 0.95])
    assert select_signals(scores, 0.5, 10).tolist() == [True, False, True, True, True]
    assert select_signals(scores, 0.5, 2).tolist() == [True, False, False, False, True]
    week = pd.DataFrame({"d": pd.to_datetime(["2025-01-01", "2025-01-20"])})
    assert capacity_limit(week, "d", 100) == 300  # 20 days: three weeks of capacity


def _score_batch(source: Path, output: Path, *extra: str) -> int:
    """``riskscan score-batch`` of the VW scan, without a progress bar; returns the exit code."""
    argv = ["score-batch", "--scan", "vw", "--input", str(source), "--output", str(output), "--no-progress"]
    return main([*argv, *extra])


def test_score_batch_logs_everything_and_explains_only_signals(at_home: ServedHome, tmp_path: Path) -> None:
    frame = read_source(at_home.data, "ww_aanvragen").frame.tail(3000)
    source = tmp_path / "caseload.parquet"
    frame.to_parquet(source)
    out = tmp_path / "scores.parquet"
    report = tmp_path / "batch.json"
    assert _score_batch(source, out, "--json", str(report)) == 0
    result = json.loads(report.read_text())["result"]
    scores = pd.read_parquet(out)
    scored = scores.loc[scores["routed_to"].isna()]
    assert len(scores) == len(frame)
    assert len(scored) == result["scored"] == int((~frame["wajong"]).sum())
    assert (scores.loc[scores["routed_to"].notna(), "routed_to"] == "arbeidsdeskundige").all()
    assert scored["explanation"].notna().tolist() == scored["signal"].tolist(), "explain signals only"
    assert 0 < result["signals"] < len(scored)
    cases = tmp_path / "cases.json"
    assert main(["cases", "--scan", "vw", "--json", str(cases)]) == 0
    logged = {c["request_id"] for c in json.loads(cases.read_text())["cases"]}
    assert set(scored["request_id"]) <= logged, "every scored case is in the decision log"
    # The job anchored the heads outside the database, and in an MLflow run of the scan's jobs experiment.
    written = anchors.read(anchors.default_directory())
    (anchor,) = [a for a in written if (a.source, a.table) == ("score-batch", "decision_log")][-1:]
    assert anchor.rows >= result["scored"]
    runs = registry.client().search_runs(
        [registry.experiment_id("vw", "jobs")], filter_string="tags.job = 'score-batch'"
    )
    assert anchor.head_hash in {run.data.params.get("decision_log.head_hash") for run in runs}
    # A plain date is local time, as on the web endpoint; a window in the past holds none of these cases.
    assert main(["cases", "--scan", "vw", "--to", "2000-01-01", "--json", str(cases)]) == 0
    assert json.loads(cases.read_text())["count"] == 0
    assert main(["cases", "--scan", "vw", "--from", "2000-01-01", "--json", str(cases)]) == 0
    assert {c["request_id"] for c in json.loads(cases.read_text())["cases"]} == logged


def test_score_batch_refuses_bad_input_with_the_field(
    at_home: ServedHome, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = read_source(at_home.data, "ww_aanvragen").frame.tail(50).copy()
    frame["dagloon"] = -1.0
    source = tmp_path / "bad.parquet"
    frame.to_parquet(source)
    assert _score_batch(source, tmp_path / "o.parquet") == 2
    err = capsys.readouterr().err
    assert "field 'dagloon' = -1.0; expected a number in [0, 300]" in err
    assert not (tmp_path / "o.parquet").exists()


def test_log_verify_and_tokens_from_the_command_line(
    at_home: ServedHome, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["log", "verify"]) == 0
    assert "evidence intact" in capsys.readouterr().out
    created = tmp_path / "token.json"
    assert main(["token", "create", "--role", "committee", "--name", "cli test", "--json", str(created)]) == 0
    token = json.loads(created.read_text())["token"]
    assert token.startswith("rs_")
    listing = tmp_path / "tokens.json"
    assert main(["token", "list", "--json", str(listing)]) == 0
    assert token not in listing.read_text(), "token values are never listed"
    with pytest.raises(SystemExit) as refused:  # argparse refuses an unknown role before anything runs
        main(["token", "create", "--role", "baas", "--name", "x"])
    assert refused.value.code == 2
    assert "invalid choice: 'baas'" in capsys.readouterr().err
