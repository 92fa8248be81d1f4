"""The BentoML service over real HTTP: auth and roles, scoring, outcomes, cases, reload, withdrawal."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.serving.conftest import Server, caseload


def test_health_checks_need_no_token(server: Server) -> None:
    assert httpx.get(f"{server.url}/readyz").status_code == 200
    assert httpx.get(f"{server.url}/healthz").status_code == 200


@pytest.mark.parametrize("path", ["/score", "/outcome", "/reload"])
def test_missing_and_bad_tokens_get_401(server: Server, path: str) -> None:
    assert httpx.post(f"{server.url}{path}", json={}).status_code == 401, "authenticated before validated"
    missing = httpx.post(f"{server.url}/score", json={"scan": "vw", "cases": caseload(server.home, "vw", 1)})
    assert missing.status_code == 401
    bad = httpx.post(
        f"{server.url}/score",
        json={"scan": "vw", "cases": caseload(server.home, "vw", 1)},
        headers={"Authorization": "Bearer rs_not-a-token"},
    )
    assert bad.status_code == 401 and bad.json()["error"] == "unknown or revoked token"


def test_wrong_roles_get_403(server: Server) -> None:
    body = {"scan": "vw", "cases": caseload(server.home, "vw", 1)}
    committee = httpx.post(f"{server.url}/score", json=body, headers=server.headers("committee"))
    assert committee.status_code == 403 and "role 'committee' may not score" in committee.json()["error"]
    # /score is machine-to-machine: its answer holds the score and the control flag, which staff never see.
    staff = httpx.post(f"{server.url}/score", json=body, headers=server.headers("handhaving"))
    assert staff.status_code == 403 and "allowed roles: admin, systeem" in staff.json()["error"]
    reload = httpx.post(f"{server.url}/reload", json={}, headers=server.headers("handhaving"))
    assert reload.status_code == 403
    cases = httpx.get(f"{server.url}/cases", params={"scan": "vw"}, headers=server.headers("handhaving"))
    assert cases.status_code == 403
    assert httpx.get(f"{server.url}/cases", params={"scan": "vw"}).status_code == 401


def test_score_outcome_and_cases_round_trip(server: Server) -> None:
    cases = caseload(server.home, "vw", 5)
    response = httpx.post(
        f"{server.url}/score",
        json={"scan": "vw", "cases": cases, "top_n": 3},
        headers=server.headers("systeem"),
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["case_id"] for r in results] == [c["case_id"] for c in cases], "results keep the input order"
    first = results[0]
    assert 0 < first["score"] < 1 and len(first["explanation"]) == 3
    assert {"feature", "label", "value", "contribution"} <= set(first["explanation"][0])
    assert first["model"]["name"] == "riskscan-vw"

    refused = httpx.post(
        f"{server.url}/outcome",
        headers=server.headers("handhaving"),
        json={
            "request_id": first["request_id"],
            "violation": True,
            "hoor_en_wederhoor": False,
            "investigator": "T. Tester",
        },
    )
    assert refused.status_code == 422 and "hoor_en_wederhoor" in refused.json()["error"]
    recorded = httpx.post(
        f"{server.url}/outcome",
        headers=server.headers("handhaving"),
        json={
            "request_id": first["request_id"],
            "violation": True,
            "hoor_en_wederhoor": True,
            "sanction": "verlaging",
            "investigator": "T. Tester",
            "notes": "gehoord op 1 december",
        },
    )
    assert recorded.status_code == 200, recorded.text
    unknown = httpx.post(
        f"{server.url}/outcome",
        headers=server.headers("handhaving"),
        json={
            "request_id": "0" * 32,
            "violation": False,
            "hoor_en_wederhoor": True,
            "investigator": "T. Tester",
        },
    )
    assert unknown.status_code == 404

    listed = httpx.get(
        f"{server.url}/cases",
        headers=server.headers("committee"),
        params={"scan": "vw", "model_version": server.home.versions["vw"]},
    )
    assert listed.status_code == 200
    by_request = {c["request_id"]: c for c in listed.json()["cases"]}
    assert by_request[first["request_id"]]["status"].startswith("afgehandeld")
    bad_date = httpx.get(
        f"{server.url}/cases", headers=server.headers("committee"), params={"scan": "vw", "from": "gisteren"}
    )
    assert bad_date.status_code == 400 and "from must be an ISO date" in bad_date.json()["error"]


def test_invalid_input_is_a_4xx_naming_case_field_value(server: Server) -> None:
    case = {**caseload(server.home, "vw", 1)[0], "dagloon": "veel"}
    response = httpx.post(
        f"{server.url}/score", json={"scan": "vw", "cases": [case]}, headers=server.headers("systeem")
    )
    assert response.status_code == 422
    problem = response.json()["problems"][0]
    assert (problem["case_id"], problem["field"], problem["value"]) == (case["case_id"], "dagloon", "veel")
    assert problem["expected"] == "a number in [0, 300]"
    malformed = httpx.post(
        f"{server.url}/score",
        content=b"{not json",
        headers={**server.headers("systeem"), "Content-Type": "application/json"},
    )
    assert 400 <= malformed.status_code < 500


def test_admin_reload_reports_what_is_served(server: Server) -> None:
    response = httpx.post(f"{server.url}/reload", json={}, headers=server.headers("admin"))
    assert response.status_code == 200
    scans = response.json()["scans"]
    assert scans["vw"]["available"] and scans["vw"]["model"]["version"] == server.home.versions["vw"]


@pytest.mark.destructive
def test_withdrawal_blocks_scoring_with_503(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    from models.gate import withdraw
    from models.governance import GovernanceStore

    monkeypatch.setenv("RISKSCAN_HOME", str(server.home.path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RISKSCAN_DATABASE_URL", raising=False)
    withdraw(GovernanceStore(), scan="sollicitatie", reason="test: unlawful data source", withdrawn_by="test")
    reload = httpx.post(f"{server.url}/reload", json={}, headers=server.headers("admin"))
    assert reload.json()["scans"]["sollicitatie"]["available"] is False
    time.sleep(0.1)
    response = httpx.post(
        f"{server.url}/score",
        headers=server.headers("systeem"),
        json={"scan": "sollicitatie", "cases": caseload(server.home, "sollicitatie", 1)},
    )
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "scan 'sollicitatie' was withdrawn: test: unlawful data source"
    assert body["since"].startswith("20")
    vw = httpx.post(
        f"{server.url}/score",
        headers=server.headers("systeem"),
        json={"scan": "vw", "cases": caseload(server.home, "vw", 1)},
    )
    assert vw.status_code == 200, "a withdrawal blocks only its own scan"
