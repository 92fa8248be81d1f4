"""What a verb is, once: a name, a help line, its arguments and the handler that calls a package.

Every stage module of the command line lists its verbs as :class:`Verb` values; :meth:`Verb.install` adds
one to the parser with the parts every verb shares (``--json FILE``, the handler, the sub-verbs of a group
such as ``riskscan token create``). The argument types that more than one verb uses live here too, so a
date or a period is read the same way on every verb (the rules are in :mod:`riskscan.timerange`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from riskscan import timerange
from riskscan.errors import InvalidInput
from riskscan.exit_codes import ExitCode


@dataclass
class Outcome:
    """What a verb reports: lines for people, a payload for ``--json``, and the exit code."""

    lines: list[str]
    payload: dict[str, Any] = field(default_factory=dict)
    exit_code: ExitCode = ExitCode.SUCCESS


Handler = Callable[[argparse.Namespace], Outcome]
Configure = Callable[[argparse.ArgumentParser], None]


def no_arguments(parser: argparse.ArgumentParser) -> None:
    """The :attr:`Verb.configure` of a verb that takes nothing but ``--json`` (or only sub-verbs)."""


@dataclass(frozen=True)
class Verb:
    """One verb of ``riskscan``: a leaf with a ``handler``, or a group whose ``actions`` are its sub-verbs."""

    name: str
    help: str
    configure: Configure = no_arguments
    handler: Handler | None = None
    actions: tuple[Verb, ...] = ()

    def install(self, parsers: Any) -> None:
        """Add this verb (and its sub-verbs) to ``parsers``, the result of ``add_subparsers``."""
        parser: argparse.ArgumentParser = parsers.add_parser(self.name, help=self.help, description=self.help)
        self.configure(parser)
        if self.actions:
            actions = parser.add_subparsers(dest=f"{self.name}_verb", required=True, metavar="<action>")
            for action in self.actions:
                action.install(actions)
            return
        parser.add_argument("--json", metavar="FILE", type=Path, help="also write the result as JSON to FILE")
        parser.set_defaults(handler=self.handler)


# -- argument types shared by verbs -----------------------------------------------------------------------

#: How the command line names a period's bounds in its refusals.
PERIOD_FLAGS = ("--from", "--to")


def _checked_text(parse: Callable[[str], object], name: str) -> Callable[[str], str]:
    """An argparse type that refuses what ``parse`` refuses and keeps the text as written, so a later
    refusal (a period that ends before it starts) can quote it."""

    def check(text: str) -> str:
        try:
            parse(text)
        except InvalidInput as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    check.__name__ = name  # argparse names the type in its own messages
    return check


def day(text: str) -> date:
    """An argparse type for one calendar day, ``YYYY-MM-DD`` (an as-of date, an approval's last day)."""
    try:
        return timerange.parse_date(text)
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_period(parser: argparse.ArgumentParser, *, from_default: str, to_default: str) -> None:
    """``--from WHEN`` and ``--to WHEN``, with the same meaning on every verb (:mod:`riskscan.timerange`).

    Both stay text in ``args.start`` and ``args.end``; the handler reads them with
    ``timerange.parse_period(..., names=PERIOD_FLAGS)``, which also refuses an empty period.
    """

    def bound(flag: str, dest: str, parse: Callable[[str], datetime], meaning: str, default: str) -> None:
        parser.add_argument(
            flag,
            dest=dest,
            metavar="WHEN",
            type=_checked_text(parse, "date"),
            help=f"{meaning}; local time without a zone (default: {default})",
        )

    bound(
        "--from",
        "start",
        timerange.parse_from,
        f"start of the period, inclusive: {timerange.BOUND_FORMAT}",
        from_default,
    )
    bound(
        "--to",
        "end",
        timerange.parse_to,
        "end of the period: a date includes that whole day, a date-time is exclusive",
        to_default,
    )


def add_dask_scheduler(parser: argparse.ArgumentParser, work: str) -> None:
    """``--dask-scheduler ADDRESS``: do ``work`` ("compute the scores") on a Dask cluster, not here."""
    parser.add_argument(
        "--dask-scheduler",
        metavar="ADDRESS",
        help=f"{work} on the Dask cluster at ADDRESS (e.g. tcp://10.0.0.5:8786); default: this machine",
    )
