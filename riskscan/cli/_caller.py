"""Who is calling, on the command line: the identity behind one API token, never a typed name.

Verbs that record evidence under one person's identity (a ruling, a promotion, a withdrawal) take the
token with ``--token`` or from ``RISKSCAN_TOKEN``, resolve it here, and check its role against the same
permission table the service uses (:data:`serving.auth.PERMISSIONS`), so the command line and the pages
refuse the same roles in the same words. Committee decisions take one or two committee tokens instead
(:mod:`riskscan.cli.governance`, :mod:`serving.signing`).
"""

from __future__ import annotations

import os
from typing import Any

from riskscan.errors import Unauthenticated

#: The environment variable a verb reads its token from when ``--token`` is not given.
TOKEN_VARIABLE = "RISKSCAN_TOKEN"


def caller(token: str | None, action: str) -> Any:
    """The token's record if its role may do ``action``; the identity of the caller, never a typed name."""
    from serving.auth import Authenticator
    from serving.store import ServingStore

    given = token or os.environ.get(TOKEN_VARIABLE)
    if not given or not given.strip():
        raise Unauthenticated(f"a token is required: pass --token or set {TOKEN_VARIABLE}")
    return Authenticator(ServingStore()).require(given.strip(), action)
