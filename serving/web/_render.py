"""Rendering a page: the Jinja templates in ``templates/``, each with the notice that a signal is not a
decision, and the way back to the login page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from serving.scoring import SIGNAL_NOTICE_NL

TEMPLATES = Path(__file__).with_name("templates")
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
)


def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The template ``name`` rendered with ``context``; every page repeats the signal notice."""
    html = _env.get_template(name).render(notice=SIGNAL_NOTICE_NL, **context)
    return HTMLResponse(html, status_code=status)


def login_redirect(request: Request) -> RedirectResponse:
    """To the login page, which sends the browser back to the page it came from."""
    return RedirectResponse(f"/ui/login?next={request.url.path}?{request.url.query}", status_code=303)
