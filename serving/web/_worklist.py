"""The enforcement worklist (``GET /ui/worklist``) and recording an investigation's outcome from it
(``POST /ui/outcome``).

A blind control sample
----------------------
A share of the scored cases (5 %) is drawn at random into the control sample and investigated like the
signals; comparing the outcome rate of the two is the only unbiased measure of what the model adds
(seed 000, l.2669-2693). That comparison holds only if staff investigate both kinds alike, so nothing on
this page tells them apart:

- **No score and no threshold.** A control case scores below the threshold more often than not; a score
  printed next to the threshold names it a control.
- **No explanation, not even reasons ranked without numbers.** Any per-case output of the model (which
  features push the score up, in which order) is a function of the case's data, as the score is, and the
  signals are exactly the cases the model scores highest; so the explanation carries the score's
  information and, with it, the draw. Measured with the classifier of ``test_worklist_blindness`` on the test
  caseload (1,160 listed cases, 286 controls): the feature names ranked by the size of their contribution,
  nothing else, give AUC 0.672; with "verhoogt/verlaagt" 0.872. It would also be untrue for a control
  case: the model's reasons are not why that case was selected. Every case shows instead the same
  sentence: it was selected by the scan or by the random sample, which of the two is not shown on
  purpose, and every case is investigated in full. The explanation stays in the decision log, and the
  case-management system (role ``systeem``) gets it in the ``/score`` answer together with the score, the
  threshold and the control flag, under the contract that it shows none of them to the investigator
  (``serving/service.py``).
- **An order that says nothing.** The cases are listed by the time they were received (oldest first, ties
  by request id). The draw is a keyed hash of the case id (``serving/scoring.py``), independent of when a
  case arrives, so the position on the list is independent of it too. *Which* cases are listed is the
  store's business (:func:`serving.cases.worklist`: every open control case first, then signals by score,
  up to the weekly capacity, so the capacity never squeezes out the control sample); the display order
  does not follow that ranking.

The control flag stays in the decision log and is visible to the committee and to admin (``GET /cases``).
``tests/serving/test_worklist_blindness.py`` checks the result: a classifier given everything this page shows
of each case cannot predict the control flag (AUC ≤ 0.55).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from models.specs import scan_ids
from riskscan.errors import InvalidInput, InvalidParameter
from serving.cases import CaseRow
from serving.tokens import TokenRecord
from serving.web._render import page
from serving.web._session import SignedIn, check_csrf, csrf_token, session_user
from serving.web._state import Auth, Runtime

router = APIRouter()


def received_order(rows: list[CaseRow]) -> list[CaseRow]:
    """The worklist's display order: by the time each case was received, oldest first, then by request id
    (independent of the control draw; see the module docstring)."""
    return sorted(rows, key=lambda row: (row.created_at, row.request_id))


@router.get("/ui/worklist", response_class=HTMLResponse)
def worklist(
    request: Request,
    runtime: Runtime,
    user: Annotated[TokenRecord, Depends(SignedIn("worklist"))],
    scan: str = "vw",
    saved: str | None = None,
) -> Response:
    if scan not in scan_ids():
        raise InvalidParameter(
            f"unknown scan '{scan}'; known: {', '.join(scan_ids())}", field="scan", value=scan
        )
    runtime.refresh_if_changed()
    state = runtime.states[scan]
    capacity = state.spec.capacity.investigations_per_week
    rows = received_order(runtime.store.worklist(scan, limit=capacity))
    recent = runtime.store.outcomes(scan)[-10:]
    return page(
        "worklist.html",
        scan=scan,
        scans=scan_ids(),
        cases=rows,
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
