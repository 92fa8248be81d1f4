"""One table from :mod:`riskscan.errors` to HTTP statuses, for the BentoML API and the web pages alike.

Both front-ends (``serving/service.py`` and ``serving/web/``) turn every exception through this module, so
the status of an error is decided here and nowhere else: a not-found is a 404 on ``POST /outcome`` and on
a committee document page, a missing token a 401 on both (the pages then send the browser to the login
page).

A class's status is that of the nearest class in its MRO that the table names, so ``TooLarge`` (413) wins
over its parent ``InvalidParameter`` (400), which wins over ``InvalidInput`` (422), and every other
:class:`~riskscan.errors.Refusal` answers 422. Anything that is not a refusal is a bug: it is logged with
its traceback and answered with a plain 500 body that says nothing about the code.

A database that cannot be reached (PostgreSQL stopped, the connection cut, SQLite locked past its busy
timeout) is an outage, not a bug: it answers 503 with a reason (:func:`outage`), like a decision log that
could not be written. Every write is one transaction, so an outage mid-request leaves nothing half-written.

The JSON body of a refusal is ``{"error": <the sentence>, **details}``, plus ``problems`` (and ``total``
when only the first were kept) for an :class:`~riskscan.errors.InvalidInput` that lists them. Its size is
bounded: at most :data:`~riskscan.errors.MAX_REPORTED_PROBLEMS` problems, and no text from the request
longer than :data:`MAX_ECHOED_CHARACTERS` characters (a sentence: :data:`MAX_SENTENCE_CHARACTERS`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from riskscan.errors import (
    OUTAGE_RETRY_SECONDS,
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidParameter,
    MethodNotAllowed,
    NotFound,
    Problem,
    Refusal,
    TooLarge,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
)

log = logging.getLogger("riskscan.serving")

#: The HTTP status of each refusal class; a class not listed takes its nearest listed ancestor's.
STATUS: Final[Mapping[type[Refusal], int]] = MappingProxyType(
    {
        InvalidParameter: 400,
        Unauthenticated: 401,
        Forbidden: 403,
        NotFound: 404,
        MethodNotAllowed: 405,
        Conflict: 409,
        TooLarge: 413,
        UnsupportedMediaType: 415,
        InvalidInput: 422,
        Refusal: 422,
        Unavailable: 503,
    }
)
#: The longest text an error answer repeats from the request (a value, the sentence itself).
MAX_ECHOED_CHARACTERS: Final = 200
#: The longest error sentence (it may quote a value, or list problems).
MAX_SENTENCE_CHARACTERS: Final = 2000
#: The answer to a bug: no exception text, no traceback; those go to the server log only.
BUG_STATUS: Final = 500
BUG_BODY: Final[Mapping[str, str]] = MappingProxyType(
    {"error": "internal server error: this is a bug, and the server log has the details"}
)


def status_for(error: BaseException) -> int:
    """The HTTP status of ``error``: from :data:`STATUS` for a refusal, :data:`BUG_STATUS` otherwise."""
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return BUG_STATUS


def refusal_body(error: Refusal) -> dict[str, Any]:
    """The JSON body of a refusal: the sentence, its details and, for invalid input, every problem."""
    details = {key: shortened(value) for key, value in error.details.items()}
    body: dict[str, Any] = {"error": shortened(str(error), MAX_SENTENCE_CHARACTERS), **details}
    if isinstance(error, InvalidInput) and error.problems:
        body["problems"] = [problem_json(problem) for problem in error.problems]
        if error.total > len(error.problems):
            body["total"] = error.total
    return body


def problem_json(problem: Problem) -> dict[str, Any]:
    """One problem as the API has always shown it: ``index`` is the record's position in the request.

    A long text value is cut to :data:`MAX_ECHOED_CHARACTERS` and its length said, so that an error
    answer stays small whatever was sent (an 11 MB note is not echoed back).
    """
    fields = problem.as_dict()
    for key in ("value", "case_id"):
        fields[key] = shortened(fields[key])
    return {"index": fields.pop("row"), **fields}


def outage(error: BaseException) -> Unavailable | None:
    """The refusal to answer for a database that cannot be reached now, or None for any other error."""
    if isinstance(error, OperationalError | InterfaceError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    ):
        return Unavailable(
            "the database cannot be reached now; nothing was recorded, try again later",
            retry_after=OUTAGE_RETRY_SECONDS,
            detail=type(error.orig).__name__ if isinstance(error, DBAPIError) else type(error).__name__,
        )
    return None


def shortened(value: Any, limit: int = MAX_ECHOED_CHARACTERS) -> Any:
    """``value``, or its first ``limit`` characters and its length when it is longer text."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}... ({len(value)} characters)"
    return value


def headers_for(error: BaseException) -> dict[str, str]:
    """The headers an answer to ``error`` must carry: ``Allow`` on a 405 (RFC 9110 15.5.6), ``Retry-After``
    on a 503 that will pass by itself (an overload, an outage; RFC 9110 10.2.3), so a client knows what to
    do next."""
    if isinstance(error, MethodNotAllowed):
        return {"Allow": ", ".join(error.allowed)}
    if isinstance(error, Unavailable) and error.retry_after is not None:
        return {"Retry-After": str(error.retry_after)}
    return {}


def answer(error: BaseException, where: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The status, JSON body and headers for ``error``, raised while answering ``where`` (``"POST /score"``).

    A refusal is answered as the table says; anything else is logged with its traceback and answered
    with :data:`BUG_BODY`.
    """
    unavailable = outage(error)
    if unavailable is not None:
        log.warning("database unavailable while answering %s: %s", where, type(error).__name__)
        error = unavailable
    if isinstance(error, Refusal):
        return status_for(error), refusal_body(error), headers_for(error)
    log.error("bug while answering %s", where, exc_info=error)
    return BUG_STATUS, dict(BUG_BODY), {}
