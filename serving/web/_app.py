"""``build_app``: the routers of the web front-end, its static files, the server-side page sessions, the
security headers and the error handlers."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from serving.web import (
    _admin,
    _cases,
    _committee,
    _decisions,
    _privacy,
    _reexamination,
    _session,
    _worklist,
)
from serving.web._errors import install_error_handlers
from serving.web._headers import SecurityHeaders
from serving.web._session import PageSessions, cookies_secure_everywhere

STATIC = Path(__file__).with_name("static")


def build_app() -> FastAPI:
    """The FastAPI app that the BentoML service mounts at ``/``; it expects ``app.state.runtime`` and
    ``app.state.auth`` to be set before the first request."""
    # The one public API document is /docs.json (serving/openapi.py); the pages and /cases publish none.
    app = FastAPI(title="riskscan pages and case lists", docs_url=None, redoc_url=None, openapi_url=None)
    # Added last is outermost: the headers go on every answer, the session cookies' included.
    app.add_middleware(PageSessions, secure_everywhere=cookies_secure_everywhere())
    app.add_middleware(SecurityHeaders)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="static")
    for module in (_cases, _session, _worklist, _committee, _reexamination, _decisions, _admin, _privacy):
        app.include_router(module.router)
    install_error_handlers(app)
    return app
