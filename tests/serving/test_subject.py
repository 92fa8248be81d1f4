"""The access letter (AVG art. 15): the person behind a case, resolved through the source extract, gets
every scoring of their own cases in plain Dutch, and nothing of anyone else nor any audit-only attribute.

The extract comes from the real generator (small); the log rows are written through the store, as the
service writes them, on SQLite and the machine's real PostgreSQL.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pandas as pd
import pytest

import synthetic as generator
from features.register import default_register
from models.governance import GovernanceStore
from models.specs import load_spec, scan_ids
from riskscan.cli import main
from riskscan.errors import NotFound
from riskscan.exit_codes import ExitCode
from serving.log import LogEntry
from serving.store import ServingStore
from serving.subject import dutch_date, render_letter, subject_report
from tests.browser import chromium_page

SCORED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PURGED = datetime(2030, 1, 1, tzinfo=UTC)
#: Planted in another person's logged row: the letter must not hold it.
OTHER_MARK = "ANDER-PERSOON-9999"


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("extract") / "data"
    config = generator.GeneratorConfig(n_applications=1500, n_periods=1500, seed=11)
    generator.write_tables(generator.generate(config), data, config)
    return data


@dataclass
class Logged:
    person_cases: list[str]
    logged_cases: list[str]
    other_case: str
    nationality_label: str


def plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and pd.isna(value) else value


def period_entry(row: pd.Series, features: list[str], **fields: Any) -> LogEntry:
    inputs = {name: plain(row[name]) for name in features}
    explanation = [
        {"feature": name, "label": name, "value": inputs[name], "contribution": contribution}
        for name, contribution in zip(features[:4], (0.9, -0.4, 0.2, 0.05), strict=True)
    ]
    values: dict[str, Any] = {
        "case_id": str(row["periode_id"]),
        "scan": "sollicitatie",
        "model_name": "riskscan-sollicitatie",
        "model_version": "7",
        "inputs": inputs,
        "score": 0.5,
        "threshold": 0.6,
        "signal": False,
        "control": False,
        "control_draw": 0.5,
        "margin_scale": "log-odds",
        "explanation": explanation,
        "base_value": -1.0,
    }
    return LogEntry(**{**values, **fields})


def write_log(url: str, data: Path) -> Logged:
    """Three periods of one person (not selected, a signal with an outcome, a control draw, the last still
    open) and one period of someone else; then a purge that erases the closed one."""
    frame = pd.read_parquet(data / "ww_sollicitatieperiodes.parquet")
    counts = frame["persoon_id"].value_counts()
    person, other = counts.index[0], counts.index[1]
    own = frame.loc[frame["persoon_id"] == person]
    features = list(load_spec("sollicitatie").features)
    register = default_register()
    nationality = register["nationaliteit"].display_value(own.iloc[0]["nationaliteit"])
    clock = iter(SCORED + timedelta(minutes=n) for n in range(100))
    with ServingStore(url, clock=lambda: next(clock)) as store:
        leaked = period_entry(own.iloc[0], features)
        # A scorer that logged an audit-only attribute by mistake: the letter must still not show it.
        leaked_inputs = {**leaked.inputs, "nationaliteit": str(own.iloc[0]["nationaliteit"])}
        leaked_explanation = [
            *leaked.explanation,
            {"feature": "nationaliteit", "label": "Nationaliteitsgroep", "value": "x", "contribution": 5.0},
        ]
        rows = store.append_scores(
            [
                period_entry(own.iloc[0], features, inputs=leaked_inputs, explanation=leaked_explanation),
                period_entry(own.iloc[1], features, score=0.8, signal=True),
                period_entry(own.iloc[2], features, control=True, control_draw=0.01),
                period_entry(
                    frame.loc[frame["persoon_id"] == other].iloc[0],
                    features,
                    inputs={"hoofdtype_activiteit": OTHER_MARK},
                    explanation=[],
                ),
            ]
        )
        store.record_outcome(
            recorded_by=store.create_token(name="E. Visser", role="handhaving")[1],
            request_id=rows[1].request_id,
            violation=True,
            sanction="waarschuwing",
            hoor_en_wederhoor=True,
        )
    with ServingStore(url, clock=lambda: PURGED) as store:
        store.purge(datetime(2026, 6, 1, tzinfo=UTC), [load_spec(scan) for scan in scan_ids()])
    return Logged(
        sorted(map(str, own["periode_id"])),
        [row.case_id for row in rows[:3]],
        rows[3].case_id,
        nationality,
    )


def letter_for(url: str, data: Path, case_id: str) -> str:
    specs = {scan: load_spec(scan) for scan in scan_ids()}
    with ServingStore(url) as store, GovernanceStore(url) as governance:
        report = subject_report(store.engine, data, case_id, default_register(), specs, governance.rulings())
    return render_letter(report, "subject_letter.css")


def check_letter(html: str, logged: Logged) -> None:
    """The person's scorings are all there, in Dutch, and nothing else is."""
    html = " ".join(html.split())  # the template breaks sentences over lines
    for case_id in logged.logged_cases:
        assert f"<td>{case_id}</td>" in html
    assert html.count('<section class="scoring">') == 3
    assert "Een selectie is geen besluit." in html
    assert "modelversie 7" in html and "Risicoscan" in html
    assert "Nee." in html and "Ja, omdat de score boven de grens lag." in html and "Ja, door loting." in html
    assert "De opgelegde maatregel: waarschuwing." in html
    assert "Het onderzoek loopt nog" in html  # the control draw has no outcome yet
    assert "zijn gewist op 1 januari 2030" in html  # the first period, closed, after its retention period
    assert "Dit maakte de score hoger." in html and "Dit maakte de score lager." in html
    # Nothing of anyone else, no audit-only attribute: neither the label nor the person's own value.
    assert logged.other_case not in html and OTHER_MARK not in html
    assert "Nationaliteitsgroep" not in html and "nationaliteit" not in html.lower()
    assert logged.nationality_label not in html


def test_the_letter_holds_the_persons_scorings_and_nothing_of_anyone_else(
    database_url: str, extract: Path
) -> None:
    logged = write_log(database_url, extract)
    by_another_case = next(case for case in logged.person_cases if case not in logged.logged_cases)
    for asked in (logged.logged_cases[1], by_another_case):  # any case of the person finds all of them
        html = letter_for(database_url, extract, asked)
        check_letter(html, logged)
        assert f"Over dossier {asked}" in html


def test_the_letter_tells_of_a_halted_investigation_and_of_a_reexamination_and_its_result(
    database_url: str, extract: Path
) -> None:
    logged = write_log(database_url, extract)
    with GovernanceStore(database_url) as governance, ServingStore(database_url) as store:
        committee = store.create_token(name="commissie", role="committee")[1]
        ruling = governance.record_ruling(
            column="werkmap_logins",
            reason="test: via cookies",
            ruled_by_token_id=committee.id,
            ruled_by="commissie",
        )
        store.record_blocked(ruling.id, "sollicitatie", "7", False)
        store.open_reexaminations(ruling.id)
        (task,) = store.reexamination_tasks([ruling])
        assert (
            task.case.case_id == logged.logged_cases[1]
        )  # the signal with an outcome; the control is halted
        html = unescape(" ".join(letter_for(database_url, extract, logged.logged_cases[0]).split()))
        label = default_register()["werkmap_logins"].label
        assert html.count("<strong>Heronderzoek:</strong>") == 2
        assert "heeft UWV het onderzoek naar dit dossier stopgezet" in html  # the control draw, still open
        assert f"De scan gebruikte het gegeven '{label}'" in html
        assert f"Volgens een uitspraak van {dutch_date(ruling.created_at)}" in html
        assert "Het heronderzoek loopt nog." in html
        store.record_reexamination_result(
            reexamination_id=task.id,
            result="upheld",
            note="blijkt uit rechtmatig verkregen gegevens",
            hoor_en_wederhoor=True,
            token=store.create_token(name="herbeoordelaar", role="handhaving")[1],
        )
    html = unescape(" ".join(letter_for(database_url, extract, logged.logged_cases[0]).split()))
    assert "Het heronderzoek loopt nog." not in html
    assert "Uitkomst van het heronderzoek op" in html and "de maatregel blijft staan" in html
    assert "commissie" not in html and "herbeoordelaar" not in html  # who ruled or re-examined is not told
    assert logged.other_case not in html and OTHER_MARK not in html


def test_an_unknown_case_id_is_refused(database_url: str, extract: Path) -> None:
    with pytest.raises(NotFound, match="case_id 'P9999999' is not in the source extract"):
        letter_for(database_url, extract, "P9999999")


def test_the_command_writes_the_letter_with_its_stylesheet(
    riskscan_home: Path, extract: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logged = write_log(f"sqlite:///{riskscan_home / 'governance.db'}", extract)
    case = logged.logged_cases[0]
    assert main(["subject-report", "--case-id", case, "--data", str(extract)]) == ExitCode.SUCCESS
    assert "scored 3 time(s), selected 2 time(s)" in capsys.readouterr().out
    letter = riskscan_home / "letters" / f"inzage-{case}.html"
    check_letter(letter.read_text(encoding="utf-8"), logged)
    assert (letter.parent / "subject_letter.css").stat().st_size > 500
    assert main(["subject-report", "--case-id", "P9999999", "--data", str(extract)]) == ExitCode.REFUSED


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def pages(riskscan_home: Path, extract: Path) -> Iterator[tuple[str, ServingStore, Logged]]:
    """The web app (the same ``build_app`` the service mounts) on a free port, in this process."""
    import uvicorn

    from serving.auth import Authenticator
    from serving.web import build_app

    (riskscan_home / "data").symlink_to(extract, target_is_directory=True)
    logged = write_log(f"sqlite:///{riskscan_home / 'governance.db'}", extract)
    store = ServingStore()
    app = build_app()
    # The privacy page reads the store, the rulings and the register of the runtime; nothing of the models.
    app.state.runtime = SimpleNamespace(
        store=store, governance=GovernanceStore(), register=default_register()
    )
    app.state.auth = Authenticator(store)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the web app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", store, logged
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


@pytest.mark.browser
def test_the_committee_opens_the_letter_in_the_browser_and_staff_may_not(
    pages: tuple[str, ServingStore, Logged], tmp_path: Path
) -> None:
    url, store, logged = pages
    committee, _ = store.create_token(name="lid van de commissie", role="committee")
    handhaving, _ = store.create_token(name="medewerker", role="handhaving")
    screenshot = Path(os.environ.get("RISKSCAN_SUBJECT_SCREENSHOT", tmp_path / "subject-report.png"))
    with chromium_page(width=1000, height=1500) as page:
        page.goto(f"{url}/ui/login?next=/ui/privacy/inzage")
        page.fill("#token", handhaving)
        page.click("#login")
        page.wait_for_url("**/ui/privacy/inzage")
        assert "mag niet de pagina's van de commissie inzien" in page.inner_text(
            "body"
        )  # the role is checked
        page.goto(f"{url}/ui/login?next=/ui/privacy/inzage")
        page.fill("#token", committee)
        page.click("#login")
        page.wait_for_url("**/ui/privacy/inzage")
        page.fill("#case_id", logged.logged_cases[1])
        page.click("#maak-brief")
        page.wait_for_selector("section.scoring")
        page.wait_for_load_state("load")  # the stylesheet too
        check_letter(page.content(), logged)
        assert page.evaluate("getComputedStyle(document.querySelector('.notice')).borderLeftStyle") == "solid"
        page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 20_000
    forged = httpx.get(f"{url}/ui/privacy/inzage", params={"case_id": logged.logged_cases[0]})
    assert forged.status_code == 303 and "/ui/login" in forged.headers["location"]  # no session, no letter
