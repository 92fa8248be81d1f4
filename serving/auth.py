"""Bearer-token authentication and role checks, shared by the API and the web pages.

Tokens are created by ``riskscan token create``, shown once, and stored only as SHA-256 hashes. A missing
or unknown token is 401; a valid token whose role may not do the thing asked is 403.

``POST /score`` is machine-to-machine: only the case-management system (role ``systeem``) and ``admin``
may call it, because its answer holds the score, the threshold and the control flag, which enforcement
staff must never see (the random control sample is blind; ``serving/web/_worklist.py``). Staff
(``handhaving``) work from the pages, which show neither.
"""

from __future__ import annotations

import threading
import time

from riskscan.errors import Forbidden, Unauthenticated
from serving.store import ServingStore
from serving.tokens import TokenRecord

#: Which roles may use which part of the service. Admin may do everything but sign a committee decision:
#: only committee members decide, and an admin promotes only what two of them signed (four eyes).
PERMISSIONS: dict[str, frozenset[str]] = {
    "score": frozenset({"systeem", "admin"}),
    "outcome": frozenset({"handhaving", "systeem", "admin"}),
    "cases": frozenset({"committee", "retrain", "admin"}),
    "worklist": frozenset({"handhaving", "admin"}),
    "audits": frozenset({"committee", "admin"}),
    "reload": frozenset({"admin"}),
    "metrics": frozenset({"admin"}),
    "rule": frozenset({"committee", "admin"}),
    "reexamination": frozenset({"handhaving", "admin"}),
    "decide": frozenset({"committee"}),
    "promote": frozenset({"admin"}),
}
CACHE_SECONDS = 5.0  # a revoked token stops working within this time


class Authenticator:
    def __init__(self, store: ServingStore) -> None:
        self.store = store
        self._cache: dict[str, tuple[float, TokenRecord | None]] = {}
        self._lock = threading.Lock()

    def _cached(self, token: str) -> tuple[bool, TokenRecord | None]:
        """Whether ``token`` was looked up less than ``CACHE_SECONDS`` ago, and what that look-up found."""
        with self._lock:
            hit = self._cache.get(token)
        if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
            return True, hit[1]
        return False, None

    def _lookup(self, token: str) -> TokenRecord | None:
        fresh, record = self._cached(token)
        if fresh:
            return record
        now = time.monotonic()
        record = self.store.authenticate(token)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[token] = (now, record)
        return record

    def token_from_header(self, header: str | None) -> str:
        if not header:
            raise Unauthenticated("authentication required: send 'Authorization: Bearer <token>'")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("malformed Authorization header: expected 'Bearer <token>'")
        return token.strip()

    def require(self, token: str | None, action: str) -> TokenRecord:
        if not token:
            raise Unauthenticated("authentication required: send 'Authorization: Bearer <token>'")
        record = self._lookup(token)
        if record is None:
            raise Unauthenticated("unknown or revoked token")
        return check_role(record, action)

    def require_cached(self, token: str | None, action: str) -> TokenRecord | None:
        """:meth:`require` when it needs no database, so that the event loop may call it: the token's
        record, or 401/403 as :meth:`require` would answer, when the token was looked up less than
        ``CACHE_SECONDS`` ago; None when it must be looked up (call :meth:`require`, off the event loop).

        The service's gate calls this first: handing a cached check to a worker thread cost more CPU than
        the check (benchmarks/bench_online_cpu.py)."""
        if not token:
            raise Unauthenticated("authentication required: send 'Authorization: Bearer <token>'")
        fresh, record = self._cached(token)
        if not fresh:
            return None
        if record is None:
            raise Unauthenticated("unknown or revoked token")
        return check_role(record, action)


def check_role(record: TokenRecord, action: str) -> TokenRecord:
    """``record`` if its role may do ``action``; :class:`Forbidden` naming the roles that may, otherwise."""
    allowed = PERMISSIONS[action]
    if record.role not in allowed:
        raise Forbidden(f"role '{record.role}' may not {action}; allowed roles: {', '.join(sorted(allowed))}")
    return record
