"""Security headers on every answer of the web app, and the one place they are spelled.

The Content-Security-Policy allows scripts, styles, images, fonts and form targets from the service itself
only, and no framing: an injected ``<script>`` or ``style=`` attribute does nothing, and no other site can
frame a page to trick a click (``frame-ancestors 'none'``, and ``X-Frame-Options: DENY`` for browsers
that predate it). So the templates carry no inline script or style: the page's look is
``static/riskscan.css``, served by the app at ``/ui/static/``. ``nosniff`` stops a browser from reading a
JSON answer as HTML; ``no-referrer`` keeps the page's address (with case and request ids in its query) out
of other sites' logs; ``no-store`` keeps pages with case data out of shared caches and the browser's disk.
"""

from __future__ import annotations

from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self'"
)
#: A stored report (an audit, a retraining comparison) is one self-contained file made by riskscan itself:
#: its style inline and its plots as ``data:`` images. It may load nothing, run no script at all, submit
#: nothing and not be framed.
DOCUMENT_POLICY: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; "
    "form-action 'none'; base-uri 'none'"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class SecurityHeaders:
    """ASGI middleware: :data:`SECURITY_HEADERS` on every response (a route's own ``Cache-Control``, as
    the static files send, is kept)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_security_headers(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def add_security_headers(headers: MutableHeaders) -> None:
    """Set every header of :data:`SECURITY_HEADERS` that the response does not set itself."""
    for name, value in SECURITY_HEADERS.items():
        if name not in headers:
            headers[name] = value
