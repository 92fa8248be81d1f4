"""How the web app answers an exception: through the one table in :mod:`serving.http_errors`.

``GET /cases`` answers JSON, like the BentoML API. A page (``/ui/...``) answers a refusal with the error
page at the table's status (a gate refusal worded in Dutch, :mod:`serving.web._refusals`), except
:class:`~riskscan.errors.Unauthenticated`, which sends the browser to the login page and back. Anything
that is not a refusal is a bug: logged with its traceback, answered with the plain 500 JSON body, on
pages too.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from riskscan.errors import Refusal, Unauthenticated
from serving.http_errors import answer, headers_for, status_for
from serving.web._headers import add_security_headers
from serving.web._refusals import for_people
from serving.web._render import login_redirect, page

PAGES = "/ui/"


def answer_error(request: Request, error: Exception) -> Response:
    if isinstance(error, Refusal) and request.url.path.startswith(PAGES):
        if isinstance(error, Unauthenticated):
            return login_redirect(request)
        shown = page("error.html", status=status_for(error), message=for_people(error))
        shown.headers.update(headers_for(error))
        return shown
    status, body, headers = answer(error, f"{request.method} {request.url.path}")
    response = JSONResponse(body, status_code=status, headers=headers)
    # A bug's answer is sent by the outermost middleware, outside SecurityHeaders: it gets them here.
    add_security_headers(response.headers)
    return response


def install_error_handlers(app: FastAPI) -> None:
    """Answer refusals and bugs as :func:`answer_error` says; FastAPI's own 422 for a malformed query and
    404 for an unknown path stay as they are.

    Starlette runs the ``Exception`` handler in its outermost middleware and re-raises the bug once the
    500 has been sent, so the ASGI server logs the traceback a second time; the answer is not affected.
    """
    app.add_exception_handler(Refusal, answer_error)
    app.add_exception_handler(Exception, answer_error)
