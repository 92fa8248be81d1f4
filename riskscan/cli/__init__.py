"""``riskscan <verb>``: one command for every job in the life cycle.

Every verb prints a short human summary, can write its result as JSON with ``--json FILE``, and exits with
a code from one table (:mod:`riskscan.exit_codes`, printed by ``riskscan --help``); a refusal is one
clear sentence. Dates mean the same on every verb (:mod:`riskscan.timerange`).

Owns: argument parsing and the wording of summaries; one module per stage (``data``, ``features``,
``training``, ``ethics``, ``governance``, ``serving``, ``jobs``, ``demo``), each listing its verbs as
:class:`Verb` values (``_verb.py``), and the entry point (``_main.py``). The work lives in the stages.
May import: every stage, ``jobs`` and the platform modules; nothing imports the command line. Its own
modules import ``_verb`` and ``riskscan.exit_codes``, never this ``__init__``.
"""

from riskscan.cli._main import build_parser, invoke, main
from riskscan.cli._verb import Outcome, Verb
from riskscan.exit_codes import ExitCode

__all__ = ["ExitCode", "Outcome", "Verb", "build_parser", "invoke", "main"]
