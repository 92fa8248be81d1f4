"""Shared set-up for the benchmarks: a RISKSCAN_HOME with trained, promoted champions.

``--home DIR`` uses that folder: when it already holds an MLflow store (``mlflow.db``) it is used as it is,
otherwise ``riskscan demo --no-serve`` fills it first. Without ``--home`` a fresh temporary folder is made,
filled by the demo and removed at the end (``--keep-home`` keeps it). The demo runs as a subprocess with
``RISKSCAN_HOME`` set and ``MLFLOW_TRACKING_URI`` / ``RISKSCAN_DATABASE_URL`` removed, so everything it
writes lands in the home; its output goes to ``<home>/bench-setup.log``.

The benchmark process itself gets the same environment (``os.environ``), so in-process calls (the
registry, the stores) read and write the same home.

Every benchmark script starts the same way: :func:`bench_parser` (its docstring as the help, the home
flags first), then ``with bench_home(args) as home:`` around its measurements. The set-up the scripts
share beyond the home lives here too: :func:`scoring_job` (the champion, the store, score_batch) and
:func:`generated_applications`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from models.scorer import ScanModel
    from models.specs import ScanSpec
    from serving.batch import BatchResult
    from serving.scoring import ModelRef
    from serving.store import ServingStore

VENV_BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
REMOVED_ENV = ("MLFLOW_TRACKING_URI", "RISKSCAN_DATABASE_URL")
if str(ROOT) not in sys.path:  # this checkout's packages, not the editable install's (see bench_env)
    sys.path.insert(1, str(ROOT))


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def bench_parser(description: str | None, *, demo: bool = True) -> argparse.ArgumentParser:
    """A benchmark's command line: its module docstring as the help text, the home flags first."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_home_arguments(parser, demo=demo)
    return parser


def add_home_arguments(parser: argparse.ArgumentParser, *, demo: bool = True) -> None:
    what = "with trained, promoted champions (filled by 'riskscan demo --no-serve' when empty)"
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help=f"RISKSCAN_HOME to use {what if demo else ''}; default: a fresh temporary folder",
    )
    parser.add_argument("--keep-home", action="store_true", help="keep the temporary home at the end")
    if demo:
        parser.add_argument(
            "--demo-applications",
            type=int,
            default=100_000,
            help="demo: rows of ww_aanvragen (default 100,000)",
        )
        parser.add_argument(
            "--demo-periods",
            type=int,
            default=100_000,
            help="demo: rows of ww_sollicitatieperiodes (default 100,000)",
        )


def bench_env(home: Path) -> dict[str, str]:
    """The environment for riskscan/mlflow subprocesses: this home, no outside stores, venv bin first."""
    env = {k: v for k, v in os.environ.items() if k not in REMOVED_ENV}
    env["RISKSCAN_HOME"] = str(home)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    # The venv's editable install points at the checkout that ran `uv sync`; a benchmark measures the code
    # of its own checkout (a worktree's), so that comes first on the path of every subprocess.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return env


def use_home_in_process(home: Path) -> None:
    for name in REMOVED_ENV:
        os.environ.pop(name, None)
    os.environ["RISKSCAN_HOME"] = str(home)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def riskscan(
    home: Path, *args: str, log: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``riskscan <args>`` against ``home``; output appended to ``log`` when given."""
    command = [str(VENV_BIN / "riskscan"), *args]
    if log is None:
        return subprocess.run(
            command, env=bench_env(home), cwd=ROOT, check=check, capture_output=True, text=True
        )
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"\n$ riskscan {' '.join(args)}\n")
        handle.flush()
        result = subprocess.run(
            command,
            check=False,
            env=bench_env(home),
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
        )
    if check and result.returncode != 0:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:])
        raise RuntimeError(f"'riskscan {' '.join(args)}' exited with {result.returncode}; log {log}:\n{tail}")
    return result


@dataclass
class Home:
    path: Path
    setup_seconds: float
    temporary: bool
    how: str

    def cleanup(self, keep: bool) -> None:
        if self.temporary and not keep:
            shutil.rmtree(self.path, ignore_errors=True)
        elif self.temporary:
            print(f"kept home {self.path}")


def prepare_home(args: argparse.Namespace, *, demo: bool = True) -> Home:
    """The home to benchmark in, with its set-up time (0 when an existing, filled home was given)."""
    temporary = args.home is None
    path = Path(tempfile.mkdtemp(prefix="riskscan-bench-")) if temporary else args.home.resolve()
    path.mkdir(parents=True, exist_ok=True)
    use_home_in_process(path)
    if not demo:
        return Home(path, 0.0, temporary, "empty home (no demo needed)")
    if (path / "mlflow.db").exists():
        return Home(path, 0.0, temporary, "existing home, set-up skipped")
    log = path / "bench-setup.log"
    start = time.perf_counter()
    riskscan(
        path,
        "demo",
        "--no-serve",
        "--applications",
        str(args.demo_applications),
        "--periods",
        str(args.demo_periods),
        # The demo's committee service needs a port of its own: on 3000 it met another running service
        # (another checkout's demo) and its login was refused there.
        "--port",
        str(_free_port()),
        log=log,
    )
    seconds = time.perf_counter() - start
    how = (
        f"riskscan demo --no-serve --applications {args.demo_applications} --periods {args.demo_periods} "
        f"(log {log})"
    )
    return Home(path, seconds, temporary, how)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def bench_home(args: argparse.Namespace, *, demo: bool = True) -> Iterator[Home]:
    """The home to benchmark in, its set-up printed; a temporary one is removed afterwards, also on errors."""
    home = prepare_home(args, demo=demo)
    try:
        print_setup(home)
        yield home
    finally:
        home.cleanup(args.keep_home)


def load_champion(scan: str) -> tuple[ScanModel, ModelRef]:
    """The home's champion of ``scan`` as score-batch loads it, with the load time printed."""
    from models.governance import GovernanceStore
    from serving.batch import champion

    (model, ref), seconds = timed(lambda: champion(scan, GovernanceStore()))
    print(f"champion: {ref.name} version {ref.version} (loaded in {seconds:.2f} s)")
    return model, ref


@dataclass(frozen=True)
class ScoringJob:
    """What every score_batch call of a benchmark shares: the scan, its champion, the serving store (the
    home's decision log) and a folder in the home for the output Parquet files."""

    spec: ScanSpec
    model: ScanModel
    ref: ModelRef
    store: ServingStore
    out_dir: Path

    def score_batch(self, frame: pd.DataFrame, name: str, dask_scheduler: str | None = None) -> BatchResult:
        """score_batch on ``frame``, its output to ``<out_dir>/<name>.parquet``, no progress bar."""
        from serving.batch import score_batch

        return score_batch(
            self.spec,
            frame,
            self.out_dir / f"{name}.parquet",
            model=self.model,
            ref=self.ref,
            store=self.store,
            progress=False,
            dask_scheduler=dask_scheduler,
        )


def scoring_job(scan: str, home: Path, prefix: str, *, database_url: str | None = None) -> ScoringJob:
    """The champion of ``scan`` (its load printed), the serving store (the home's database, or
    ``database_url``) and a fresh output folder."""
    from models.specs import load_spec
    from serving.store import ServingStore

    spec = load_spec(scan)
    model, ref = load_champion(scan)
    return ScoringJob(
        spec, model, ref, ServingStore(database_url), Path(tempfile.mkdtemp(prefix=prefix, dir=home))
    )


# A caseload after the demo's training data (the generator's default months, 2019-2024).
FRESH_MONTHS = ("2025-01", "2025-03")


def generated_applications(
    rows: int, seed: int, months: tuple[str, str] | None = None
) -> tuple[pd.DataFrame, float]:
    """``rows`` generated VW applications (ww_aanvragen) dated ``months`` (first, last; default the
    generator's history), and the seconds generating them took."""
    from synthetic import GeneratorConfig, generate_applications

    config = GeneratorConfig(n_applications=rows, seed=seed)
    if months is not None:
        config = dataclasses.replace(config, start=months[0], end=months[1])
    generated, seconds = timed(lambda: generate_applications(config))
    return generated.frame, seconds


def machine_load() -> str:
    """The load average: other work on the machine competes for the same cores and skews every figure."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min) on {os.cpu_count()} cores"


def print_setup(home: Home) -> None:
    print(f"home: {home.path}{' (temporary)' if home.temporary else ''}")
    print(f"set-up: {home.setup_seconds:.1f} s  [{home.how}]")
    print(f"machine before the measurements: {machine_load()}")
