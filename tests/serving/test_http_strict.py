"""Strict input over real HTTP (issue 13, defects 9 and 10): one case id from request to log to draw, no
silent coercion, unknown fields refused by name."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from serving.scoring import control_draw
from serving.store import ServingStore
from tests.lifecycle import CONTROL_KEY
from tests.serving.conftest import ServedHome, Server, caseload


def refused_fields(response: httpx.Response) -> list[str | None]:
    assert response.status_code == 422, response.text
    return [problem["field"] for problem in response.json()["problems"]]


def score(server: Server, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}/score", json=body, headers=server.headers("systeem"), timeout=30)


@pytest.mark.parametrize("case_id", ["  padded-1  ", " padded-2", "padded-3\n", "   ", ""])
def test_a_padded_or_blank_case_id_is_a_422_naming_case_id(server: Server, case_id: str) -> None:
    case = {**caseload(server.home, "vw", 1)[0], "case_id": case_id}
    response = score(server, {"scan": "vw", "cases": [case]})
    assert refused_fields(response) == ["case_id"], "a client error, not a 503 'log could not be written'"
    assert response.json()["problems"][0]["value"] == case_id


def test_the_returned_logged_and_drawn_case_id_are_one_string(server: Server, at_home: ServedHome) -> None:
    case = {**caseload(server.home, "vw", 1)[0], "case_id": "id with inner  spaces-7"}
    response = score(server, {"scan": "vw", "cases": [case]})
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert result["case_id"] == case["case_id"]
    logged = ServingStore().get_score(result["request_id"])
    assert logged is not None and logged.case_id == case["case_id"]
    assert logged.control_draw == control_draw(CONTROL_KEY.encode(), "vw", case["case_id"]), (
        "an auditor recomputes the draw from the logged id"
    )


@pytest.mark.parametrize("violation", ["yes", "y", "on", "1", 1, "true", None])
def test_a_flag_that_is_not_true_or_false_is_refused(server: Server, violation: object) -> None:
    response = httpx.post(
        f"{server.url}/outcome",
        headers=server.headers("handhaving"),
        json={
            "request_id": "0" * 32,
            "violation": violation,
            "hoor_en_wederhoor": True,
            "investigator": "T. Tester",
        },
    )
    assert refused_fields(response) == ["violation"]


@pytest.mark.parametrize("top_n", ["5", 5.5, True, -1, 51])
def test_top_n_must_be_a_whole_number_in_range(server: Server, top_n: object) -> None:
    response = score(server, {"scan": "vw", "cases": caseload(server.home, "vw", 1), "top_n": top_n})
    assert refused_fields(response) == ["top_n"]


@pytest.mark.parametrize(
    ("path", "role", "body"),
    [
        ("/score", "systeem", {"scan": "vw", "cases": [], "priority": "high"}),
        (
            "/outcome",
            "handhaving",
            {
                "request_id": "0" * 32,
                "violation": False,
                "hoor_en_wederhoor": True,
                "investigator": "T. Tester",
                "investigator_id": 7,
            },
        ),
        ("/reload", "admin", {"force": True}),
    ],
)
def test_an_unknown_top_level_field_is_refused_by_name(
    server: Server, path: str, role: str, body: dict[str, Any]
) -> None:
    response = httpx.post(f"{server.url}{path}", json=body, headers=server.headers(role))
    unknown = next(
        name
        for name in body
        if name not in ("scan", "cases", "request_id", "violation", "hoor_en_wederhoor", "investigator")
    )
    assert unknown in refused_fields(response)
    problem = next(p for p in response.json()["problems"] if p["field"] == unknown)
    assert problem["expected"].startswith(f"no field '{unknown}'")


def test_an_unknown_field_in_a_case_and_a_case_of_another_scan_are_refused(server: Server) -> None:
    vw_case = caseload(server.home, "vw", 1)[0]
    response = score(server, {"scan": "vw", "cases": [{**vw_case, "nationaliteit": "NL"}]})
    assert refused_fields(response) == ["nationaliteit"]
    other = score(server, {"scan": "sollicitatie", "cases": [vw_case]})
    assert other.status_code == 422 and {"dagloon", "activiteiten_gemeld"} & set(refused_fields(other))


def test_a_case_sent_twice_is_scored_and_logged_twice(server: Server) -> None:
    case = {**caseload(server.home, "vw", 1)[0], "case_id": "sent-twice-1"}
    response = score(server, {"scan": "vw", "cases": [case, case]})
    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert first["case_id"] == second["case_id"] == case["case_id"]
    assert first["request_id"] != second["request_id"] and first["control"] == second["control"]
