"""The committee decides in the product: the decision form on an audited version
(``GET /ui/audits/{scan}/{version}``), recording a decision (``POST .../decide``) and co-signing it
(``POST .../cosign``).

Only committee tokens sign (the ``decide`` permission), under the signed-in token's identity: the form has
no name field. A decision takes effect when a second, different member co-signs it on this page; the gate
(:mod:`models.gate`) holds the rules, this module only reads the form and shows the state. A refused form
comes back filled in as it was sent, with the reason on top, and nothing recorded.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from models import gate, registry
from models.governance import (
    MAX_VALID_MONTHS,
    Obligation,
    check_id,
    failed_checks,
    months_ahead,
    proposed_obligations,
    undecided_checks,
)
from models.specs import load_spec
from riskscan.errors import InvalidParameter, Refusal
from serving.http_errors import status_for
from serving.runtime import check_scan
from serving.signing import signatory
from serving.tokens import TokenRecord
from serving.web._decision_form import LABELS_NL, QUESTIONS_NL, read_decision_form
from serving.web._refusals import for_people
from serving.web._render import page
from serving.web._session import SignedIn, check_csrf, csrf_token, session_user
from serving.web._state import Auth, Runtime

router = APIRouter()

CommitteeMember = Annotated[TokenRecord, Depends(SignedIn("decide"))]


def _obligation_fields(obligations: list[Obligation]) -> dict[str, str]:
    """The proposed obligations as the form's fields, to pre-fill it."""
    fields: dict[str, str] = {}
    for index, item in enumerate(obligations):
        fields |= {
            f"obligation-{index}-check": item.check,
            f"obligation-{index}-text_nl": item.text_nl,
            f"obligation-{index}-cases_needed": "" if item.cases_needed is None else str(item.cases_needed),
            f"obligation-{index}-due": item.due.isoformat(),
        }
    return fields


def _state_view(runtime: Runtime, decision: Any, audit_sha: str | None) -> dict[str, Any]:
    state = gate.decision_state(runtime.governance, decision)
    return {
        "decision": decision,
        "label": LABELS_NL[decision.decision],
        "signatures": state.signatures,
        "obligations": state.obligations,
        "reviews": runtime.governance.latest_reviews(decision.id),
        "cosigned": state.cosigned,
        "stale": audit_sha is not None and decision.audit_sha256 != audit_sha,
    }


def _page_context(runtime: Runtime, scan: str, version: str, user: TokenRecord) -> dict[str, Any]:
    """Everything the decision page shows of a version: its audit, its decisions, what the form proposes."""
    mv = registry.get_version(scan, version)
    audit_sha, audit, _actual = gate.latest_audit(scan, version)
    today = gate.today_utc()
    obligations = proposed_obligations(audit, today) if audit else []
    current = runtime.governance.current_decision(scan, version)
    history = [
        _state_view(runtime, d, audit_sha) for d in reversed(runtime.governance.decisions(scan, version))
    ]
    return {
        "scan": scan,
        "version": version,
        "spec": load_spec(scan),
        "tags": dict(mv.tags),
        "audit_sha": audit_sha,
        "audit": audit,
        "failed": [{"id": check_id(c), **c} for c in failed_checks(audit)] if audit else [],
        "undecided": [{"id": check_id(c), **c} for c in undecided_checks(audit)] if audit else [],
        "obligations": obligations,
        "current": None if current is None else _state_view(runtime, current, audit_sha),
        "history": history,
        "signed_by_me": current is not None
        and any(s.token_id == user.id for s in runtime.governance.signatures(current.id)),
        "questions": QUESTIONS_NL,
        "today": today.isoformat(),
        "latest_valid_until": months_ahead(today, MAX_VALID_MONTHS).isoformat(),
        "defaults": {
            "valid_until": months_ahead(today, MAX_VALID_MONTHS).isoformat(),
            **_obligation_fields(obligations),
        },
    }


def _decision_page(
    request: Request, runtime: Runtime, scan: str, version: str, user: TokenRecord, **extra: Any
) -> HTMLResponse:
    context = _page_context(runtime, scan, version, user)
    form = extra.pop("form", None)
    values = {**context.pop("defaults"), **(form or {})}
    status = extra.pop("status", 200)
    return page(
        "decision.html",
        status=status,
        user=user,
        csrf=csrf_token(request),
        values=values,
        **context,
        **{"error": None, "recorded": None, "cosigned": None, **extra},
    )


@router.get("/ui/audits/{scan}/{version}", response_class=HTMLResponse)
def decision_page(
    request: Request,
    runtime: Runtime,
    user: CommitteeMember,
    scan: str,
    version: str,
    recorded: int | None = None,
    cosigned: int | None = None,
) -> Response:
    check_scan(scan)
    return _decision_page(request, runtime, scan, version, user, recorded=recorded, cosigned=cosigned)


@router.post("/ui/audits/{scan}/{version}/decide", response_class=HTMLResponse)
async def record_decision(
    request: Request, runtime: Runtime, auth: Auth, scan: str, version: str
) -> Response:
    submitted = await request.form()
    fields = {key: value for key, value in submitted.items() if isinstance(value, str)}
    check_csrf(
        request, fields.get("csrf", "")
    )  # before the session: a forged form is refused without a login
    user = session_user(request, auth, "decide")
    check_scan(scan)

    def record() -> int:
        form = read_decision_form(fields)
        decision = gate.decide(
            runtime.governance,
            scan=scan,
            version=version,
            decision=form.decision,
            signer=signatory(user),
            rationale=form.rationale,
            checklist=form.checklist,
            conditions=form.conditions,
            obligations=form.obligations,
            valid_until=form.valid_until,
            demo=form.demo,
        )
        return decision.id

    try:
        decision_id = await run_in_threadpool(record)
    except Refusal as error:  # the form again, as sent, with the reason; nothing was recorded
        form = {k: v for k, v in fields.items() if k != "csrf"}
        return await run_in_threadpool(
            _decision_page,
            request,
            runtime,
            scan,
            version,
            user,
            form=form,
            error=for_people(error),
            status=status_for(error),
        )
    return RedirectResponse(f"/ui/audits/{scan}/{version}?recorded={decision_id}", status_code=303)


@router.post("/ui/audits/{scan}/{version}/cosign")
def cosign_decision(
    request: Request,
    runtime: Runtime,
    auth: Auth,
    scan: str,
    version: str,
    decision_id: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    check_csrf(request, csrf)
    user = session_user(request, auth, "decide")
    check_scan(scan)
    if not decision_id.isdigit():
        raise InvalidParameter(
            f"decision_id must be a decision number, got {decision_id!r}", field="decision_id"
        )
    decision = runtime.governance.decision(int(decision_id))
    if decision is None or (decision.scan, decision.version) != (scan, version):
        raise InvalidParameter(
            f"decision_id {decision_id} is not a decision about {scan} version {version}", field="decision_id"
        )
    gate.cosign(runtime.governance, decision_id=int(decision_id), signer=signatory(user))
    runtime.refresh_if_changed()
    return RedirectResponse(f"/ui/audits/{scan}/{version}?cosigned={decision_id}", status_code=303)
