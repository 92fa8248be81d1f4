"""cProfile tables as the benchmarks print them: pstats' text, project and venv paths made relative.

pstats prints a preamble (call counts, "Ordered by", restrictions) before its table; the tables are
printed from the ``ncalls`` header on, and lines are cut at 150 characters so a deep path does not wrap.
"""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Callable, Iterable

from _setup import ROOT, VENV_BIN

WIDTH = 150


def profiled(calls: Callable[[], object]) -> cProfile.Profile:
    """Run ``calls`` under cProfile."""
    profiler = cProfile.Profile()
    profiler.enable()
    calls()
    profiler.disable()
    return profiler


def stats_lines(profiler: cProfile.Profile, sort: str, *restrictions: int | str) -> list[str]:
    """pstats' ``print_stats`` output, sorted by ``sort`` and cut by ``restrictions`` (a count, a regex)."""
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(*restrictions)
    return out.getvalue().splitlines()


def callees_lines(profiler: cProfile.Profile, function: str) -> list[str]:
    """pstats' ``print_callees`` output for ``function``, by cumulative time."""
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_callees(function)
    return out.getvalue().splitlines()


def table(lines: list[str], *, header: bool = True) -> list[str]:
    """The table part of pstats' output: from the ``ncalls`` header on (or just after it)."""
    first = next((i for i, line in enumerate(lines) if line.strip().startswith("ncalls")), 0)
    return lines[first if header else first + 1 :]


def print_lines(lines: Iterable[str], indent: str) -> None:
    """Print the non-blank lines, indented, with this checkout's and the venv's paths made relative."""
    for line in lines:
        if line.strip():
            print(indent + line.replace(str(ROOT) + "/", "").replace(str(VENV_BIN.parent) + "/", "")[:WIDTH])
