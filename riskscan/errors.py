"""Every error a user may see, in one module (as NannyML keeps its ``exceptions.py``).

The tree::

    RiskscanError                 root; never raised itself
    └── Refusal                   a clear "no" in one sentence: what, the value, what was expected
        ├── InvalidInput          a value is wrong; ``problems`` lists each one (field, value, expected)
        │   └── InvalidParameter  a parameter of the request itself (which scan, a date, a limit) is wrong
        │       └── TooLarge      the request carries more than one request may (cases per call)
        ├── NotFound              what was asked for does not exist (a case, a version, a file)
        ├── Conflict              the request contradicts what is on record (already withdrawn, stale hash)
        │   └── GateRefusal       promotion refused; ``reasons`` types every condition that does not hold
        ├── MethodNotAllowed      the path exists, but not for this HTTP method; ``allowed`` names them
        ├── UnsupportedMediaType  the body is not of the media type the endpoint reads (JSON)
        ├── Unavailable           something needed is not there now (the log database, a champion)
        │   └── Overloaded        the service is at its limit of work in hand; ``retry_after`` seconds
        ├── ConfigError           a reviewed file (register, scan spec) is malformed
        ├── ForbiddenColumn       a column was asked for a use its register role does not allow
        ├── Unauthenticated       no valid credentials
        └── Forbidden             valid credentials, but the role may not do this

Why one tree: the command line catches :class:`Refusal` and nothing else, so a ``KeyError`` or a
``ValueError`` from a bug is never dressed up as a polite refusal; it is a bug, with a traceback under
``RISKSCAN_DEBUG``. Both HTTP front-ends and the command line map these classes to statuses and exit codes
through one table each (``serving/http_errors.py``, ``riskscan/cli/exit_codes.py``), so a not-found is a
404 on the API and on the web pages alike.

A refusal may carry ``details``: named facts beside the sentence (the field and the value refused, since
when a scan is unavailable) that a program can read without parsing the message; the HTTP front-ends add
them to the JSON body. A gate refusal types each of its reasons (:class:`Reason`: a code and the facts it
names, beside the English sentence), so a page can word it for people in Dutch without parsing English.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

#: How many problems a message (and an HTTP error body) lists; the count says how many there were.
MAX_REPORTED_PROBLEMS: Final = 50


class RiskscanError(Exception):
    """The root of every riskscan error."""


class Refusal(RiskscanError):
    """A clear, user-facing "no". The message is one sentence naming the field, the value and what was
    expected; nothing was changed. Keyword arguments are kept as ``details``."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


@dataclass(frozen=True)
class Problem:
    """One invalid value: which case or row, which field, what it held and what was expected."""

    column: str | None  # None when the value is not a record at all (a number where a case was expected)
    value: Any
    expected: str
    row: Any = None
    case_id: str | None = None

    def __str__(self) -> str:
        where = f"case '{self.case_id}'" if self.case_id is not None else f"row {self.row}"
        if self.row is None and self.case_id is None:
            where = "table"
        return f"{where}: field '{self.column}' = {self.value!r}; expected {self.expected}"

    def as_dict(self) -> dict[str, Any]:
        value = self.value
        if hasattr(value, "item") and callable(value.item):  # a numpy scalar
            value = value.item()
        if not isinstance(value, str | int | float | bool | type(None)):
            value = str(value)
        return {
            "case_id": self.case_id,
            "row": self.row,
            "field": self.column,
            "value": value,
            "expected": self.expected,
        }


class InvalidInput(Refusal):
    """Input failed validation and nothing was changed.

    Raised with a sentence (one bad value), or through :meth:`from_problems` with every invalid value
    found; ``problems`` then holds the first :data:`MAX_REPORTED_PROBLEMS` and ``total`` counts them all.
    """

    def __init__(
        self, message: str, problems: Sequence[Problem] = (), total: int | None = None, **details: Any
    ) -> None:
        super().__init__(message, **details)
        self.problems = list(problems)
        self.total = total if total is not None else len(self.problems)

    @classmethod
    def from_problems(cls, problems: Sequence[Problem], total: int | None = None) -> InvalidInput:
        total = total if total is not None else len(problems)
        shown = list(problems[:MAX_REPORTED_PROBLEMS])
        more = total - len(shown)
        suffix = f"\n  ... and {more} more" if more > 0 else ""
        lines = "\n  - ".join(str(problem) for problem in shown)
        return cls(f"{total} invalid value(s):\n  - {lines}{suffix}", shown, total)


class InvalidParameter(InvalidInput):
    """A parameter of the request itself is wrong (which scan, a date, a limit), as opposed to the records
    it carries; ``details`` names the ``field`` and, where there is one, the ``value``."""


class TooLarge(InvalidParameter):
    """The request carries more than one request may (cases per call); the message says where to go
    instead."""


class NotFound(Refusal):
    """What was asked for does not exist: a logged case, a model version, an input file."""


class Conflict(Refusal):
    """The request contradicts what is on record: a scan already withdrawn, an audit hash that is stale."""


@dataclass(frozen=True)
class Reason:
    """One condition a refusal names, typed: a ``code`` a program (or a page in another language) can
    switch on, the ``facts`` it names (plain values: text, numbers, lists of text), and the English
    ``text`` the API and the command line show."""

    code: str
    text: str
    facts: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.text


class GateRefusal(Conflict):
    """The promotion gate refuses; ``reasons`` types every condition that does not hold (their codes are
    :class:`models.gate_reasons.GateReason`), ``unmet`` is their English sentences."""

    def __init__(self, action: str, reasons: Sequence[Reason]) -> None:
        self.reasons = list(reasons)
        self.unmet = [reason.text for reason in self.reasons]
        super().__init__(f"{action} refused: " + "; ".join(self.unmet))


class MethodNotAllowed(Refusal):
    """The path exists, but not for this method; ``allowed`` lists the methods it takes."""

    def __init__(self, method: str, path: str, allowed: Sequence[str]) -> None:
        self.allowed = tuple(allowed)
        super().__init__(f"{method} is not allowed on {path}; allowed: {', '.join(self.allowed)}")


class UnsupportedMediaType(Refusal):
    """The body is sent as another media type than the endpoint reads."""


#: The seconds the answer to an outage (a database that cannot be reached) asks a client to wait: a
#: restarted database is back within seconds, and a client that retries sooner only adds load to it.
OUTAGE_RETRY_SECONDS: Final = 5


class Unavailable(Refusal):
    """Something the request needs is not there now: the log database, a scan's champion, a scheduler.

    ``retry_after`` (seconds) is set when it is expected back by itself (an outage, an overload), so the
    answer can say when to try again; a withdrawn champion comes back only by a new promotion, and has none.
    """

    def __init__(self, message: str, *, retry_after: int | None = None, **details: Any) -> None:
        self.retry_after = retry_after
        if retry_after is not None:
            details["retry_after"] = retry_after
        super().__init__(message, **details)


class Overloaded(Unavailable):
    """The service has as much work in hand and waiting as it may take; try again after ``retry_after``
    seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)


class ConfigError(Refusal):
    """A reviewed file (the feature register, a scan specification) is malformed; the message lists every
    problem found."""


class ForbiddenColumn(Refusal):
    """A column was asked for a use its register role does not allow."""

    def __init__(self, column: str, role: str | None, purpose: str, detail: str = "") -> None:
        self.column = column
        self.role = role
        role_text = f"has register role '{role}'" if role else "is not in the feature register"
        message = f"column '{column}' {role_text} and may not be used {purpose}"
        super().__init__(message + (f": {detail}" if detail else "."))


class Unauthenticated(Refusal):
    """No credentials, or credentials that are not (or no longer) valid."""


class Forbidden(Refusal):
    """Valid credentials whose role may not do what was asked."""
