"""``build_app``: the routers of the web front-end, the signed session cookie and the error handlers."""

from __future__ import annotations

import secrets

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware

from riskscan import home
from serving.web import _cases, _committee, _privacy, _reexamination, _session, _worklist
from serving.web._errors import install_error_handlers

SESSION_HOURS = 8


def _session_secret() -> str:
    path = home.home() / "session.key"
    if not path.exists():
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def build_app() -> FastAPI:
    """The FastAPI app that the BentoML service mounts at ``/``; it expects ``app.state.runtime`` and
    ``app.state.auth`` to be set before the first request."""
    app = FastAPI(title="riskscan pages and case lists", docs_url=None, redoc_url=None)
    app.add_middleware(
        SessionMiddleware,
        secret_key=_session_secret(),
        same_site="strict",
        https_only=False,
        session_cookie="riskscan_session",
        max_age=SESSION_HOURS * 3600,
    )
    for module in (_cases, _session, _worklist, _committee, _reexamination, _privacy):
        app.include_router(module.router)
    install_error_handlers(app)
    return app
