"""The privacy page (``GET /ui/privacy/inzage``): the committee (or an admin) looks up a case id and gets
the same access letter (AVG art. 15) that ``riskscan subject-report`` writes (:mod:`serving.subject`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from models.specs import load_spec, scan_ids
from riskscan import home
from serving.subject import STYLESHEET, render_letter, subject_report
from serving.tokens import TokenRecord
from serving.web._render import page
from serving.web._session import SignedIn, check_csrf, csrf_token
from serving.web._state import Runtime

router = APIRouter()

#: Where the page serves the letter's stylesheet (the letter has no inline style).
STYLESHEET_PATH = "/ui/privacy/subject_letter.css"


@router.get("/ui/privacy/inzage", response_class=HTMLResponse)
def access_letter(
    request: Request,
    runtime: Runtime,
    user: Annotated[TokenRecord, Depends(SignedIn("audits"))],
    case_id: str = "",
    csrf: str = "",
) -> Response:
    """Without a case id: the form. With one: the letter, or the error page naming the unknown case."""
    if not case_id:
        return page("privacy.html", user=user, csrf=csrf_token(request))
    check_csrf(request, csrf)  # the form carries it, so a link from elsewhere cannot open a letter
    report = subject_report(
        runtime.store.engine,
        home.data_dir(),
        case_id.strip(),
        runtime.register,
        {scan: load_spec(scan) for scan in scan_ids()},
        runtime.governance.rulings(),
    )
    return HTMLResponse(render_letter(report, STYLESHEET_PATH))


@router.get(STYLESHEET_PATH)
def letter_stylesheet() -> Response:
    return FileResponse(STYLESHEET, media_type="text/css")
