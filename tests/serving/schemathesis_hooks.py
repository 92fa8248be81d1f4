"""Schemathesis hooks for ``test_schemathesis.py`` (loaded by ``SCHEMATHESIS_HOOKS``).

One rule of ``POST /score`` cannot be written in JSON Schema: a ``case_id`` is not repeated within one
request (``uniqueItems`` compares whole cases, not one property). The document says so in words, the
service refuses such a body with 422, and generated bodies that repeat a ``case_id`` are left out here,
so that the ``positive_data_acceptance`` check judges only what the schema can promise.
"""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.hook
def filter_body(context: schemathesis.HookContext, body: Any) -> bool:
    cases = body.get("cases") if isinstance(body, dict) else None
    if not isinstance(cases, list):
        return True
    ids = [
        case.get("case_id")
        for case in cases
        if isinstance(case, dict) and isinstance(case.get("case_id"), str)
    ]
    return len(ids) == len(set(ids))
