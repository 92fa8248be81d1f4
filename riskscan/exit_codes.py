"""The exit codes of ``riskscan``: one table for every verb, printed at the end of ``riskscan --help``.

A script that runs a verb branches on these numbers, so a number never means two things: every verb
returns one of the :class:`ExitCode` members below, never a bare number.
"""

from __future__ import annotations

import textwrap
from enum import IntEnum


class ExitCode(IntEnum):
    """What the process's exit status says; :data:`MEANING` words each one."""

    SUCCESS = 0
    BUG = 1
    REFUSED = 2
    RETRAIN_RECOMMENDED = 3
    COMMITTEE_REVIEW = 4


MEANING: dict[ExitCode, str] = {
    ExitCode.SUCCESS: "success",
    ExitCode.BUG: "a bug: an unexpected exception (RISKSCAN_DEBUG=1 shows its traceback)",
    ExitCode.REFUSED: "refused, with one sentence saying why (also a malformed command line, "
    "and 'log verify' when the evidence does not verify: the sentence says what broke)",
    ExitCode.RETRAIN_RECOMMENDED: "retrain recommended (monitor)",
    ExitCode.COMMITTEE_REVIEW: "committee review required (monitor; outranks retraining)",
}


def table(width: int = 100) -> str:
    """The table as ``riskscan --help`` prints it, each meaning wrapped to ``width`` characters."""
    rows = (
        textwrap.fill(MEANING[code], width, initial_indent=f"  {int(code)}  ", subsequent_indent="     ")
        for code in ExitCode
    )
    return "exit codes:\n" + "\n".join(rows)
