"""The gate every HTTP request passes before the service does any work for it (an ASGI middleware).

In this order, each step refusing through the one error table (:mod:`serving.http_errors`):

1. **Overload.** At most ``RISKSCAN_MAX_CONCURRENCY`` requests are in hand per worker and at most
   ``RISKSCAN_MAX_QUEUE`` wait for a place, each for at most ``RISKSCAN_QUEUE_SECONDS``; any more are
   answered at once with 503 and ``Retry-After``, never with a dropped connection. BentoML's own
   ``traffic.max_concurrency`` is not used: it answers 429 without ``Retry-After`` and keeps no queue.
   The health checks are never queued, so a busy service still says it is alive.
2. **Method.** An API path asked with another method than ``POST`` is a 405 whose ``Allow`` says
   ``POST``; a body that is not ``application/json`` is a 415 (checked after the token).
3. **Authentication first.** An API route (and ``/metrics``) needs a bearer token whose role may use
   it, checked before a byte of the body is read: an unauthenticated request is a 401 whatever it
   carries, never a validation error that describes the schema to a stranger.
4. **Bounded body.** A body larger than ``RISKSCAN_MAX_BODY_BYTES`` is a 413: at once when
   ``Content-Length`` says so, and as soon as a streamed body passes the limit otherwise, so a 50 MB
   body is never read whole.
5. **Strict input.** An API body is validated against its model (:mod:`serving.requests`): unknown
   fields, ``"yes"`` for a flag, ``"5"`` for a number are refused by name, at most
   :data:`~riskscan.errors.MAX_REPORTED_PROBLEMS` problems and a count in the answer.

The gate also answers ``GET /docs.json`` (the OpenAPI document, :mod:`serving.openapi`: public, see there
why) and ``GET /metrics`` (admin only), and counts every request in Prometheus metrics whose ``route``
label is one of the service's own routes or ``other``: a stranger probing random paths adds no series.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import anyio.to_thread
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from riskscan.errors import InvalidInput, MethodNotAllowed, Overloaded, TooLarge, UnsupportedMediaType
from serving import openapi
from serving.auth import Authenticator
from serving.http_errors import answer
from serving.metrics import Metrics, route_label
from serving.requests import API_ROUTES, validate_body
from serving.tokens import TokenRecord

#: Paths that answer whatever the load: liveness and readiness are what an orchestrator restarts on.
HEALTH_PATHS: Final = frozenset({"/healthz", "/livez", "/readyz"})
READ_ONLY: Final = ("GET", "HEAD")
JSON: Final = "application/json"
ACTIONS: Final = {"/score": "score", "/outcome": "outcome", "/reload": "reload", "/metrics": "metrics"}
#: The key under which the gate leaves the caller's token record in the request's ``scope["state"]``, so
#: that the handler records evidence under the token the gate checked without looking it up again.
CALLER: Final = "riskscan.caller"
#: The key under which the gate leaves the validated body (the route's request model, serving/requests.py),
#: so that the service need not validate again what the gate validated.
VALIDATED: Final = "riskscan.validated"

#: How long the server keeps an idle keep-alive connection open (seconds; BentoML's and uvicorn's default
#: is 5). A client or proxy that reuses a connection the server is closing at that moment gets no answer,
#: and a POST is not retried: a dropped request. The race is lost whenever the server gives up first, and
#: 5 s is httpx's own idle expiry, so under load some requests were dropped (4 of 2,400 at concurrency 32
#: in CI, 1 of 9,600 here). Longer than the idle timeouts of the clients and proxies in front (httpx 5 s,
#: nginx's upstream keepalive 60 s), so they close first; nginx's own client-side default is this 75 s.
KEEP_ALIVE_SECONDS: Final = 75


def positive_int_env(name: str, default: int) -> int:
    """The positive integer in environment variable ``name``, or ``default`` when it is unset."""
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise InvalidInput(f"{name} must be a positive integer, got {value!r}", field=name, value=value)
    return number


@dataclass(frozen=True)
class Limits:
    """The bounds of one worker, from the environment (defaults in brackets):

    - ``RISKSCAN_MAX_BODY_BYTES`` [4 MiB]: the largest request body; 1,000 cases take about 0.6 MB;
    - ``RISKSCAN_MAX_CONCURRENCY`` [16]: requests in hand at once (BentoML then runs one handler at a
      time per worker thread; the rest wait inside, already read and validated);
    - ``RISKSCAN_MAX_QUEUE`` [128]: requests waiting for one of those places;
    - ``RISKSCAN_QUEUE_SECONDS`` [10]: how long one may wait before it is answered 503;
    - ``RISKSCAN_RETRY_AFTER`` [1]: the seconds a 503 asks the client to wait.
    """

    body_bytes: int = 4 * 1024 * 1024
    concurrency: int = 16
    queue: int = 128
    queue_seconds: int = 10
    retry_after: int = 1

    @classmethod
    def from_environment(cls) -> Limits:
        default = cls()
        return cls(
            body_bytes=positive_int_env("RISKSCAN_MAX_BODY_BYTES", default.body_bytes),
            concurrency=positive_int_env("RISKSCAN_MAX_CONCURRENCY", default.concurrency),
            queue=positive_int_env("RISKSCAN_MAX_QUEUE", default.queue),
            queue_seconds=positive_int_env("RISKSCAN_QUEUE_SECONDS", default.queue_seconds),
            retry_after=positive_int_env("RISKSCAN_RETRY_AFTER", default.retry_after),
        )


class Admission:
    """At most ``limits.concurrency`` requests in hand and ``limits.queue`` waiting; the rest refused."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._places: asyncio.Semaphore | None = None  # made in the server's event loop
        self._waiting = 0

    def _refuse(self, why: str) -> Overloaded:
        return Overloaded(
            f"the service is overloaded ({why}); try again in {self.limits.retry_after} s",
            retry_after=self.limits.retry_after,
        )

    async def enter(self) -> None:
        """Take a place, waiting in the queue if need be; the caller must :meth:`leave` it. (Not an async
        context manager: the generator behind one cost each request more than the admission itself.)"""
        if self._places is None:
            self._places = asyncio.Semaphore(self.limits.concurrency)
        places = self._places
        if places.locked():
            if self._waiting >= self.limits.queue:
                raise self._refuse(f"{self.limits.concurrency} requests in hand, {self._waiting} waiting")
            self._waiting += 1
            try:
                async with asyncio.timeout(self.limits.queue_seconds):
                    await places.acquire()
            except TimeoutError:
                raise self._refuse(f"no place within {self.limits.queue_seconds} s") from None
            finally:
                self._waiting -= 1
        else:
            await places.acquire()

    def leave(self) -> None:
        assert self._places is not None
        self._places.release()


class _ClientGone(Exception):
    """The client disconnected before its body arrived; there is no one to answer."""


async def read_body(headers: dict[bytes, bytes], receive: Receive, limit: int) -> bytes:
    """The whole body, refused with :class:`TooLarge` as soon as it is known to exceed ``limit`` bytes."""
    declared = headers.get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit, streamed=True)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large(size: int, limit: int, *, streamed: bool = False) -> TooLarge:
    got = f"more than {limit}" if streamed else str(size)
    return TooLarge(f"the body may be at most {limit} bytes (got {got})", field="body", value=size)


def _require_json(headers: dict[bytes, bytes]) -> None:
    """The API reads JSON only; a body sent as a form or as text is refused, not parsed as something else."""
    header = headers.get(b"content-type", b"").decode("latin-1")
    media_type = header.partition(";")[0].strip().lower()
    if media_type != JSON:
        raise UnsupportedMediaType(
            f"the body must be sent as {JSON}, got Content-Type {header!r}",
            field="Content-Type",
            value=header,
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already read body to the app once, then waits for the disconnect."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class Gate:
    """The ASGI middleware (see the module docstring); ``authenticator`` gives the service's
    :class:`~serving.auth.Authenticator` once the service has started."""

    def __init__(self, app: ASGIApp, authenticator: Callable[[], Authenticator]) -> None:
        self.app = app
        self.authenticator = authenticator
        self.limits = Limits.from_environment()
        self.admission = Admission(self.limits)
        self.metrics = Metrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: list[int] = []

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self._route(scope, receive, counted)
        except _ClientGone:
            status.append(499)  # nginx's "client closed request": nothing was sent
        except Exception as error:  # every refusal, and any bug, through the one table
            await self._refuse(scope, receive, counted, error, started_response=bool(status))
        finally:
            self.metrics.observe(
                route_label(scope["path"]), scope["method"], status[0] if status else 500, started
            )

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, error: Exception, *, started_response: bool
    ) -> None:
        if started_response:  # the answer is under way: nothing else can be said
            raise error
        code, body, headers = answer(error, f"{scope['method']} {scope['path']}")
        await JSONResponse(body, status_code=code, headers=headers)(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if path in HEALTH_PATHS:
            await self.app(scope, receive, send)
            return
        if path == openapi.DOCUMENT_PATH:
            self._allow(method, path, READ_ONLY)
            await JSONResponse(openapi.document())(scope, receive, send)
            return
        await self.admission.enter()
        try:
            headers = dict(scope["headers"])  # once for the token, the media type and the length
            if path == "/metrics":
                self._allow(method, path, READ_ONLY)
                await self._authenticate(headers, path)
                await Response(self.metrics.exposition(), media_type=self.metrics.content_type)(
                    scope, receive, send
                )
                return
            if path in API_ROUTES:
                self._allow(method, path, ("POST",))
                scope.setdefault("state", {})[CALLER] = await self._authenticate(headers, path)
                _require_json(headers)
            body = await read_body(headers, receive, self.limits.body_bytes)
            if path in API_ROUTES:
                scope["state"][VALIDATED] = validate_body(path, body)
            await self.app(scope, _replay(body, receive), send)
        finally:
            self.admission.leave()

    @staticmethod
    def _allow(method: str, path: str, allowed: tuple[str, ...]) -> None:
        if method not in allowed:
            raise MethodNotAllowed(method, path, allowed)

    async def _authenticate(self, headers: dict[bytes, bytes], path: str) -> TokenRecord:
        """The bearer token's record, if its role may use ``path``: from the authenticator's bounded cache
        when it holds the token, else by a database look-up, off the event loop."""
        auth = self.authenticator()
        header = headers.get(b"authorization")
        token = auth.token_from_header(header.decode("latin-1") if header is not None else None)
        record = auth.require_cached(token, ACTIONS[path])
        if record is None:
            record = await anyio.to_thread.run_sync(auth.require, token, ACTIONS[path])
        return record
