"""Promotion and withdrawal from the pages (``/ui/admin``, admin role), through the same gate as the
command line.

A refused promotion lists every reason the gate gives, worded for people in Dutch (the gate's typed
reasons, :mod:`serving.web._refusals`; the API and the command line keep the English), and changes nothing. A
withdrawal needs a reason, and then shows the cases the withdrawn version scored (the list ``GET /cases``
gives, for re-examination), so nobody has to go looking for who was affected.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from models import gate, registry
from models.specs import scan_ids
from riskscan.errors import GateRefusal, InvalidInput
from serving.runtime import check_scan
from serving.signing import acting_as
from serving.tokens import TokenRecord
from serving.web._refusals import all_in_dutch
from serving.web._render import page
from serving.web._session import SignedIn, check_csrf, csrf_token, session_user
from serving.web._state import Auth, Runtime

router = APIRouter()

Admin = Annotated[TokenRecord, Depends(SignedIn("promote"))]
#: How many affected cases the withdrawal page lists; the count and the full list (/cases) are complete.
SHOWN_CASES = 200


def _version_rows(runtime: Runtime, scan: str) -> list[dict[str, Any]]:
    """Each audited version, newest first, with what the gate says about promoting it now."""
    champion = registry.version_by_alias(scan, registry.CHAMPION)
    rows = []
    for mv in reversed(registry.versions(scan)):
        version = str(mv.version)
        if not mv.tags.get("audit_sha256"):
            continue
        check = gate.check_promotion(scan, version, runtime.governance)
        rows.append(
            {
                "version": version,
                "champion": champion is not None and str(champion.version) == version,
                "verdict": mv.tags.get("audit_verdict", ""),
                "decision": check.decision,
                "unmet": all_in_dutch(check.reasons),
            }
        )
    return rows


def _admin_page(request: Request, runtime: Runtime, user: TokenRecord, **extra: Any) -> HTMLResponse:
    scans = [
        {"scan": scan, "state": runtime.states[scan], "versions": _version_rows(runtime, scan)}
        for scan in scan_ids()
    ]
    status = extra.pop("status", 200)
    return page(
        "admin.html",
        status=status,
        scans=scans,
        user=user,
        csrf=csrf_token(request),
        **{"refused": None, "promoted": None, **extra},
    )


@router.get("/ui/admin", response_class=HTMLResponse)
def admin(request: Request, runtime: Runtime, user: Admin, promoted: str | None = None) -> Response:
    runtime.refresh_if_changed()
    return _admin_page(request, runtime, user, promoted=promoted)


@router.post("/ui/admin/promote", response_class=HTMLResponse)
def promote(
    request: Request,
    runtime: Runtime,
    auth: Auth,
    scan: str = Form(""),
    version: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    check_csrf(request, csrf)
    user = session_user(request, auth, "promote")
    check_scan(scan)
    try:
        gate.promote(runtime.governance, scan=scan, version=version, promoted_by=acting_as(user))
    except GateRefusal as refusal:  # every reason, for people, and nothing changed
        refused = {"scan": scan, "version": version, "reasons": all_in_dutch(refusal.reasons)}
        return _admin_page(request, runtime, user, refused=refused, status=409)
    runtime.refresh_if_changed()
    return RedirectResponse(f"/ui/admin?promoted={scan}:{version}", status_code=303)


@router.post("/ui/admin/withdraw", response_class=HTMLResponse)
def withdraw(
    request: Request,
    runtime: Runtime,
    auth: Auth,
    scan: str = Form(""),
    reason: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    check_csrf(request, csrf)
    user = session_user(request, auth, "promote")
    check_scan(scan)
    if not reason.strip():  # the gate refuses it too; the page says so in the admin's words
        raise InvalidInput(
            "Een reden van intrekking is verplicht (veld 'reason'): zeg waarom de scan wordt ingetrokken.",
            field="reason",
        )
    record = gate.withdraw(runtime.governance, scan=scan, reason=reason, withdrawn_by=acting_as(user))
    runtime.refresh_if_changed()
    # The cases selected for investigation (a signal or the control sample): the ones to re-examine.
    affected = (
        runtime.store.cases(scan=scan, model_version=record.version, signal_only=True)
        if record.version
        else []
    )
    return page(
        "withdrawn.html",
        user=user,
        csrf=csrf_token(request),
        withdrawal=record,
        cases=affected[:SHOWN_CASES],
        total=len(affected),
    )
