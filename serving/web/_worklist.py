"""The enforcement worklist (``GET /ui/worklist``) and recording an investigation's outcome from it
(``POST /ui/outcome``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from features.register import FeatureRegister
from models.specs import SCAN_IDS
from riskscan.errors import InvalidInput, InvalidParameter
from serving.cases import CaseRow
from serving.log import LoggedScore
from serving.tokens import TokenRecord
from serving.web._render import page
from serving.web._session import SignedIn, check_csrf, csrf_token, session_user
from serving.web._state import Auth, Runtime

router = APIRouter()

#: Width in pixels of the bar of a case's largest contribution; the others are drawn to scale.
BAR_PIXELS = 160


def case_view(row: CaseRow, logged: LoggedScore | None, register: FeatureRegister) -> dict[str, Any]:
    """One case on the worklist: each explanation as a Dutch sentence with a bar to scale."""
    explanation = list(logged.explanation) if logged else []
    scale = max([abs(e["contribution"]) for e in explanation] or [1.0])
    return {
        "row": row,
        "sentences": [
            {
                "text": f"{e['label']}: {register[e['feature']].display_value(e['value'])} "
                f"{'verhoogt' if e['contribution'] > 0 else 'verlaagt'} de score",
                "contribution": e["contribution"],
                "width": int(BAR_PIXELS * abs(e["contribution"]) / scale),
                "up": e["contribution"] > 0,
            }
            for e in explanation
        ],
    }


@router.get("/ui/worklist", response_class=HTMLResponse)
def worklist(
    request: Request,
    runtime: Runtime,
    user: Annotated[TokenRecord, Depends(SignedIn("worklist"))],
    scan: str = "vw",
    saved: str | None = None,
) -> Response:
    if scan not in SCAN_IDS:
        raise InvalidParameter(
            f"unknown scan '{scan}'; known: {', '.join(SCAN_IDS)}", field="scan", value=scan
        )
    runtime.refresh_if_changed()
    state = runtime.states[scan]
    capacity = state.spec.capacity.investigations_per_week
    # The store puts random-control cases first so capacity never squeezes them out; staff see the
    # list by score and are not told which cases are controls, so they investigate both alike
    # (a blind control sample keeps the effectiveness comparison honest).
    rows = sorted(runtime.store.worklist(scan, limit=capacity), key=lambda r: -r.score)
    cases = [case_view(row, runtime.store.get_score(row.request_id), runtime.register) for row in rows]
    recent = runtime.store.outcomes(scan)[-10:]
    return page(
        "worklist.html",
        scan=scan,
        scans=SCAN_IDS,
        cases=cases,
        capacity=capacity,
        state=state,
        user=user,
        csrf=csrf_token(request),
        saved=saved,
        recent=list(reversed(recent)),
    )


@router.post("/ui/outcome")
def record_outcome(
    request: Request,
    runtime: Runtime,
    auth: Auth,
    request_id: str = Form(""),
    scan: str = Form("vw"),
    violation: str = Form(""),
    hoor_en_wederhoor: str | None = Form(None),
    sanction: str = Form(""),
    notes: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    check_csrf(request, csrf)  # before the session: a forged form is refused even without a login
    user = session_user(request, auth, "outcome")
    if violation not in ("ja", "nee"):
        raise InvalidInput("kies of er een overtreding is vastgesteld (ja of nee)")
    runtime.store.record_outcome(
        recorded_by=user,
        request_id=request_id,
        violation=violation == "ja",
        sanction=sanction or None,
        hoor_en_wederhoor=hoor_en_wederhoor == "on",
        notes=notes,
    )
    return RedirectResponse(f"/ui/worklist?scan={scan}&saved={request_id}", status_code=303)
