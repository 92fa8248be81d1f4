"""The serving rules without HTTP: exact explanations, validation, routing, withdrawal, log-or-fail."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.sources import read_source
from models.specs import load_spec
from riskscan.errors import InvalidInput, Unavailable
from serving.http_errors import refusal_body, status_for
from serving.requests import validate_body
from serving.runtime import ScanRuntime
from serving.scoring import (
    CONTROL_KEY_ENV,
    PREDICT_THREADS_ENV,
    control_draw,
    control_draws,
    control_key,
    small_request_threads,
)
from tests.serving.conftest import ServedHome, caseload


@pytest.fixture
def runtime(at_home: ServedHome) -> ScanRuntime:
    return ScanRuntime()


@pytest.mark.parametrize("scan", ["vw", "sollicitatie"])
def test_explanations_sum_to_the_raw_margin(runtime: ScanRuntime, served_home: ServedHome, scan: str) -> None:
    cases = caseload(served_home, scan, 30)
    response = runtime.score(scan, cases, top_n=0)
    model = runtime.states[scan].model
    assert model is not None
    for result in response["results"]:
        assert len(result["explanation"]) == len(model.features.names), "top_n 0 returns every feature"
        total = result["base_value"] + sum(e["contribution"] for e in result["explanation"])
        assert total == pytest.approx(result["margin"], abs=1e-9)
        assert model.calibration.apply(np.array([result["margin"]]))[0] == pytest.approx(result["score"])
        assert result["explanation_scale"].startswith("log-odds")
        labels = {e["label"] for e in result["explanation"]}
        assert all(label and label[0].isupper() for label in labels)
    frame = pd.DataFrame(cases).drop(columns=["case_id"])
    direct = model.margin(frame.astype({c.name: object for c in model.features.categorical}), validate=False)
    assert np.allclose(direct, [r["margin"] for r in response["results"]])


def test_top_n_keeps_the_largest_contributions(runtime: ScanRuntime, served_home: ServedHome) -> None:
    case = caseload(served_home, "vw", 1)
    full = runtime.score("vw", [{**case[0], "case_id": "top-n-full"}], top_n=0)["results"][0]
    top = runtime.score("vw", [{**case[0], "case_id": "top-n-3"}], top_n=3)["results"][0]
    largest = sorted(full["explanation"], key=lambda e: -abs(e["contribution"]))[:3]
    assert [e["feature"] for e in top["explanation"]] == [e["feature"] for e in largest]
    shown = sum(e["contribution"] for e in top["explanation"])
    assert top["base_value"] + shown + top["rest_contribution"] == pytest.approx(top["margin"])


def test_result_names_the_model_and_says_a_signal_is_not_a_decision(
    runtime: ScanRuntime, served_home: ServedHome
) -> None:
    result = runtime.score("vw", caseload(served_home, "vw", 1))["results"][0]
    assert result["model"]["name"] == "riskscan-vw"
    assert result["model"]["version"] == served_home.versions["vw"]
    assert len(result["model"]["audit_sha256"]) == 64
    assert isinstance(result["model"]["decision_id"], int)
    assert "geen besluit" in result["notice"]
    logged = runtime.store.get_score(result["request_id"])
    assert logged is not None and logged.score == pytest.approx(result["score"])


def test_invalid_cases_get_field_value_and_expectation(runtime: ScanRuntime, served_home: ServedHome) -> None:
    good = caseload(served_home, "vw", 1)[0]
    bad = [
        {**good, "case_id": "bad-category", "reden_einde_dienstverband": "ontslagen"},
        {**good, "case_id": "bad-type", "dagloon": "honderd"},
        {**good, "case_id": "bad-range", "weken_gewerkt_36": 40},
        {k: v for k, v in {**good, "case_id": "missing"}.items() if k != "sector"},
        {**good, "case_id": "forbidden", "nationaliteit": "nederlands"},
    ]
    before = len(runtime.store.cases(scan="vw"))
    with pytest.raises(InvalidInput) as excinfo:
        runtime.score("vw", bad)
    assert status_for(excinfo.value) == 422
    problems = {(p["case_id"], p["field"]): p for p in refusal_body(excinfo.value)["problems"]}
    assert problems[("bad-category", "reden_einde_dienstverband")]["value"] == "ontslagen"
    assert "one of: bedrijfseconomisch" in problems[("bad-category", "reden_einde_dienstverband")]["expected"]
    assert problems[("bad-type", "dagloon")]["value"] == "honderd"
    assert problems[("bad-range", "weken_gewerkt_36")]["expected"] == "an integer in [0, 36]"
    assert problems[("missing", "sector")]["value"] is None
    assert "no field 'nationaliteit'" in problems[("forbidden", "nationaliteit")]["expected"]
    assert len(runtime.store.cases(scan="vw")) == before, "nothing of a refused request is logged"


def test_request_limits_and_unknown_scan(runtime: ScanRuntime, served_home: ServedHome) -> None:
    case = caseload(served_home, "vw", 1)[0]
    with pytest.raises(InvalidInput) as too_many:
        runtime.score("vw", [{**case, "case_id": str(i)} for i in range(1001)])
    assert status_for(too_many.value) == 413
    with pytest.raises(InvalidInput) as unknown:
        runtime.score("ziekte", [case])
    assert (
        status_for(unknown.value) == 400 and "unknown scan 'ziekte'" in refusal_body(unknown.value)["error"]
    )
    with pytest.raises(InvalidInput) as empty:
        runtime.score("vw", [])
    assert status_for(empty.value) == 400


def test_wajong_applicants_are_routed_not_scored(runtime: ScanRuntime, served_home: ServedHome) -> None:
    case = {**caseload(served_home, "vw", 1)[0], "case_id": "wajong-case", "wajong": True}
    result = runtime.score("vw", [case])["results"][0]
    assert result["score"] is None and result["signal"] is False
    assert result["routed_to"] == "arbeidsdeskundige"
    assert runtime.store.cases(scan="vw", limit=None)[-1].case_id != "wajong-case"


def test_a_failed_log_write_fails_the_request(
    runtime: ScanRuntime, served_home: ServedHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(rows: object) -> list[object]:
        raise OSError("disk full")

    monkeypatch.setattr(runtime.store, "append_request_ids", broken)
    with pytest.raises(Unavailable) as excinfo:
        runtime.score("vw", caseload(served_home, "vw", 2))
    assert status_for(excinfo.value) == 503
    assert "no score was released" in refusal_body(excinfo.value)["error"]
    assert "results" not in refusal_body(excinfo.value)


def test_control_draw_is_reproducible_and_near_its_share(runtime: ScanRuntime) -> None:
    key = b"test-control-key"
    assert control_draw(key, "vw", "A1") == control_draw(key, "vw", "A1")
    assert control_draw(key, "vw", "A1") != control_draw(b"other", "vw", "A1")
    draws = np.array([control_draw(key, "vw", f"case-{i}") for i in range(20_000)])
    share = load_spec("vw").random_control_share
    assert abs((draws < share).mean() - share) < 0.006


def test_control_draw_is_the_documented_hmac() -> None:
    """The precomputed hash states give exactly HMAC-SHA256(key, scan|case_id), for any key length."""
    for key in (b"k", b"x" * 64, b"y" * 65, "sleutel-ĳ".encode() * 20):
        for scan, case_id in (("vw", "A1"), ("sollicitatie", "Ĳssel-7"), ("vw", "")):
            digest = hmac.new(key, f"{scan}|{case_id}".encode(), hashlib.sha256).digest()
            assert control_draw(key, scan, case_id) == int.from_bytes(digest[:8], "big") / 2**64


def test_the_batch_draws_are_the_draws_of_one_case() -> None:
    key = b"test-control-key"
    case_ids = [f"case-{i}" for i in range(2_000)] + ["", "Ĳssel-7"]
    draws = control_draws(key, "vw", case_ids)
    assert draws.dtype == np.float64
    assert draws.tolist() == [control_draw(key, "vw", case_id) for case_id in case_ids]
    assert control_draws(key, "vw", []).shape == (0,)


@pytest.mark.parametrize(("value", "threads"), [(None, 1), ("1", 1), ("0", 0), ("2", 2)])
def test_predict_threads_default_to_one_and_zero_means_lightgbms_default(
    monkeypatch: pytest.MonkeyPatch, value: str | None, threads: int
) -> None:
    small_request_threads.cache_clear()
    if value is None:
        monkeypatch.delenv(PREDICT_THREADS_ENV, raising=False)
    else:
        monkeypatch.setenv(PREDICT_THREADS_ENV, value)
    try:
        assert small_request_threads() == threads
    finally:
        small_request_threads.cache_clear()


@pytest.mark.parametrize("value", ["-1", "two", "1.5", ""])
def test_a_bad_predict_threads_setting_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    small_request_threads.cache_clear()
    monkeypatch.setenv(PREDICT_THREADS_ENV, value)
    try:
        with pytest.raises(InvalidInput, match=PREDICT_THREADS_ENV) as refused:
            small_request_threads()
        assert refused.value.details["value"] == value
    finally:
        small_request_threads.cache_clear()


def test_workers_starting_together_share_one_control_key(
    riskscan_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CONTROL_KEY_ENV, raising=False)
    start = threading.Barrier(8)
    keys: list[bytes] = []

    def worker() -> None:
        start.wait()
        keys.append(control_key())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1 and len(keys[0]) == 64
    assert [path.name for path in riskscan_home.iterdir() if "control" in path.name] == ["control.key"]
    assert (riskscan_home / "control.key").stat().st_mode & 0o777 == 0o600


def test_record_encoding_matches_the_pipeline(runtime: ScanRuntime, served_home: ServedHome) -> None:
    model = runtime.states["sollicitatie"].model
    assert model is not None
    frame = read_source(served_home.data, "ww_sollicitatieperiodes").frame.head(500)
    records = frame[model.features.names].astype(object).where(frame[model.features.names].notna(), None)
    fast = model.encode_records([{str(k): v for k, v in row.items()} for row in records.to_dict("records")])
    slow = model.encode(frame, validate=False)
    assert np.allclose(fast, slow, equal_nan=True)


def test_withdrawn_scan_answers_503_with_reason_and_date(
    runtime: ScanRuntime, served_home: ServedHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runtime honours a withdrawal at reload (the gate's own withdrawal is tested end to end over HTTP)."""
    from datetime import UTC, datetime

    from models.governance import WithdrawalRecord

    record = WithdrawalRecord(
        id=999,
        scan="sollicitatie",
        version=served_home.versions["sollicitatie"],
        reason="test: unlawful input found",
        withdrawn_by="test",
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    real = runtime.governance.active_withdrawal
    monkeypatch.setattr(
        runtime.governance, "active_withdrawal", lambda scan: record if scan == "sollicitatie" else real(scan)
    )
    runtime.reload()
    with pytest.raises(Unavailable) as excinfo:
        runtime.score("sollicitatie", caseload(served_home, "sollicitatie", 1))
    assert status_for(excinfo.value) == 503
    body = refusal_body(excinfo.value)
    assert body["error"] == "scan 'sollicitatie' was withdrawn: test: unlawful input found"
    assert body["since"] == "2026-11-01T00:00:00+00:00"
    assert runtime.score("vw", caseload(served_home, "vw", 1))["results"], "other scans keep serving"


@pytest.mark.parametrize("scan", ["vw", "sollicitatie"])
def test_cases_the_gate_validated_are_not_validated_again_but_read_as_they_are(
    runtime: ScanRuntime, served_home: ServedHome, scan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = caseload(served_home, scan, 3)
    body = validate_body("/score", json.dumps({"scan": scan, "cases": cases}).encode())
    state = runtime.state(scan)
    assert state.gate_validates, "the API's request model checks the champion's own fields"
    plain = runtime.score(scan, cases)
    calls: list[object] = []

    def validate(*args: object) -> list[dict[str, Any]]:
        calls.append(args)
        return []

    monkeypatch.setattr(runtime, "_validate", validate)
    read = runtime.score(scan, cases, validated=body.cases)
    assert calls == [], "not validated a second time"

    def without_ids(answer: dict[str, Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in result.items() if k != "request_id"} for result in answer["results"]]

    assert without_ids(read) == without_ids(plain)


def test_a_champion_whose_fields_the_gate_does_not_check_alike_is_validated_again(
    runtime: ScanRuntime, served_home: ServedHome
) -> None:
    cases = caseload(served_home, "vw", 2)
    body = validate_body("/score", json.dumps({"scan": "vw", "cases": cases}).encode())
    runtime.state("vw").gate_validates = False
    wrong = [{**cases[0], "leeftijd": "41"}, cases[1]]
    with pytest.raises(InvalidInput, match="nothing was scored or logged"):
        runtime.score("vw", wrong, validated=body.cases)
