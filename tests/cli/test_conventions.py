"""What every verb shares: the exit-code table, refusals as one sentence, bugs as bugs, one kind of date."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import riskscan.cli.features
from riskscan.cli import ExitCode, main
from riskscan.exit_codes import MEANING
from serving.store import ServingStore
from tests.serving.store_helpers import drop_log_triggers, entry, execute


def test_the_riskscan_command_is_this_main() -> None:
    assert entry_points(group="console_scripts")["riskscan"].load() is main


def test_help_ends_with_the_exit_code_table(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps; compare the words
    table = help_text[help_text.index("exit codes:") :]
    for code in ExitCode:
        assert f"{int(code)} {' '.join(MEANING[code].split())}" in table
    assert [int(code) for code in ExitCode] == [0, 1, 2, 3, 4]
    assert "--to as a date includes that whole day, as a date-time it is exclusive" in help_text


@pytest.mark.parametrize("verb", ["cases", "monitor"])
def test_every_verb_with_a_period_documents_the_same_rules(
    verb: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([verb, "--help"])
    words = " ".join(capsys.readouterr().out.split())
    assert "start of the period, inclusive" in words and "local time without a zone" in words
    assert "a date includes that whole day, a date-time is exclusive" in words


def test_a_refusal_is_one_sentence_and_exit_2(
    riskscan_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "refused.json"
    assert main(["features", "build", "--json", str(out)]) == ExitCode.REFUSED
    err = capsys.readouterr().err
    assert err.startswith("riskscan features: refused: source table ") and err.count("\n") == 1
    assert json.loads(out.read_text(encoding="utf-8"))["refused"] is True


@pytest.mark.parametrize(
    ("argv", "sentence"),
    [
        (
            ["score-batch", "--scan", "vw", "--input", "{home}/cases.csv", "--output", "{home}/o.parquet"],
            "input file {home}/cases.csv is not a Parquet file",
        ),
        (
            [
                "decide",
                "--scan",
                "vw",
                "--version",
                "1",
                "--decision",
                "approve",
                "--token",
                "rs_unknown",
                "--rationale",
                "r",
                "--checklist",
                "{home}/missing.yaml",
            ],
            "checklist {home}/missing.yaml does not exist",
        ),
        (
            ["data", "generate", "--start", "2025-13", "--out", "{home}/data"],
            "--start must be YYYY-MM, got '2025-13'",
        ),
    ],
)
def test_a_users_mistake_is_a_refusal_not_a_bug(
    argv: list[str], sentence: str, riskscan_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (riskscan_home / "cases.csv").write_text("aanvraag_id,dagloon\n1,80.5\n", encoding="utf-8")
    assert main([part.format(home=riskscan_home) for part in argv]) == ExitCode.REFUSED
    assert "refused: " + sentence.format(home=riskscan_home) in capsys.readouterr().err


def _broken_spec(*args: object) -> None:
    raise KeyError("vw")


def test_a_bug_is_exit_1_with_one_line_not_a_polite_refusal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RISKSCAN_DEBUG", raising=False)
    monkeypatch.setattr(riskscan.cli.features, "load_spec", _broken_spec)
    assert main(["features", "build"]) == ExitCode.BUG
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "riskscan features: bug: KeyError: 'vw'" in captured.err
    assert "refused" not in captured.err.split("bug:")[0]
    assert "RISKSCAN_DEBUG=1" in captured.err


def test_under_riskscan_debug_a_bug_shows_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKSCAN_DEBUG", "1")
    monkeypatch.setattr(riskscan.cli.features, "load_spec", _broken_spec)
    with pytest.raises(KeyError, match="vw"):
        main(["features", "build"])


def test_log_verify_on_tampered_evidence_is_refused_with_what_broke(
    riskscan_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ServingStore() as store:
        store.append_scores([entry(case_id=f"case-{n}") for n in range(5)])
        assert main(["log", "verify"]) == ExitCode.SUCCESS
        drop_log_triggers(store)
        execute(store, "UPDATE decision_log SET score = 0.99 WHERE id = 3")
    capsys.readouterr()
    out = tmp_path / "verify.json"
    assert main(["log", "verify", "--json", str(out)]) == ExitCode.REFUSED
    printed = capsys.readouterr().out
    assert printed.startswith("decision_log TAMPERED OR BROKEN at row 3: hash mismatch")
    assert "2 row(s) before it verified, the last intact one is row 2" in printed
    report = json.loads(out.read_text(encoding="utf-8"))
    log = report["chains"][0]
    assert (report["ok"], log["table"], log["first_broken_id"], log["rows_checked"]) == (
        False,
        "decision_log",
        3,
        2,
    )


def test_cases_refuses_a_period_that_ends_before_it_starts(
    riskscan_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cases", "--scan", "vw", "--from", "2025-03-02", "--to", "2025-03-01"]) == ExitCode.REFUSED
    assert "refused: --from 2025-03-02 lies after --to 2025-03-01" in capsys.readouterr().err
    # The last day written as a date is included: a one-day period is not empty.
    assert main(["cases", "--scan", "vw", "--from", "2025-03-01", "--to", "2025-03-01"]) == ExitCode.SUCCESS
    with pytest.raises(SystemExit) as malformed:
        main(["cases", "--scan", "vw", "--to", "1 maart"])
    assert malformed.value.code == ExitCode.REFUSED
    assert "argument --to: expected a date as YYYY-MM-DD, got '1 maart'" in capsys.readouterr().err


class FakeMonitor:
    """Stands in for jobs.monitor.monitor: records the window it is given and reports a chosen status."""

    def __init__(self, status: str) -> None:
        self.status = status
        self.window: tuple[datetime, datetime] | None = None

    def __call__(self, scan: str, store: ServingStore, *, start: datetime, end: datetime, **_: Any) -> Any:
        self.window = (start, end)
        counted = SimpleNamespace(k=0, n=0)
        from jobs.monitor import EXIT_CODES  # the job's own table of statuses to exit codes

        return SimpleNamespace(
            status=self.status,
            exit_code=EXIT_CODES[self.status],
            champion="1",
            cases=0,
            findings=[],
            notes=[],
            process_window=(start.isoformat(), end.isoformat()),
            process=SimpleNamespace(never_assessed=counted, hoor_en_wederhoor=counted),
            files={"html": "monitor.html"},
            as_dict=lambda: {"status": self.status},
        )


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("healthy", ExitCode.SUCCESS),
        ("retrain recommended", ExitCode.RETRAIN_RECOMMENDED),
        ("committee review required", ExitCode.COMMITTEE_REVIEW),
    ],
)
def test_monitor_exits_3_or_4_on_findings_and_passes_the_period_in_utc(
    status: str,
    code: ExitCode,
    riskscan_home: Path,
    amsterdam: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import jobs.monitor

    fake = FakeMonitor(status)
    monkeypatch.setattr(jobs.monitor, "monitor", fake)
    argv = ["monitor", "--scan", "vw", "--from", "2025-01-01", "--to", "2025-03-15", "--no-mlflow"]
    assert main(argv) == code
    # Local midnight of 1 January up to local midnight after 15 March (both CET, UTC+1).
    assert fake.window == (datetime(2024, 12, 31, 23, tzinfo=UTC), datetime(2025, 3, 15, 23, tzinfo=UTC))
    assert f"vw: {status} (champion v1, 0 cases from 2025-01-01 to 2025-03-15)" in capsys.readouterr().out


def test_monitor_by_default_watches_the_31_days_up_to_today(
    riskscan_home: Path, amsterdam: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import jobs.monitor

    fake = FakeMonitor("healthy")
    monkeypatch.setattr(jobs.monitor, "monitor", fake)
    assert main(["monitor", "--scan", "vw", "--no-mlflow"]) == ExitCode.SUCCESS
    assert fake.window is not None
    start, end = (moment.astimezone() for moment in fake.window)
    today = date.today()
    assert (start.date(), start.time().hour) == (today - timedelta(days=30), 0)
    assert (end.date(), end.time().hour) == (today + timedelta(days=1), 0)
    assert f"from {today - timedelta(days=30)} to {today}" in capsys.readouterr().out
