"""The re-examination worklist (``GET /ui/reexamination``) and recording a task's result from it
(``POST /ui/reexamination``), for enforcement staff after a ruling that a column is unlawful.

Each task shows what staff need to judge whether the sanction stands on lawful grounds alone: the
original score and its explanation, the original outcome and sanction, and what the unlawful column
contributed. The result is recorded under the signed-in token's identity, through the same store method
the scenario uses (:meth:`serving.store.ServingStore.record_reexamination_result`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from features.register import FeatureRegister
from riskscan.errors import InvalidInput
from serving.cases import CaseRow
from serving.log import LoggedScore
from serving.reexamination import Task
from serving.rulings import RESULTS
from serving.tokens import TokenRecord
from serving.web._render import page
from serving.web._session import SignedIn, check_csrf, csrf_token, session_user
from serving.web._state import Auth, Runtime

router = APIRouter()

#: Tasks on one page; the oldest come first, so the page always shows the ones waiting longest.
PAGE_SIZE = 50


#: Width in pixels of the bar of a case's largest contribution; the others are drawn to scale.
BAR_PIXELS = 160


def case_view(row: CaseRow, logged: LoggedScore | None, register: FeatureRegister) -> dict[str, Any]:
    """One case under re-examination: its original explanation as a Dutch sentence with a bar to scale."""
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


def unlawful_part(task: Task, logged: LoggedScore | None, register: FeatureRegister) -> dict[str, Any]:
    """What came from the unlawful column: its logged input value and its contribution to the score."""
    column = register[task.column_name]
    inputs = logged.inputs if logged else {}
    contributions = [
        e["contribution"] for e in (logged.explanation if logged else ()) if e["feature"] == column.name
    ]
    return {
        "label": column.label,
        "name": column.name,
        "used": column.name in inputs,
        "value": column.display_value(inputs.get(column.name)),
        "contribution": contributions[0] if contributions else None,
    }


def task_view(task: Task, logged: LoggedScore | None, register: FeatureRegister) -> dict[str, Any]:
    return {
        "task": task,
        "case": case_view(task.case, logged, register),
        "unlawful": unlawful_part(task, logged, register),
    }


@router.get("/ui/reexamination", response_class=HTMLResponse)
def reexamination(
    request: Request,
    runtime: Runtime,
    user: Annotated[TokenRecord, Depends(SignedIn("reexamination"))],
    saved: str | None = None,
) -> Response:
    rulings = runtime.governance.rulings()
    tasks = runtime.store.reexamination_tasks(rulings, limit=PAGE_SIZE)
    views = [task_view(t, runtime.store.get_score(t.case.request_id), runtime.register) for t in tasks]
    return page(
        "reexamination.html",
        tasks=views,
        progress=runtime.store.reexamination_progress(rulings),
        results=RESULTS,
        page_size=PAGE_SIZE,
        user=user,
        csrf=csrf_token(request),
        saved=saved,
    )


@router.post("/ui/reexamination")
def record_result(
    request: Request,
    runtime: Runtime,
    auth: Auth,
    reexamination_id: str = Form(""),
    result: str = Form(""),
    note: str = Form(""),
    hoor_en_wederhoor: str | None = Form(None),
    csrf: str = Form(""),
) -> Response:
    check_csrf(request, csrf)  # before the session: a forged form is refused even without a login
    user = session_user(request, auth, "reexamination")
    if not reexamination_id.isdigit():
        raise InvalidInput(f"reexamination_id must be a task number, got {reexamination_id!r}")
    if result not in RESULTS:
        raise InvalidInput(f"kies een uitkomst ({', '.join(RESULTS.values())}), niet {result!r}")
    runtime.store.record_reexamination_result(
        reexamination_id=int(reexamination_id),
        result=result,
        note=note,
        hoor_en_wederhoor=hoor_en_wederhoor == "on",
        token=user,
    )
    return RedirectResponse(f"/ui/reexamination?saved={reexamination_id}", status_code=303)
