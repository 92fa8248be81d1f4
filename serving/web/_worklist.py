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
of each case cannot predict the control flag (AUC ≤ 0.55), the page number and the place on the page
included.

Pages and the status filter
---------------------------
The list is shown :data:`PAGE_SIZE` cases a page, in received order, so a page costs about the same at a
hundred logged cases as at a hundred thousand: the open list is paged from a copy of its selection that the
store keeps between writes and checks against the database on every view (:mod:`serving.worklist_cache`),
the other two in the database (:func:`serving.cases.worklist_page`: ``LIMIT``/``OFFSET`` over the
selection). Paging changes only the display: which cases are selected stays as above, and since the
received order says nothing of the draw, neither does a page number or a place on a page.

``status`` picks the list staff need: ``open`` (the default: the cases to investigate, with the form to
record the outcome), ``afgehandeld`` (cases with an outcome, to check one or correct it with a new outcome,
which supersedes the old one) and ``stopgezet`` (investigations a ruling halted because the model that
selected the case was trained on a column ruled unlawful: an investigator who had one in hand sees why it
left the open list, and that no outcome may be recorded). A recorded outcome is the investigators' own
finding, not the model's; it differs between the two kinds only as much as the model works, which is what
the control sample is there to measure.
"""

from __future__ import annotations

from typing import Annotated, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from models.specs import scan_ids
from riskscan.errors import InvalidInput, InvalidParameter
from serving.cases import WORKLIST_DONE, WORKLIST_HALTED, WORKLIST_OPEN, WORKLIST_STATUSES, WorklistPage
from serving.tokens import TokenRecord
from serving.web._render import page
from serving.web._session import SignedIn, check_csrf, csrf_token, session_user
from serving.web._state import Auth, Runtime

router = APIRouter()

#: Cases on one page of the worklist.
PAGE_SIZE: Final = 50
#: Page links shown on each side of the current page (the first and the last page are always linked).
PAGE_LINKS_AROUND: Final = 3
#: What the status filter calls each list.
STATUS_LABELS: Final = {
    WORKLIST_OPEN: "open",
    WORKLIST_DONE: "afgehandeld",
    WORKLIST_HALTED: "stopgezet na een uitspraak",
}


def _one_of(field: str, value: str, known: tuple[str, ...], offered: str) -> str:
    """``value`` of query parameter ``field`` if it is one of ``known``; else a Dutch refusal naming both."""
    if value not in known:
        raise InvalidParameter(
            f"onbekende {field} '{value}' (parameter {field}); {offered}: {', '.join(known)}",
            field=field,
            value=value,
        )
    return value


def checked_scan(scan: str) -> str:
    return _one_of("scan", scan, scan_ids(), "bekend")


def checked_status(status: str) -> str:
    return _one_of("status", status, WORKLIST_STATUSES, "kies uit")


def page_number(value: str) -> int:
    """The ``page`` parameter as a page number from 1; anything else is refused, never guessed at."""
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise InvalidParameter(
            f"ongeldig paginanummer '{value}' (parameter page): verwacht een geheel getal vanaf 1",
            field="page",
            value=value,
        )
    return int(value)


def page_links(current: int, pages: int) -> list[int | None]:
    """The page numbers to link: the first, the last and those near ``current``; None marks a gap."""
    near = range(max(1, current - PAGE_LINKS_AROUND), min(pages, current + PAGE_LINKS_AROUND) + 1)
    links: list[int | None] = []
    for number in sorted({1, pages, *near}):
        if links and links[-1] is not None and number > links[-1] + 1:
            links.append(None)
        links.append(number)
    return links


def worklist_url(scan: str, status: str, number: int, **extra: str) -> str:
    """The address of a page of a list (``status`` left out for the default, the open list)."""
    query = {"scan": scan} | ({} if status == WORKLIST_OPEN else {"status": status})
    return f"/ui/worklist?{urlencode(query | {'page': str(number)} | extra)}"


def list_page(runtime: Runtime, scan: str, status: str, number: int) -> WorklistPage:
    """Page ``number`` of the list, selected up to the scan's weekly capacity."""
    capacity = runtime.states[scan].spec.capacity.investigations_per_week
    return runtime.store.worklist_page(scan, status, capacity=capacity, number=number, size=PAGE_SIZE)


@router.get("/ui/worklist", response_class=HTMLResponse)
def worklist(
    request: Request,
    runtime: Runtime,
    user: Annotated[TokenRecord, Depends(SignedIn("worklist"))],
    scan: str = "vw",
    status: str = WORKLIST_OPEN,
    # Text, parsed by page_number: a bad value gets the Dutch error page, not FastAPI's 422 JSON.
    number: Annotated[str, Query(alias="page")] = "1",
    saved: str | None = None,
) -> Response:
    scan, status, current = checked_scan(scan), checked_status(status), page_number(number)
    runtime.refresh_if_changed()
    state = runtime.states[scan]
    shown = list_page(runtime, scan, status, current)
    if current > shown.pages:
        raise InvalidParameter(
            f"pagina {current} bestaat niet (parameter page): de lijst '{STATUS_LABELS[status]}' heeft "
            f"{shown.total} zaken op {shown.pages} pagina('s)",
            field="page",
            value=number,
        )
    return page(
        "worklist.html",
        scan=scan,
        scans=scan_ids(),
        listed=status,  # not ``status``: page() takes that as the HTTP status
        statuses=STATUS_LABELS,
        shown=shown,
        links=[(n, worklist_url(scan, status, n) if n else "") for n in page_links(current, shown.pages)],
        previous=worklist_url(scan, status, current - 1) if current > 1 else None,
        next=worklist_url(scan, status, current + 1) if current < shown.pages else None,
        filters={key: worklist_url(scan, key, 1) for key in STATUS_LABELS},
        capacity=state.spec.capacity.investigations_per_week,
        state=state,
        user=user,
        csrf=csrf_token(request),
        saved=saved,
        recent=list(reversed(runtime.store.last_outcomes(scan, 10))),
    )


@router.post("/ui/outcome")
def record_outcome(
    request: Request,
    runtime: Runtime,
    auth: Auth,
    request_id: str = Form(""),
    scan: str = Form("vw"),
    status: str = Form(WORKLIST_OPEN),
    number: str = Form("1", alias="page"),
    violation: str = Form(""),
    hoor_en_wederhoor: str | None = Form(None),
    sanction: str = Form(""),
    notes: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    check_csrf(request, csrf)  # before the session: a forged form is refused even without a login
    user = session_user(request, auth, "outcome")
    scan, status, current = checked_scan(scan), checked_status(status), page_number(number)
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
    # Back to the page the form was on; the case left the open list, so the last page may be gone.
    last = list_page(runtime, scan, status, 1).pages
    return RedirectResponse(worklist_url(scan, status, min(current, last), saved=request_id), status_code=303)
