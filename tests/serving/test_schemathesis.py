"""Property-based API tests from the service's own OpenAPI document: no input may cause a 500."""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.serving.conftest import Server

ROLES = ("systeem", "handhaving", None)  # allowed everywhere but /reload, /outcome only, no token at all


def test_no_generated_request_causes_a_server_error(server: Server) -> None:
    spec = httpx.get(f"{server.url}/docs.json").json()
    assert {"/score", "/outcome", "/reload"} <= set(spec["paths"])
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    calls = 0

    def exercise(operation: schemathesis.APIOperation, path: str, mode: schemathesis.GenerationMode) -> None:
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: schemathesis.Case) -> None:
            nonlocal calls
            for role in ROLES:
                headers = server.headers(role) if role else {}
                response = case.call(base_url=server.url, headers=headers, timeout=30)
                calls += 1
                try:
                    case.validate_response(response, checks=[not_a_server_error], headers=headers)
                except AssertionError as exc:  # collect, so one run shows every kind of failure
                    failures.append(f"{path} ({mode.value}, {role}): {str(exc)[:300]}")

        run()

    for path in ("/score", "/outcome", "/reload"):
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            exercise(schema[path]["POST"], path, mode)
    assert calls > 100
    assert not failures, "\n".join(failures[:5])


def test_case_list_rejects_garbage_without_500(server: Server) -> None:
    for params in ({"scan": "x"}, {"scan": "vw", "from": "x"}, {"scan": "vw", "limit": "-1"}, {}):
        response = httpx.get(f"{server.url}/cases", params=params, headers=server.headers("committee"))
        assert 400 <= response.status_code < 500, (params, response.status_code, response.text)
