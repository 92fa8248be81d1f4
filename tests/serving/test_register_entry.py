"""The Algoritmeregister entries of both promoted scans: valid bodies for the intake API, in use, in Dutch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ethics_review.algoritmeregister import AlgorithmIn
from riskscan.cli import invoke
from tests.serving.conftest import ServedHome


@pytest.mark.parametrize("scan", ["vw", "sollicitatie"])
def test_the_champions_register_entry_validates_and_is_in_use(
    at_home: ServedHome, scan: str, tmp_path: Path
) -> None:
    out = tmp_path / f"{scan}.json"
    outcome = invoke(["register-entry", "--scan", scan, "--out", str(out)])
    entry = json.loads(out.read_text(encoding="utf-8"))
    AlgorithmIn.model_validate(entry)
    assert outcome.payload["version"] == at_home.versions[scan]
    assert entry["status"] == "In gebruik" and entry["begin_date"] and "end_date" not in entry
    assert entry["category"] == ["Sociale zekerheid", "Werk"]
    assert entry["source_id"] == f"riskscan-{scan}"
    assert "Het algoritme beslist niets" in entry["human_intervention"]
    titles = {law["title"] for law in entry["lawful_basis_grouping"]}
    assert {"Werkloosheidswet (WW)", "AI-verordening (EU) 2024/1689"} <= titles
