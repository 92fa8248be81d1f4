"""An ASGI app driven in this process, without sockets or an HTTP client: its lifespan, and requests.

The CPU a request costs a server is what matters on a shared 2-core machine, and wrk's figures move with
whatever else runs there. Calling the app directly, as uvicorn would after parsing the HTTP bytes,
leaves out only uvicorn's own work (the same for every BentoML service), so two services can be compared
by their CPU per request in one process with ``time.process_time`` (all threads: BentoML runs a sync
API method in a worker thread).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

Message = dict[str, Any]


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


@contextlib.asynccontextmanager
async def running(app: Any) -> AsyncIterator[None]:
    """The app between its lifespan's startup and shutdown (BentoML builds the service instance at startup)."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()

    async def receive() -> Message:
        return await inbox.get()

    async def send(message: Message) -> None:
        await outbox.put(message)

    task = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"the app did not start: {started}")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task


async def post(app: Any, path: str, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()) -> Answer:
    """``POST path`` with ``body`` (JSON) to ``app``; its status and body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:3000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 3000),
        "state": {},
    }
    sent = False
    done = asyncio.Event()
    status = 0
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    await app(scope, receive, send)
    return Answer(status, b"".join(chunks))


async def post_all(
    app: Any,
    path: str,
    bodies: Sequence[bytes],
    n: int,
    concurrency: int,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> list[int]:
    """``n`` requests, cycling through ``bodies``, ``concurrency`` at a time; each answer's status."""
    statuses: list[int] = []
    counter = iter(range(n))

    async def client() -> None:
        for i in counter:
            answer = await post(app, path, bodies[i % len(bodies)], headers)
            statuses.append(answer.status)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return statuses
