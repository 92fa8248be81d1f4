"""The OpenAPI 3.1 document of the API (``GET /docs.json``), written from the models that validate it.

It tells the truth by construction: the request schemas are the JSON Schemas of the pydantic models in
:mod:`serving.requests` that :mod:`serving.gate` validates every body with (enums, ranges, patterns,
``additionalProperties: false``); the responses are the statuses of :mod:`serving.http_errors`' table that
each endpoint can reach, all with one error body; the bearer scheme is declared, and the endpoints that
need none say so (``security: []``). Schemathesis runs every one of its checks against it in
``make test`` (``tests/serving/test_schemathesis.py``).

**Why the document is public.** It describes the public interface of a public-sector service: its
routes, fields, ranges and the Dutch labels the register gives them, all of which are published anyway in
the Algoritmeregister entry and the README; it holds no data, no model and no secret, and every endpoint
it describes still needs a token. Hiding it would buy no security (obscurity), and would cost the case
management system's developers, auditors and the public the means to check what the service accepts.
"""

from __future__ import annotations

import functools
from typing import Any, Final

from pydantic import TypeAdapter

from riskscan.errors import MAX_REPORTED_PROBLEMS
from serving.requests import MAX_CASES_PER_REQUEST, OutcomeRequest, ReloadRequest, score_request

DOCUMENT_PATH: Final = "/docs.json"
REF: Final = "#/components/schemas/{model}"
BEARER: Final[list[dict[str, list[str]]]] = [{"bearer": []}]
PUBLIC: Final[list[dict[str, list[str]]]] = []

#: What each status means on this API, for its description.
STATUS_TEXT: Final = {
    "401": "No token, or an unknown or revoked one (checked before the body is read).",
    "403": "The token's role may not use this endpoint.",
    "404": "No scored case has this request_id.",
    "413": "The body is larger than the service takes, or carries more cases than one request may.",
    "415": "The body is not sent as application/json.",
    "422": "The body does not match the schema (each problem named), or breaks a rule the schema states.",
    "503": (
        "The scan has no champion or was withdrawn, the decision log could not be written (nothing was "
        "released), or the service is overloaded (then with Retry-After)."
    ),
}
PROBLEM: Final = {
    "type": "object",
    "required": ["index", "case_id", "field", "value", "expected"],
    "properties": {
        "index": {"type": ["integer", "null"], "description": "the case's position in the request"},
        "case_id": {"type": ["string", "null"]},
        "field": {"type": ["string", "null"]},
        "value": {"description": "the value refused (long text is cut)"},
        "expected": {"type": "string"},
    },
}
ERROR: Final = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "one sentence: what, the value, what was expected"},
        "problems": {
            "type": "array",
            "maxItems": MAX_REPORTED_PROBLEMS,
            "items": {"$ref": REF.format(model="Problem")},
        },
        "total": {"type": "integer", "description": "how many problems there were, when not all are listed"},
    },
}


def _json(schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"application/json": {"schema": schema or {"type": "object"}}}


def _responses(ok: str, ok_schema: dict[str, Any], *errors: str) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": ok, "content": _json(ok_schema)}}
    for status in errors:
        headers = {}
        if status == "503":
            headers["Retry-After"] = {
                "description": "seconds to wait, on an overload",
                "schema": {"type": "integer"},
            }
        responses[status] = {
            "description": STATUS_TEXT[status],
            "content": _json({"$ref": REF.format(model="Error")}),
            **({"headers": headers} if headers else {}),
        }
    return responses


def _post(summary: str, schema: str, ok: str, ok_schema: dict[str, Any], *errors: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "security": BEARER,
            "requestBody": {"required": True, "content": _json({"$ref": REF.format(model=schema)})},
            "responses": _responses(ok, ok_schema, "401", "403", "415", *errors),
        }
    }


def _get(
    summary: str, security: list[Any], content: dict[str, Any], *errors: dict[str, Any]
) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "OK", "content": content}}
    for error in errors:
        responses.update(error)
    return {"get": {"summary": summary, "security": security, "responses": responses}}


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": ERROR, "Problem": PROBLEM}
    for name, adapter in (
        ("ScoreRequest", score_request()),
        ("OutcomeRequest", TypeAdapter(OutcomeRequest)),
        ("ReloadRequest", TypeAdapter(ReloadRequest)),
    ):
        schema = adapter.json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    return schemas


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document, made once per process."""
    text = {"text/plain": {"schema": {"type": "string"}}}
    unready = {"503": {"description": "Not ready (starting, or stopping).", "content": text}}
    refused = {
        status: {"description": STATUS_TEXT[status], "content": _json({"$ref": REF.format(model="Error")})}
        for status in ("401", "403")
    }
    busy = {"503": {"description": STATUS_TEXT["503"], "content": _json({"$ref": REF.format(model="Error")})}}
    score_ok = {"type": "object", "required": ["scan", "results"]}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "riskscan",
            "version": "1",
            "description": (
                "Risk scans for WW enforcement (UWV). A signal selects a case for investigation by a person; "
                f"it is never a decision. At most {MAX_CASES_PER_REQUEST} cases per request."
            ),
        },
        "paths": {
            "/score": _post(
                "Score cases with the scan's champion; every case is logged before the answer leaves.",
                "ScoreRequest",
                "The scored cases, in the order sent.",
                score_ok,
                "413",
                "422",
                "503",
            ),
            "/outcome": _post(
                "Record the result of an investigation of a scored case.",
                "OutcomeRequest",
                "The outcome as recorded.",
                {"type": "object", "required": ["outcome"]},
                "404",
                "413",
                "422",
                "503",
            ),
            "/reload": _post(
                "Reload every scan's champion (admin).",
                "ReloadRequest",
                "What is served now, per scan.",
                {"type": "object", "required": ["scans"]},
                "413",
                "422",
                "503",
            ),
            "/metrics": _get("Prometheus metrics (admin).", BEARER, text, refused, busy),
            DOCUMENT_PATH: _get("This document (public).", PUBLIC, _json()),
            "/healthz": _get("Alive (public).", PUBLIC, text),
            "/livez": _get("Alive (public).", PUBLIC, text),
            "/readyz": _get("Ready to serve (public).", PUBLIC, text, unready),
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token made by 'riskscan token create'; its role decides what it may do.",
                }
            },
        },
    }
