"""``GET /cases`` and the server-rendered pages, mounted in the BentoML service.

Pages: ``/ui/login`` (a token, once per session), ``/ui/worklist?scan=vw`` for enforcement staff and
``/ui/audits`` for the committee. Forms carry a per-session CSRF token; the session cookie is signed,
http-only and same-site strict. Every page repeats that a signal is not a decision.
"""

from __future__ import annotations

import hmac
import secrets
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from models import registry
from models.registry import COMPARISON_TAG
from models.specs import SCAN_IDS
from riskscan import home
from riskscan.errors import NotFound, Refusal
from serving.runtime import RequestError
from serving.scoring import SIGNAL_NOTICE_NL

TEMPLATES = Path(__file__).with_name("templates")
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
)


def _session_secret() -> str:
    path = home.home() / "session.key"
    if not path.exists():
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(name).render(notice=SIGNAL_NOTICE_NL, **context)
    return HTMLResponse(html, status_code=status)


def _error_json(error: RequestError) -> JSONResponse:
    return JSONResponse(error.body, status_code=error.status)


def _parse_time(name: str, value: str | None) -> datetime | None:
    if value in (None, ""):
        return None
    assert value is not None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RequestError(
            400, f"{name} must be an ISO date or date-time, got '{value}'", field=name, value=value
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.now().astimezone().tzinfo)


def build_app() -> FastAPI:
    app = FastAPI(title="riskscan pages and case lists", docs_url=None, redoc_url=None)
    app.add_middleware(
        SessionMiddleware,
        secret_key=_session_secret(),
        same_site="strict",
        https_only=False,
        session_cookie="riskscan_session",
        max_age=8 * 3600,
    )

    def runtime(request: Request) -> Any:
        return request.app.state.runtime

    def auth(request: Request) -> Any:
        return request.app.state.auth

    # -- JSON: affected cases ---------------------------------------------------------------------------

    @app.get("/cases")
    def cases(
        request: Request,
        scan: str = Query(..., description="vw or sollicitatie"),
        model_version: str | None = Query(None, description="only cases scored by this model version"),
        start: str | None = Query(None, alias="from", description="ISO date or date-time, inclusive"),
        end: str | None = Query(None, alias="to", description="ISO date or date-time, exclusive"),
        signal_only: bool = Query(False),
        limit: int = Query(10_000, ge=1, le=100_000),
    ) -> Response:
        """Every logged case of a scan (optionally one model version and a period), with its signal,
        latest outcome and status: the list needed for re-examination after a withdrawal."""
        try:
            a = auth(request)
            a.require(a.token_from_header(request.headers.get("authorization")), "cases")
            if scan not in SCAN_IDS:
                raise RequestError(
                    400,
                    f"unknown scan '{scan}'; known scans: {', '.join(SCAN_IDS)}",
                    field="scan",
                    value=scan,
                )
            rows = runtime(request).store.cases(
                scan=scan,
                model_version=model_version,
                start=_parse_time("from", start),
                end=_parse_time("to", end),
                signal_only=signal_only,
                limit=limit,
            )
        except RequestError as error:
            return _error_json(error)
        return JSONResponse(
            {
                "scan": scan,
                "model_version": model_version,
                "count": len(rows),
                "cases": [r.as_dict() for r in rows],
            }
        )

    # -- pages --------------------------------------------------------------------------------------------

    def session_user(request: Request, action: str) -> Any:
        token = request.session.get("token")
        a = auth(request)
        return a.require(token, action)

    def csrf_token(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = secrets.token_urlsafe(24)
            request.session["csrf"] = token
        return str(token)

    def check_csrf(request: Request, sent: str) -> None:
        expected = request.session.get("csrf")
        if not expected or not hmac.compare_digest(str(expected), sent or ""):
            raise RequestError(
                403, "the form's CSRF token is missing or wrong; reload the page and try again"
            )

    @app.get("/ui/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/ui/worklist?scan=vw") -> HTMLResponse:
        return _page("login.html", csrf=csrf_token(request), next=next, error=None)

    @app.post("/ui/login", response_class=HTMLResponse)
    def login(
        request: Request,
        token: str = Form(""),
        csrf: str = Form(""),
        next: str = Form("/ui/worklist?scan=vw"),
    ) -> Response:
        try:
            check_csrf(request, csrf)
            record = auth(request).store.authenticate(token.strip())
            if record is None:
                raise RequestError(401, "unknown or revoked token")
        except RequestError as error:
            return _page(
                "login.html",
                status=error.status,
                csrf=csrf_token(request),
                next=next,
                error=error.body["error"],
            )
        request.session["token"] = token.strip()
        request.session["name"] = record.name
        request.session["role"] = record.role
        target = next if next.startswith("/ui/") else "/ui/worklist?scan=vw"
        return RedirectResponse(target, status_code=303)

    @app.post("/ui/logout")
    def logout(request: Request, csrf: str = Form("")) -> Response:
        try:
            check_csrf(request, csrf)
        except RequestError as error:
            return _error_json(error)
        request.session.clear()
        return RedirectResponse("/ui/login", status_code=303)

    def _login_redirect(request: Request) -> RedirectResponse:
        return RedirectResponse(f"/ui/login?next={request.url.path}?{request.url.query}", status_code=303)

    @app.get("/ui/worklist", response_class=HTMLResponse)
    def worklist(request: Request, scan: str = "vw", saved: str | None = None) -> Response:
        try:
            user = session_user(request, "worklist")
        except RequestError as error:
            if error.status == 401:
                return _login_redirect(request)
            return _page("error.html", status=error.status, message=error.body["error"])
        if scan not in SCAN_IDS:
            return _page(
                "error.html", status=400, message=f"unknown scan '{scan}'; known: {', '.join(SCAN_IDS)}"
            )
        rt = runtime(request)
        rt.refresh_if_changed()
        state = rt.states[scan]
        capacity = state.spec.capacity.investigations_per_week
        # The store puts random-control cases first so capacity never squeezes them out; staff see the
        # list by score and are not told which cases are controls, so they investigate both alike
        # (a blind control sample keeps the effectiveness comparison honest).
        rows = sorted(rt.store.worklist(scan, limit=capacity), key=lambda r: -r.score)
        register = rt.register
        cases_view = []
        for row in rows:
            logged = rt.store.get_score(row.request_id)
            explanation = list(logged.explanation) if logged else []
            scale = max([abs(e["contribution"]) for e in explanation] or [1.0])
            cases_view.append(
                {
                    "row": row,
                    "sentences": [
                        {
                            "text": f"{e['label']}: {register[e['feature']].display_value(e['value'])} "
                            f"{'verhoogt' if e['contribution'] > 0 else 'verlaagt'} de score",
                            "contribution": e["contribution"],
                            "width": int(160 * abs(e["contribution"]) / scale),
                            "up": e["contribution"] > 0,
                        }
                        for e in explanation
                    ],
                }
            )
        recent = [o for o in rt.store.outcomes(scan)][-10:]
        return _page(
            "worklist.html",
            scan=scan,
            scans=SCAN_IDS,
            cases=cases_view,
            capacity=capacity,
            state=state,
            user=user,
            csrf=csrf_token(request),
            saved=saved,
            recent=list(reversed(recent)),
        )

    @app.post("/ui/outcome")
    def record_outcome(
        request: Request,
        request_id: str = Form(""),
        scan: str = Form("vw"),
        violation: str = Form(""),
        hoor_en_wederhoor: str | None = Form(None),
        sanction: str = Form(""),
        notes: str = Form(""),
        csrf: str = Form(""),
    ) -> Response:
        try:
            check_csrf(request, csrf)
            user = session_user(request, "outcome")
            if violation not in ("ja", "nee"):
                raise RequestError(422, "kies of er een overtreding is vastgesteld (ja of nee)")
            runtime(request).store.record_outcome(
                request_id=request_id,
                violation=violation == "ja",
                sanction=sanction or None,
                hoor_en_wederhoor=hoor_en_wederhoor == "on",
                investigator=user.name,
                notes=notes,
            )
        except RequestError as error:
            if error.status == 401:
                return _login_redirect(request)
            return _page("error.html", status=error.status, message=error.body["error"])
        except Refusal as error:  # the store names the field and the value
            return _page("error.html", status=422, message=str(error))
        return RedirectResponse(f"/ui/worklist?scan={scan}&saved={request_id}", status_code=303)

    @app.get("/ui/audits", response_class=HTMLResponse)
    def audits(request: Request) -> Response:
        try:
            user = session_user(request, "audits")
        except RequestError as error:
            if error.status == 401:
                return _login_redirect(request)
            return _page("error.html", status=error.status, message=error.body["error"])
        rt = runtime(request)
        scans = []
        for scan in SCAN_IDS:
            aliases = {
                str(mv.version): alias
                for alias in (registry.CHAMPION, registry.CHALLENGER, registry.PREVIOUS)
                if (mv := registry.version_by_alias(scan, alias)) is not None
            }
            versions = [
                {
                    "version": v.version,
                    "alias": aliases.get(str(v.version), ""),
                    "tags": dict(v.tags),
                    "created": datetime.fromtimestamp(v.creation_timestamp / 1000).isoformat(
                        timespec="minutes"
                    ),
                }
                for v in reversed(registry.versions(scan))
            ]
            scans.append(
                {
                    "scan": scan,
                    "state": rt.states[scan],
                    "versions": versions,
                    "decisions": list(reversed(rt.governance.decisions(scan))),
                    "promotions": list(reversed(rt.governance.promotions(scan))),
                    "withdrawals": list(reversed(rt.governance.withdrawals(scan))),
                }
            )
        return _page("audits.html", scans=scans, user=user, csrf=csrf_token(request))

    def committee_document(
        request: Request, scan: str, version: str, fetch: Callable[[Path], Path | None], missing: str
    ) -> Response:
        """A stored HTML report of a version for the committee; ``fetch`` downloads it into a folder."""
        try:
            session_user(request, "audits")
            if scan not in SCAN_IDS:
                raise RequestError(404, f"unknown scan '{scan}'")
            with tempfile.TemporaryDirectory() as tmp:
                path = fetch(Path(tmp))
                if path is None:
                    raise RequestError(404, f"version {version} of {scan} has no {missing}")
                html = path.read_text(encoding="utf-8")
        except RequestError as error:
            if error.status == 401:
                return _login_redirect(request)
            return _page("error.html", status=error.status, message=error.body["error"])
        except NotFound as error:
            return _page("error.html", status=404, message=str(error))
        return HTMLResponse(html)

    @app.get("/ui/audits/{scan}/{version}/report", response_class=HTMLResponse)
    def audit_report(request: Request, scan: str, version: str) -> Response:
        return committee_document(
            request,
            scan,
            version,
            lambda folder: registry.download_audit_file(scan, version, "report.html", folder),
            "audit",
        )

    @app.get("/ui/audits/{scan}/{version}/comparison", response_class=HTMLResponse)
    def retrain_comparison(request: Request, scan: str, version: str) -> Response:
        """The retraining job's comparison of a challenger with the champion (jobs/retrain.py)."""

        def fetch(folder: Path) -> Path | None:
            artifact = registry.get_version(scan, version).tags.get(COMPARISON_TAG)
            return registry.download_run_file(scan, version, artifact, folder) if artifact else None

        return committee_document(request, scan, version, fetch, "retraining comparison")

    return app
