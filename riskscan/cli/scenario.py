"""``riskscan scenario verblijf-buiten-nederland``: the seeds' stay-abroad case replayed on synthetic data.

The verb gives the scenario a home of its own, ``RISKSCAN_HOME/scenario-verblijf``, with its own SQLite
governance database and MLflow store (a ruling blocks for good, and the scan exists only under the register
of mid-2022), and runs it under that register (``RISKSCAN_REGISTER`` = ``features/register-2022-07.yaml``).
It refuses a real extract: ``--data`` must be an extract whose manifest says ``"synthetic": true`` (what
the generator writes, and what ``simulate-month`` checks); without ``--data`` it generates its own.
The story and its steps are :mod:`synthetic.scenario`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from riskscan import home
from riskscan.cli._verb import Outcome, Verb
from riskscan.errors import Conflict, InvalidInput

NAME = "verblijf-buiten-nederland"
HOME_FOLDER = "scenario-verblijf"
#: Written into the scenario's home when it is made; only a folder holding it is ever emptied by a rerun.
MARKER = "SCENARIO-VERBLIJF.txt"


def _configure(parser: argparse.ArgumentParser) -> None:
    # Defaults come from synthetic.scenario.ScenarioConfig when the verb runs (`riskscan --help` stays light).
    parser.add_argument("name", choices=[NAME], help="the scenario to replay")
    parser.add_argument("--history-periods", type=int, help="periods of 2019-01 to 2022-06 (default 150000)")
    parser.add_argument(
        "--caseload-periods",
        type=int,
        help="periods scored while in use (default 500000, about a quarter of the national periods)",
    )
    parser.add_argument("--tasks", type=int, help="re-examination tasks to work on the page (default 25)")
    parser.add_argument("--seed", type=int, help="the generator's seed (default 20220701)")
    parser.add_argument(
        "--proxy-strength",
        type=float,
        help="how strongly inlog_buitenland and the other proxies follow nationality (default 0; at 1 the "
        "audit fails the scan as a nationality proxy and the committee cannot approve it)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="a synthetic extract of 2019-01 to 2022-06 to train on (default: generate one)",
    )


def _check_synthetic(data: Path) -> None:
    from features.sources import MANIFEST_FILE

    manifest = data / MANIFEST_FILE
    if not manifest.exists():
        raise InvalidInput(f"--data {data} holds no extract manifest ({MANIFEST_FILE})")
    if json.loads(manifest.read_text(encoding="utf-8")).get("synthetic") is not True:
        raise InvalidInput(
            f'--data {data}: the extract is not synthetic (its manifest has no "synthetic": true); the '
            "scenario replays on generated data only"
        )


def _fresh_home(path: Path) -> None:
    if path.exists() and any(path.iterdir()):
        if not (path / MARKER).exists():
            raise Conflict(f"{path} exists and is not a scenario home ({MARKER} missing); move it away first")
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / MARKER).write_text(
        "A home made by `riskscan scenario verblijf-buiten-nederland`: synthetic data and DEMO decisions only.\n"
        "The scenario empties and reuses this folder on every run.\n",
        encoding="utf-8",
    )


@contextmanager
def scenario_environment(path: Path) -> Iterator[None]:
    """RISKSCAN_HOME at ``path`` with its own stores, under the register of mid-2022; restored after."""
    from features.register import DEFAULT_REGISTER_PATH

    names = ("RISKSCAN_HOME", "RISKSCAN_REGISTER", "MLFLOW_TRACKING_URI", "RISKSCAN_DATABASE_URL")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["RISKSCAN_HOME"] = str(path)
    os.environ["RISKSCAN_REGISTER"] = str(DEFAULT_REGISTER_PATH.with_name("register-2022-07.yaml"))
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("RISKSCAN_DATABASE_URL", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _given(value: int | None, default: int) -> int:
    return default if value is None else value


def scenario(args: argparse.Namespace) -> Outcome:
    from models.governance import GovernanceStore
    from riskscan.cli.rulings import status_lines
    from serving.evidence import verify_all
    from serving.store import ServingStore
    from synthetic.scenario import ScenarioConfig, generate_history, replay

    defaults = ScenarioConfig()
    config = ScenarioConfig(
        history_periods=_given(args.history_periods, defaults.history_periods),
        caseload_periods=_given(args.caseload_periods, defaults.caseload_periods),
        seed=_given(args.seed, defaults.seed),
        tasks_to_work=_given(args.tasks, defaults.tasks_to_work),
        proxy_strength=defaults.proxy_strength if args.proxy_strength is None else args.proxy_strength,
    )
    if not 0 <= config.proxy_strength <= 1:
        raise InvalidInput(f"--proxy-strength must be between 0 and 1, got {config.proxy_strength}")
    for option, value in (
        ("--history-periods", config.history_periods),
        ("--caseload-periods", config.caseload_periods),
    ):
        if value < 1000:
            raise InvalidInput(
                f"{option} must be at least 1000 (a scan needs investigated periods), got {value}"
            )
    if config.tasks_to_work < 0:
        raise InvalidInput(f"--tasks must be 0 or more, got {config.tasks_to_work}")
    if args.data is not None:
        _check_synthetic(args.data)
    path = home.home() / HOME_FOLDER
    _fresh_home(path)
    with scenario_environment(path):
        data = args.data or path / "data"
        if args.data is None:
            generate_history(data, config)
            print(
                f"[history] {config.history_periods} synthetic periods of 2019-01 to 2022-06 in {data}",
                flush=True,
            )
        summary = replay(data, path / "scenario", config, progress=lambda line: print(line, flush=True))
        with ServingStore() as store:
            progress = store.reexamination_progress(GovernanceStore().rulings())
            chains = verify_all(store.engine)
    broken = [chain for chain in chains if not chain.ok]
    by_score = summary.outcomes_before_stop - summary.closed_at_random
    lines = [
        f"scenario {NAME}: synthetic data, DEMO decisions, in {path}",
        f"  {summary.periods_scored} periods scored by verblijf version {summary.version} (audit "
        f"{summary.audit_verdict}, DEMO decision {summary.decision_id}); {summary.selected} selected, "
        f"{summary.controls} of them at random",
        f"  investigations closed before the stop: {summary.outcomes_before_stop} ({summary.sanctions} "
        f"sanctions); still open at the stop: {summary.open_at_stop}",
        f"  (a {summary.sample_fraction:.2%} sample of the national periods: nationally about "
        f"{by_score / summary.sample_fraction:,.0f} closed cases selected by the score, against the 460 UWV "
        f"re-examined, and {summary.closed_at_random / summary.sample_fraction:,.0f} closed random controls, "
        f"which UWV's scan did not draw; {summary.open_at_stop / summary.sample_fraction:,.0f} open at the stop)",
        "  service before the ruling: " + "; ".join(f"{s} {a}" for s, a in summary.service_before.items()),
        "  service after the ruling:  " + "; ".join(f"{s} {a}" for s, a in summary.service_after.items()),
        *(f"  {line}" for line in (line for p in progress for line in status_lines(p))),
        f"  evidence: {len(chains) - len(broken)} of {len(chains)} hash chain(s) verified",
    ]
    return Outcome(lines, {**summary.as_dict(), "progress": [p.as_dict() for p in progress]})


VERBS = (
    Verb(
        "scenario",
        "SYNTHETIC DATA ONLY: replay the stay-abroad scan (2022-2023) from approval to ruling and re-examination",
        _configure,
        scenario,
    ),
)
