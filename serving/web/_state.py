"""The service's shared state as FastAPI dependencies.

The BentoML service builds one :class:`~serving.runtime.ScanRuntime` and one
:class:`~serving.auth.Authenticator` per worker and puts them on ``app.state``; a route asks for them by
annotating a parameter with :data:`Runtime` or :data:`Auth`, so tests can hand in their own.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from serving.auth import Authenticator
from serving.runtime import ScanRuntime


# Both are ``async``: they only read app.state, and FastAPI runs a plain ``def`` dependency in a worker
# thread, a hand-off to another thread and back on every request for nothing.
async def runtime(request: Request) -> ScanRuntime:
    served: ScanRuntime = request.app.state.runtime
    return served


async def authenticator(request: Request) -> Authenticator:
    served: Authenticator = request.app.state.auth
    return served


Runtime = Annotated[ScanRuntime, Depends(runtime)]
Auth = Annotated[Authenticator, Depends(authenticator)]
