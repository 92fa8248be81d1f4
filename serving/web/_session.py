"""The page session: logging in with a token, logging out, the form's CSRF token, the signed-in user.

Sessions live on the server (:mod:`serving.sessions`, table ``web_sessions``). The browser's
``riskscan_session`` cookie holds a random id and nothing else: not the token, not the name, not the role.
Each page looks the session up (which also ends it after its idle or absolute expiry), then the token's
record *by id*, so revoking the token ends the session at once (the revocation deletes its sessions, and a
session whose token is no longer active is refused and deleted here too).

CSRF: a signed-in session has its own CSRF token, made at login, so the token a browser had before logging
in is never valid after it (login rotates it). Before login there is no session row (an anonymous visitor
writes nothing to the database): the login form's CSRF token is a random value in a second cookie,
``riskscan_login``, that the form must send back (a double-submit token), so a forged cross-site login is
refused too. Both cookies are http-only, same-site strict, and ``Secure`` when the operator says the site
is served over HTTPS (:data:`COOKIE_SECURE_ENV`) or the request itself came over HTTPS.

:class:`PageSessions` is the ASGI middleware that reads the cookies into the request's scope and writes
the changes a route made (a new session, an ended one) as ``Set-Cookie`` headers on the response.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from typing import Final

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from riskscan.errors import ConfigError, Forbidden, Refusal, Unauthenticated
from serving.auth import PERMISSIONS, Authenticator, check_role
from serving.http_errors import answer, status_for
from serving.sessions import LIFETIME, WebSession, new_secret
from serving.store import ServingStore
from serving.tokens import TokenRecord
from serving.web._render import page
from serving.web._state import Auth

HOME_PAGE = "/ui/worklist?scan=vw"
SESSION_COOKIE: Final = "riskscan_session"
LOGIN_COOKIE: Final = "riskscan_login"
LOGIN_COOKIE_SECONDS: Final = 3600
#: ``1``: the site is served over HTTPS (a TLS proxy in front), so every cookie is ``Secure``. ``0`` or
#: unset: only cookies set in answer to a request that itself arrived over HTTPS are.
COOKIE_SECURE_ENV: Final = "RISKSCAN_COOKIE_SECURE"
_SCOPE_KEY: Final = "riskscan.page_session"

router = APIRouter()


def cookies_secure_everywhere() -> bool:
    """The operator's switch, :data:`COOKIE_SECURE_ENV`: ``1`` or ``0`` (unset is ``0``); refused otherwise."""
    value = os.environ.get(COOKIE_SECURE_ENV, "0")
    if value not in ("0", "1"):
        raise ConfigError(f"{COOKIE_SECURE_ENV} must be '1' (HTTPS in front) or '0', got {value!r}")
    return value == "1"


@dataclass
class _PageState:
    """The cookies a request came with, what the route did with them, and the session once looked up."""

    session_id: str | None
    login_csrf: str | None
    session: WebSession | None = None
    looked_up: bool = False
    new_session_id: str | None = None
    end_session_cookie: bool = False
    new_login_csrf: bool = False
    end_login_cookie: bool = False


def _state(request: Request) -> _PageState:
    state = request.scope.get(_SCOPE_KEY)
    if not isinstance(state, _PageState):
        raise RuntimeError("the PageSessions middleware is not installed on this app")
    return state


def _store(request: Request) -> ServingStore:
    auth: Authenticator = request.app.state.auth
    return auth.store


def _session(request: Request) -> WebSession | None:
    """The request's live session, looked up once per request (which moves its last use to now)."""
    state = _state(request)
    if not state.looked_up:
        state.looked_up = True
        if state.session_id:
            state.session = _store(request).use_session(state.session_id)
            state.end_session_cookie = state.session is None  # unknown, ended or expired: forget it
    return state.session


def csrf_token(request: Request) -> str:
    """The CSRF token for the page's forms: the session's, or before login the login cookie's (made on
    first use)."""
    session = _session(request)
    if session is not None:
        return session.csrf
    state = _state(request)
    if not state.login_csrf:
        state.login_csrf, state.new_login_csrf = new_secret(), True
    return state.login_csrf


def check_csrf(request: Request, sent: str) -> None:
    """Refuse a form whose CSRF token is not the session's (or, before login, the login cookie's)."""
    session = _session(request)
    expected = session.csrf if session is not None else _state(request).login_csrf
    if not expected or not hmac.compare_digest(expected.encode(), (sent or "").encode()):
        raise Forbidden("the form's CSRF token is missing or wrong; reload the page and try again")


def session_user(request: Request, auth: Authenticator, action: str) -> TokenRecord:
    """The signed-in user, if their role may do ``action``; :class:`Unauthenticated` sends them to log in."""
    session = _session(request)
    if session is None:
        raise Unauthenticated("not signed in, or the session has ended; log in with your token")
    record = auth.store.active_token(session.token_id)
    if record is None:  # revoked since login: the revocation deleted the row, unless it raced this request
        _end(request)
        raise Unauthenticated("the token of this session was revoked; log in with another token")
    try:
        return check_role(record, action)
    except Forbidden:  # the same check, worded for the pages
        allowed = ", ".join(sorted(PERMISSIONS[action]))
        raise Forbidden(
            f"uw rol '{record.role}' mag niet {ACTIONS_NL[action]}; dat mogen de rollen: {allowed}"
        ) from None


#: What each action lets a person do, in the pages' language (the API and CLI say it in English,
#: serving.auth.check_role); a test keeps it complete.
ACTIONS_NL: Final[dict[str, str]] = {
    "score": "zaken laten scoren",
    "outcome": "uitkomsten van onderzoeken vastleggen",
    "cases": "de gescoorde zaken van een versie inzien",
    "worklist": "de werklijst van handhaving inzien",
    "audits": "de pagina's van de commissie inzien",
    "reload": "de modellen herladen",
    "metrics": "de metrieken inzien",
    "rule": "een kolom onrechtmatig verklaren",
    "reexamination": "herbeoordelingen uitvoeren",
    "decide": "besluiten of medeondertekenen namens de commissie",
    "promote": "versies in gebruik nemen of intrekken",
}


def _end(request: Request) -> None:
    state = _state(request)
    if state.session_id:
        _store(request).end_session(state.session_id)
    state.session, state.end_session_cookie = None, True


class SignedIn:
    """A dependency: the signed-in user who may do ``action``; a page declares
    ``user: Annotated[TokenRecord, Depends(SignedIn("audits"))]``."""

    def __init__(self, action: str) -> None:
        self.action = action

    def __call__(self, request: Request, auth: Auth) -> TokenRecord:
        return session_user(request, auth, self.action)


@router.get("/ui/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = HOME_PAGE) -> HTMLResponse:
    return page("login.html", csrf=csrf_token(request), next=next, error=None)


@router.post("/ui/login", response_class=HTMLResponse)
def login(
    request: Request,
    auth: Auth,
    token: str = Form(""),
    csrf: str = Form(""),
    next: str = Form(HOME_PAGE),
) -> Response:
    try:
        check_csrf(request, csrf)
        record = auth.store.authenticate(token.strip())
        if record is None:
            raise Unauthenticated("unknown or revoked token")
    except Refusal as error:  # the login form again, with the reason
        return page(
            "login.html", status=status_for(error), csrf=csrf_token(request), next=next, error=str(error)
        )
    _end(request)  # a session the browser already had ends: a new id and a new CSRF token for this login
    state = _state(request)
    state.new_session_id, _ = auth.store.start_session(record.id)
    state.end_login_cookie = True
    target = next if next.startswith("/ui/") else HOME_PAGE
    return RedirectResponse(target, status_code=303)


@router.post("/ui/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    try:
        check_csrf(request, csrf)
    except Refusal as error:  # answered as JSON, not as the error page, as logout always has
        status, body, headers = answer(error, "POST /ui/logout")
        return JSONResponse(body, status_code=status, headers=headers)
    _end(request)
    return RedirectResponse("/ui/login", status_code=303)


class PageSessions:
    """ASGI middleware: the session and login cookies into the scope, their changes onto the response.

    It does no database work itself (an async middleware would block the event loop); the routes look the
    session up, in their worker thread, when they ask for it.
    """

    def __init__(self, app: ASGIApp, *, secure_everywhere: bool) -> None:
        self.app = app
        self.secure_everywhere = secure_everywhere

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = cookie_parser(_header(scope, b"cookie"))
        state = _PageState(session_id=cookies.get(SESSION_COOKIE), login_csrf=cookies.get(LOGIN_COOKIE))
        scope[_SCOPE_KEY] = state
        secure = self.secure_everywhere or scope.get("scheme") == "https"

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for cookie in _cookie_changes(state, secure):
                    headers.append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookies)


def _header(scope: Scope, name: bytes) -> str:
    return next((value.decode("latin-1") for key, value in scope["headers"] if key == name), "")


def _cookie(name: str, value: str, max_age: int, secure: bool) -> str:
    flags = f"{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict"
    return flags + ("; Secure" if secure else "")


def _cookie_changes(state: _PageState, secure: bool) -> list[str]:
    """The ``Set-Cookie`` values for what the route did: a new session, an ended one, the login cookie."""
    changes = []
    if state.new_session_id:
        changes.append(_cookie(SESSION_COOKIE, state.new_session_id, int(LIFETIME.total_seconds()), secure))
    elif state.end_session_cookie:
        changes.append(_cookie(SESSION_COOKIE, "", 0, secure))
    if state.end_login_cookie:
        changes.append(_cookie(LOGIN_COOKIE, "", 0, secure))
    elif state.new_login_csrf and state.login_csrf:
        changes.append(_cookie(LOGIN_COOKIE, state.login_csrf, LOGIN_COOKIE_SECONDS, secure))
    return changes
