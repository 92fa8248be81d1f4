"""The page session: logging in with a token, logging out, the form's CSRF token, the signed-in user.

A page session holds the token given at login (checked again on every page, so a revoked token stops
working within the authenticator's cache time), the user's name and role, and one CSRF token that every
form sends back.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from riskscan.errors import Forbidden, Refusal, Unauthenticated
from serving.auth import Authenticator
from serving.http_errors import answer, status_for
from serving.tokens import TokenRecord
from serving.web._render import page
from serving.web._state import Auth

HOME_PAGE = "/ui/worklist?scan=vw"

router = APIRouter()


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return str(token)


def check_csrf(request: Request, sent: str) -> None:
    """Refuse a form whose CSRF token is not the session's."""
    expected = request.session.get("csrf")
    if not expected or not hmac.compare_digest(str(expected), sent or ""):
        raise Forbidden("the form's CSRF token is missing or wrong; reload the page and try again")


def session_user(request: Request, auth: Authenticator, action: str) -> TokenRecord:
    """The signed-in user, if their role may do ``action``; :class:`Unauthenticated` sends them to log in."""
    return auth.require(request.session.get("token"), action)


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
    request.session["token"] = token.strip()
    request.session["name"] = record.name
    request.session["role"] = record.role
    target = next if next.startswith("/ui/") else HOME_PAGE
    return RedirectResponse(target, status_code=303)


@router.post("/ui/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    try:
        check_csrf(request, csrf)
    except Refusal as error:  # answered as JSON, not as the error page, as logout always has
        status, body = answer(error, "POST /ui/logout")
        return JSONResponse(body, status_code=status)
    request.session.clear()
    return RedirectResponse("/ui/login", status_code=303)
