"""The jobs refuse with one sentence, and exit 2, when they cannot do what was asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import synthetic as generator
from riskscan.cli import main


def _refusal(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    assert main(args) == 2
    return capsys.readouterr().err


def test_monitor_without_a_champion(riskscan_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _refusal(capsys, ["monitor", "--scan", "vw", "--no-mlflow"])
    assert "refused: scan 'vw' has no champion to monitor" in err


def test_monitor_window_that_ends_before_it_starts(
    riskscan_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refusal(capsys, ["monitor", "--scan", "vw", "--from", "2025-03-01", "--to", "2025-02-01"])
    assert "--from 2025-03-01 lies after --to 2025-02-01" in err


def test_monitor_date_that_is_not_a_date(riskscan_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["monitor", "--scan", "vw", "--from", "1 maart"])
    assert exit_info.value.code == 2
    assert "expected a date as YYYY-MM-DD, got '1 maart'" in capsys.readouterr().err


def test_retrain_without_source_data(riskscan_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _refusal(capsys, ["retrain", "--scan", "vw", "--as-of", "2025-04-01"])
    assert "ww_aanvragen.parquet does not exist" in err


def test_retrain_needs_a_positive_comparison_window(
    riskscan_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refusal(capsys, ["retrain", "--scan", "vw", "--compare-days", "0"])
    assert "--compare-days must be at least 1, got 0" in err


def test_simulated_traffic_only_goes_into_synthetic_extracts(
    riskscan_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = riskscan_home / "data"
    config = generator.GeneratorConfig(n_applications=500, n_periods=500)
    manifest = generator.write_tables(generator.generate(config), data, config)
    content = json.loads(manifest.read_text(encoding="utf-8"))
    manifest.write_text(json.dumps({**content, "synthetic": False}), encoding="utf-8")
    err = _refusal(capsys, ["simulate-month", "--month", "2025-01"])
    assert "is not synthetic; simulated traffic is only added to generated data" in err
    manifest.write_text(json.dumps(content), encoding="utf-8")
    assert "--month must be YYYY-MM, got 'januari'" in _refusal(
        capsys, ["simulate-month", "--month", "januari"]
    )


def test_simulated_month_without_a_champion_leaves_the_extract_as_it_was(
    riskscan_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = riskscan_home / "data"
    config = generator.GeneratorConfig(n_applications=500, n_periods=500)
    generator.write_tables(generator.generate(config), data, config)
    before = {path.name: path.read_bytes() for path in data.iterdir()}
    err = _refusal(capsys, ["simulate-month", "--month", "2025-01", "--cases", "50"])
    assert "has no champion" in err
    assert {path.name: path.read_bytes() for path in data.iterdir()} == before
