"""``GET /cases``: every logged case of a scan, for the committee and the retraining job (bearer token)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from riskscan.errors import InvalidParameter
from serving.runtime import check_scan
from serving.web._state import Auth, Runtime

router = APIRouter()


def _parse_time(name: str, value: str | None) -> datetime | None:
    if value in (None, ""):
        return None
    assert value is not None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidParameter(
            f"{name} must be an ISO date or date-time, got '{value}'", field=name, value=value
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.now().astimezone().tzinfo)


@router.get("/cases")
def cases(
    request: Request,
    runtime: Runtime,
    auth: Auth,
    scan: str = Query(..., description="vw or sollicitatie"),
    model_version: str | None = Query(None, description="only cases scored by this model version"),
    start: str | None = Query(None, alias="from", description="ISO date or date-time, inclusive"),
    end: str | None = Query(None, alias="to", description="ISO date or date-time, exclusive"),
    signal_only: bool = Query(False),
    limit: int = Query(10_000, ge=1, le=100_000),
) -> Response:
    """Every logged case of a scan (optionally one model version and a period), with its signal,
    latest outcome and status: the list needed for re-examination after a withdrawal."""
    # The token is checked here, not in a dependency, so that a malformed query is still a 422 before
    # anything else, as it always was.
    auth.require(auth.token_from_header(request.headers.get("authorization")), "cases")
    check_scan(scan)
    rows = runtime.store.cases(
        scan=scan,
        model_version=model_version,
        start=_parse_time("from", start),
        end=_parse_time("to", end),
        signal_only=signal_only,
        limit=limit,
    )
    return JSONResponse(
        {
            "scan": scan,
            "model_version": model_version,
            "count": len(rows),
            "cases": [r.as_dict() for r in rows],
        }
    )
