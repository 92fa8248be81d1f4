"""The stay-abroad scenario end to end on small data, its counts checked against the decision log itself;
and the register and spec facts it rests on: today's register refuses the scan, the register of mid-2022
accepts it, and the scenario refuses an extract that is not synthetic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from features.register import DEFAULT_REGISTER_PATH, Role, load_register
from features.sources import MANIFEST_FILE
from models.specs import load_spec, scan_ids, spec_files
from riskscan.cli._main import invoke
from riskscan.cli.scenario import HOME_FOLDER, scenario_environment
from riskscan.errors import ConfigError, Conflict, InvalidInput
from serving.history import logged_cases
from serving.rulings import HALTED, REEXAMINATIONS, TASK
from serving.store import ServingStore
from tests.lifecycle import home_environment

REGISTER_2022 = DEFAULT_REGISTER_PATH.with_name("register-2022-07.yaml")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    path = tmp_path_factory.mktemp("scenario")
    with home_environment(path):
        outcome = invoke(
            [
                "scenario",
                "verblijf-buiten-nederland",
                "--history-periods",
                "25000",
                "--caseload-periods",
                "100000",
                "--tasks",
                "4",
            ]
        )
        yield path / HOME_FOLDER, outcome.payload


def test_todays_register_refuses_the_stay_abroad_scan_and_the_register_of_mid_2022_accepts_it() -> None:
    assert "verblijf" in spec_files()
    assert scan_ids() == ("vw", "sollicitatie")
    with pytest.raises(ConfigError, match="inlog_buitenland"):
        load_spec("verblijf")
    then = load_register(REGISTER_2022)
    assert then["inlog_buitenland"].role is Role.FEATURE and then["inlog_buitenland"].scans == ("verblijf",)
    assert scan_ids(then) == ("vw", "sollicitatie", "verblijf")


def test_an_amending_register_may_not_add_a_column(tmp_path: Path) -> None:
    (tmp_path / "register.yaml").write_text(
        DEFAULT_REGISTER_PATH.read_text(encoding="utf-8"), encoding="utf-8"
    )
    amended = tmp_path / "amended.yaml"
    amended.write_text("amends: register.yaml\ncolumns:\n  ip_adres: {role: feature}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="amends unknown column: ip_adres"):
        load_register(amended)


def test_the_scenario_refuses_an_extract_that_is_not_synthetic(tmp_path: Path) -> None:
    real = tmp_path / "extract"
    real.mkdir()
    (real / MANIFEST_FILE).write_text(json.dumps({"tables": {}}), encoding="utf-8")
    with home_environment(tmp_path / "home"), pytest.raises(InvalidInput, match="not synthetic"):
        invoke(["scenario", "verblijf-buiten-nederland", "--data", str(real)])


def test_the_scenario_never_empties_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / HOME_FOLDER).mkdir()
    (tmp_path / HOME_FOLDER / "notes.txt").write_text("someone's work", encoding="utf-8")
    with home_environment(tmp_path), pytest.raises(Conflict, match="not a scenario home"):
        invoke(["scenario", "verblijf-buiten-nederland"])
    assert (tmp_path / HOME_FOLDER / "notes.txt").exists()


def test_the_scan_is_served_until_the_ruling_then_answers_503(replayed: tuple[Path, dict[str, Any]]) -> None:
    _, summary = replayed
    assert summary["service_before"]["verblijf"].startswith("200")
    assert (
        summary["service_after"]["verblijf"].startswith("503")
        and "inlog_buitenland" in summary["service_after"]["verblijf"]
    )
    # The other scans have no champion in the scenario's home: the service still runs and answers 503.
    assert (
        "no champion" in summary["service_before"]["vw"]
        and "no champion" in summary["service_after"]["sollicitatie"]
    )
    assert list(summary["withdrawn"]) == [f"verblijf {summary['version']}"]


def test_halted_and_reexamined_counts_match_a_direct_count_from_the_log(
    replayed: tuple[Path, dict[str, Any]],
) -> None:
    path, summary = replayed
    with home_environment(path.parent), scenario_environment(path), ServingStore() as store:
        logged = logged_cases(store, "verblijf")
        selected = logged.loc[logged["signal"] | logged["control"], "request_id"].astype(str)
        closed = {o.request_id for o in store.outcomes("verblijf")}
        with store.engine.connect() as connection:
            kinds = [row.kind for row in connection.execute(select(REEXAMINATIONS.c.kind))]
    assert len(logged) == summary["periods_scored"] > 0
    assert summary["tasks"] == kinds.count(TASK) == len(closed) == summary["outcomes_before_stop"] > 0
    assert summary["halted"] == kinds.count(HALTED) == len(set(selected) - closed) == summary["open_at_stop"]
    # Simulated staff work the tasks whose outcome carried a sanction, up to --tasks 4; the scan selects
    # within its share of the national capacity, so this small sample holds few sanctions.
    worked = min(4, summary["sanctions"])
    (progress,) = summary["progress"]
    assert summary["sanctions"] >= 1 and progress["done"] == sum(summary["worked"].values()) == worked
    assert progress["open"] == summary["tasks"] - worked


def test_the_scan_selects_its_samples_share_of_the_national_capacity_each_week(
    replayed: tuple[Path, dict[str, Any]],
) -> None:
    """A sample of the national periods may select only its share of the national capacity; the weeks'
    fractions are carried, so over the months it is the exact share (synthetic/scenario._score_in_use)."""
    path, summary = replayed
    capacity = load_spec("verblijf", load_register(REGISTER_2022)).capacity.investigations_per_week
    with home_environment(path.parent), scenario_environment(path), ServingStore() as store:
        logged = logged_cases(store, "verblijf")
    by_score = logged.loc[logged["signal"] & ~logged["control"]]
    weeks = logged["created_at"].dt.to_period("W-SUN")
    allowed = np.floor(np.arange(1, weeks.nunique() + 1) * capacity * summary["sample_fraction"])
    per_week = (
        by_score.groupby(weeks.loc[by_score.index]).size().reindex(sorted(weeks.unique()), fill_value=0)
    )
    assert (per_week.cumsum().to_numpy() <= allowed).all(), "never more than the share so far"
    assert 0 < len(by_score) <= allowed[-1]
