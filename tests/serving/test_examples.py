"""The example bodies in docs/examples/ (the README's ``curl -d @...``) are what the service accepts."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from features.register import default_register
from models.specs import load_spec
from tests.serving.conftest import Server

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def example(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize("scan", ["vw", "sollicitatie"])
def test_each_score_example_names_exactly_the_fields_its_scan_reads(scan: str) -> None:
    body = example(f"score-{scan}.json")
    assert body["scan"] == scan
    expected = {
        "case_id",
        *load_spec(scan).features,
        *(c.name for c in default_register().routing_columns(scan)),
    }
    cases = body["cases"]
    assert isinstance(cases, list) and cases
    for case in cases:
        assert set(case) == expected


@pytest.mark.parametrize("scan", ["vw", "sollicitatie"])
def test_each_score_example_and_the_outcome_example_get_200(server: Server, scan: str) -> None:
    body = example(f"score-{scan}.json")
    scored = httpx.post(f"{server.url}/score", json=body, headers=server.headers("systeem"), timeout=60)
    assert scored.status_code == 200, scored.text
    results = scored.json()["results"]
    assert len(results) == len(body["cases"])  # type: ignore[arg-type]

    # The outcome example stands for any scored case: the README fills in a request_id from the answer.
    outcome = {**example("outcome.json"), "request_id": results[0]["request_id"]}
    recorded = httpx.post(
        f"{server.url}/outcome", json=outcome, headers=server.headers("handhaving"), timeout=60
    )
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["outcome"]["request_id"] == results[0]["request_id"]
