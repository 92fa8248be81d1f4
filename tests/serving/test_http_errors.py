"""One error table for both front-ends, in process: the BentoML API and the web app it mounts give every
error class the same status, a not-found is a 404 on both, and a bug is a plain 500 whose traceback goes
to the log only."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable
from datetime import date
from typing import Any, NoReturn

import numpy as np
import pytest
from sqlalchemy.exc import OperationalError
from starlette.responses import JSONResponse
from starlette.testclient import TestClient

from models.gate_reasons import GateReason, unmet
from riskscan.errors import (
    OUTAGE_RETRY_SECONDS,
    ConfigError,
    Conflict,
    Forbidden,
    ForbiddenColumn,
    GateRefusal,
    InvalidInput,
    InvalidParameter,
    MethodNotAllowed,
    NotFound,
    Overloaded,
    Problem,
    Refusal,
    RiskscanError,
    TooLarge,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
)
from riskscan.jsonio import json_safe
from serving.http_errors import BUG_BODY, answer, headers_for, refusal_body, status_for
from serving.runtime import ScanRuntime
from tests.serving.conftest import LANDING, ServedHome, bearer, caseload, sign_in

ERRORS: list[tuple[Exception, int]] = [
    (InvalidParameter("top_n must be between 0 and 50", field="top_n", value=99), 400),
    (Unauthenticated("unknown or revoked token"), 401),
    (Forbidden("role 'committee' may not score"), 403),
    (NotFound("riskscan-vw has no version 99"), 404),
    (MethodNotAllowed("PUT", "/score", ("POST",)), 405),
    (Conflict("scan 'vw' is already withdrawn"), 409),
    (
        GateRefusal("promotion of riskscan-vw version 2", [unmet(GateReason.NO_DECISION, version="2")]),
        409,
    ),
    (TooLarge("at most 1000 cases per request (got 1001)", field="cases", value=1001), 413),
    (UnsupportedMediaType("the body must be sent as application/json"), 415),
    (InvalidInput("1 invalid value(s)", [Problem("dagloon", "veel", "a number in [0, 300]", 0, "A1")]), 422),
    (ConfigError("the register is malformed"), 422),
    (ForbiddenColumn("nationaliteit", None, "as a model input"), 422),
    (Refusal("no, in one sentence"), 422),
    (Unavailable("scan 'vw' was withdrawn: test", scan="vw", since="2026-11-01T00:00:00+00:00"), 503),
    (Overloaded("the service is overloaded", retry_after=1), 503),
    (RiskscanError("the root is never raised itself"), 500),
    (KeyError("a bug"), 500),
]
IDS = [type(error).__name__ for error, _ in ERRORS]


def raising(error: Exception) -> Callable[..., NoReturn]:
    def raise_it(*args: Any, **kwargs: Any) -> NoReturn:
        raise error

    return raise_it


def expected_body(error: Exception) -> dict[str, Any]:
    return refusal_body(error) if isinstance(error, Refusal) else dict(BUG_BODY)


@pytest.mark.parametrize(("error", "status"), ERRORS, ids=IDS)
def test_the_table_gives_each_class_its_status(error: Exception, status: int) -> None:
    assert status_for(error) == status


def test_a_503_that_passes_by_itself_says_when_to_try_again() -> None:
    """An overload and an outage (a database that cannot be reached) carry ``Retry-After``; a withdrawn
    champion does not, since only a new promotion brings it back."""
    lost = OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
    status, body, headers = answer(lost, "POST /score")
    assert (status, headers) == (503, {"Retry-After": str(OUTAGE_RETRY_SECONDS)})
    assert body["retry_after"] == OUTAGE_RETRY_SECONDS and "try again later" in body["error"]
    assert answer(Overloaded("the service is overloaded", retry_after=3), "POST /score")[2] == {
        "Retry-After": "3"
    }
    assert answer(Unavailable("scan 'vw' was withdrawn: test", scan="vw"), "POST /score")[2] == {}


def test_a_refusal_body_keeps_the_shape_the_api_documents() -> None:
    invalid = InvalidInput(
        "1 invalid value(s)", [Problem("dagloon", "veel", "a number in [0, 300]", 0, "A1")]
    )
    assert refusal_body(invalid) == {
        "error": "1 invalid value(s)",
        "problems": [
            {
                "index": 0,
                "case_id": "A1",
                "field": "dagloon",
                "value": "veel",
                "expected": "a number in [0, 300]",
            }
        ],
    }
    assert refusal_body(InvalidParameter("cases must be a non-empty list", field="cases")) == {
        "error": "cases must be a non-empty list",
        "field": "cases",
    }
    many = InvalidInput.from_problems([Problem("x", i, "0") for i in range(60)])
    assert len(refusal_body(many)["problems"]) == 50 and refusal_body(many)["total"] == 60


@pytest.mark.parametrize(("error", "status"), ERRORS, ids=IDS)
def test_the_api_and_the_case_list_answer_each_class_alike(
    client: TestClient,
    runtime: ScanRuntime,
    served_home: ServedHome,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    status: int,
) -> None:
    monkeypatch.setattr(runtime, "reload", raising(error))
    monkeypatch.setattr(runtime.store, "cases", raising(error))
    api = client.post("/reload", json={}, headers=bearer(served_home, "admin"))
    cases = client.get("/cases", params={"scan": "vw"}, headers=bearer(served_home, "committee"))
    assert (api.status_code, cases.status_code) == (status, status)
    assert api.json() == cases.json() == expected_body(error)
    expected_retry = headers_for(error).get("Retry-After")
    assert api.headers.get("retry-after") == cases.headers.get("retry-after") == expected_retry


@pytest.mark.parametrize(
    ("error", "status"),
    [(e, s) for e, s in ERRORS if isinstance(e, Refusal) and not isinstance(e, Unauthenticated)],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_a_page_shows_a_refusal_at_its_status(
    client: TestClient,
    runtime: ScanRuntime,
    served_home: ServedHome,
    monkeypatch: pytest.MonkeyPatch,
    error: Refusal,
    status: int,
) -> None:
    sign_in(client, served_home, "handhaving")
    monkeypatch.setattr(runtime, "refresh_if_changed", raising(error))
    page = client.get("/ui/worklist", params={"scan": "vw"})
    assert page.status_code == status
    shown = re.search(r'<div class="error" id="error">(.*?)</div>', page.text, re.S)
    # A page words a gate refusal for people, in Dutch; the JSON body keeps the English sentence.
    expected = "Er is geen besluit van de commissie vastgelegd voor versie 2."
    assert shown and html.unescape(shown[1]) == (expected if isinstance(error, GateRefusal) else str(error))


def test_an_unauthenticated_page_goes_to_the_login_page_and_back(
    client: TestClient, runtime: ScanRuntime, served_home: ServedHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(client, served_home, "handhaving")
    monkeypatch.setattr(runtime, "refresh_if_changed", raising(Unauthenticated("token revoked")))
    page = client.get("/ui/worklist", params={"scan": "sollicitatie"})
    assert page.status_code == 303
    assert page.headers["location"] == "/ui/login?next=/ui/worklist?scan=sollicitatie"


def test_an_unknown_request_is_404_and_a_bad_value_422_on_both_front_ends(
    client: TestClient, served_home: ServedHome
) -> None:
    outcome = {"violation": False, "hoor_en_wederhoor": True, "investigator": "T. Tester"}
    unknown = client.post(
        "/outcome", json={**outcome, "request_id": "0" * 32}, headers=bearer(served_home, "handhaving")
    )
    assert unknown.status_code == 404
    assert unknown.json() == {"error": f"no scored case with request_id '{'0' * 32}'"}
    unheard = client.post(
        "/outcome",
        json={**outcome, "request_id": "0" * 32, "violation": True, "hoor_en_wederhoor": False},
        headers=bearer(served_home, "handhaving"),
    )
    assert unheard.status_code == 422 and "hoor_en_wederhoor" in unheard.json()["error"]

    csrf = sign_in(client, served_home, "handhaving")
    form = {"csrf": csrf, "request_id": "0" * 32, "scan": "vw"}
    assert client.post("/ui/outcome", data={**form, "violation": "nee"}).status_code == 404
    assert client.post("/ui/outcome", data={**form, "violation": "ja"}).status_code == 422
    assert client.post("/ui/outcome", data={**form, "violation": ""}).status_code == 422

    sign_in(client, served_home, "committee")
    missing = client.get("/ui/audits/vw/999/report")
    assert missing.status_code == 404 and "riskscan-vw" in missing.text
    assert client.get("/ui/audits/ziekte/1/comparison").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "role", "patched"),
    [
        ("POST", "/score", "systeem", "score"),
        ("GET", "/cases?scan=vw", "committee", "store.cases"),
        ("GET", "/ui/worklist?scan=vw", "handhaving", "refresh_if_changed"),
    ],
)
def test_a_bug_is_a_plain_500_with_the_traceback_only_in_the_log(
    client: TestClient,
    runtime: ScanRuntime,
    served_home: ServedHome,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    role: str,
    patched: str,
) -> None:
    if role in LANDING:
        sign_in(client, served_home, role)
    owner, _, name = patched.rpartition(".")
    monkeypatch.setattr(runtime.store if owner else runtime, name, raising(KeyError("secret_column")))
    body = {"scan": "vw", "cases": caseload(served_home, "vw", 1)} if method == "POST" else None
    with caplog.at_level(logging.ERROR, logger="riskscan.serving"):
        response = client.request(method, path, json=body, headers=bearer(served_home, role))
    assert response.status_code == 500
    assert response.json() == BUG_BODY
    assert "secret_column" not in response.text and "Traceback" not in response.text
    [record] = [r for r in caplog.records if r.name == "riskscan.serving" and r.exc_info]
    assert record.exc_info and isinstance(record.exc_info[1], KeyError)
    assert f"{method} {path.partition('?')[0]}" in record.getMessage()


@pytest.mark.parametrize(
    "body",
    [
        {"scan": "vw", "results": [{"score": 0.25, "signal": False, "label": "Één €"}]},
        {"value": float("nan"), "inf": float("-inf")},  # not JSON: null, as before
        {"numbers": np.arange(3), "scalar": np.float64(0.1), "flag": np.bool_(True)},
        {"day": date(2026, 3, 1), "pair": (1, 2)},
    ],
)
def test_an_api_answer_is_the_bytes_of_its_json_safe_form(client: TestClient, body: dict[str, Any]) -> None:
    from serving.service import _json

    assert _json(body).body == JSONResponse(json_safe(body)).body
    assert _json(body).headers["content-type"] == "application/json"
