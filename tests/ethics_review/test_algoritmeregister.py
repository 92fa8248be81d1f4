"""The Algoritmeregister entry: the intake API's rules (publication standard 1.0), the status that follows a
version through promotion, replacement and withdrawal (on SQLite and PostgreSQL), and the audit verb that
keeps report-only checks apart from failures."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from ethics_review import algoritmeregister
from ethics_review._algorithm_in import AlgorithmIn, strip_html
from models import registry
from models.governance import CHECKLIST_KEYS, GovernanceStore
from riskscan.errors import InvalidInput
from tests.models.test_governance import member

MINIMAL: dict[str, Any] = {
    "name": "Risicoscan verwijtbare werkloosheid",
    "description_short": "UWV gebruikt dit algoritme om WW-aanvragen te selecteren voor een dossieronderzoek.",
    "organization": "Uitvoeringsinstituut Werknemersverzekeringen",
    "status": "In ontwikkeling",
    "contact_email": "https://www.uwv.nl",
    "publication_category": "Hoog-risico AI-systeem",
    "lang": "nld",
}


def test_a_minimal_entry_is_accepted_and_lengths_are_counted_without_html() -> None:
    AlgorithmIn.model_validate(MINIMAL)
    goal = "<p>" + "x" * 2490 + "</p><ul><li>ok</li></ul>"
    AlgorithmIn.model_validate({**MINIMAL, "goal": goal, "category": ["Sociale zekerheid", "Werk"]})
    assert len(strip_html(goal)) == 2493, "tags are not counted; adjacent text nodes are joined by a space"
    assert strip_html("x &amp; y") == "x & y"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": "N" * 101}, "name", "101 tekens zonder HTML; maximaal 100"),
        ({"status": "Het algoritme is in ontwikkeling."}, "status", "Input should be"),
        ({"status": "in gebruik"}, "status", "Input should be"),
        ({"category": ["Bestuur"]}, "category.0", "Input should be"),
        ({"category": "Werk"}, "category", "valid list"),
        ({"publication_category": "Hoog-risico AI-systeem (Categorie A)"}, "publication_category", "Input"),
        ({"lang": "nl"}, "lang", "Input should be 'nld'"),
        ({"standard_version": "1.0.0"}, "standard_version", "Input should be '1.0'"),
        ({"goal": "<p>" + "y" * 2501 + "</p>"}, "goal", "2501 tekens zonder HTML; maximaal 2500"),
        ({"goal": "<b>vet</b>"}, "goal", "<b> is niet toegestaan"),
        ({"name": "<p>Naam</p>"}, "name", "niet toegestaan"),
        ({"begin_date": "01-2023"}, "begin_date", "JJJJ-MM"),
        ({"contact_email": "bel ons"}, "contact_email", "e-mailadres"),
        ({"organisation": "UWV"}, "organisation", "Extra inputs"),
        ({"lawful_basis_grouping": [{"title": "Awb"}]}, "lawful_basis_grouping.0.link", "Field required"),
    ],
)
def test_entries_the_register_would_refuse_or_alter_are_refused(
    change: dict, field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        AlgorithmIn.model_validate({**MINIMAL, **change})
    errors = {".".join(str(p) for p in e["loc"]): e["msg"] for e in refused.value.errors()}
    assert field in errors and message in errors[field], errors


def test_no_end_date_while_in_use() -> None:
    with pytest.raises(ValidationError, match="end_date moet leeg blijven"):
        AlgorithmIn.model_validate(
            {**MINIMAL, "status": "In gebruik", "begin_date": "2024-01", "end_date": "2025-02"}
        )


def test_a_refused_entry_names_the_field_the_value_and_the_rule() -> None:
    with pytest.raises(InvalidInput) as refused:
        algoritmeregister.validate_entry(
            {**MINIMAL, "name": "N" * 101, "goal": "z" * 3000}, "riskscan-vw version 9"
        )
    text = str(refused.value)
    assert text.startswith(
        "the Algoritmeregister entry of riskscan-vw version 9 does not meet publication standard"
    )
    assert "name: 101 tekens zonder HTML; maximaal 100" in text
    assert "goal: 3000 tekens zonder HTML; maximaal 2500" in text
    assert {p.column for p in refused.value.problems} == {"name", "goal"}


# -- the status follows the version ----------------------------------------------------------------------


class Clock:
    """Months apart, so every step lands in a month of its own."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(days=31)
        return self.now


@pytest.fixture
def store(database_url: str) -> Iterator[GovernanceStore]:
    with GovernanceStore(database_url, clock=Clock()) as opened:
        yield opened


def _promote(store: GovernanceStore, version: str, previous: str | None) -> None:
    audit = f"{int(version):064x}"
    decision = store.record_decision(
        scan="vw",
        version=version,
        audit_sha256=audit,
        decision="approve",
        signer=member(store),
        rationale="test",
        checklist={key: "test" for key in CHECKLIST_KEYS},
    )
    store.record_promotion(
        scan="vw",
        version=version,
        previous_version=previous,
        decision_id=decision.id,
        audit_sha256=audit,
        promoted_by="test",
    )


def test_status_follows_promotion_replacement_and_withdrawal(
    store: GovernanceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    champion: dict[str, str | None] = {"version": None}
    monkeypatch.setattr(
        registry,
        "version_by_alias",
        lambda scan, alias: SimpleNamespace(version=champion["version"]) if champion["version"] else None,
    )

    def status(version: str) -> tuple[str, str | None, str | None]:
        life = algoritmeregister.lifecycle("vw", version, store)
        return life.status, life.begin_date, life.end_date

    assert status("1") == ("In ontwikkeling", None, None)
    _promote(store, "1", None)  # decided 2026-02, promoted 2026-03
    champion["version"] = "1"
    assert status("1") == ("In gebruik", "2026-03", None)
    _promote(store, "2", "1")  # decided 2026-04, promoted 2026-05
    champion["version"] = "2"
    assert status("1") == ("Buiten gebruik", "2026-03", "2026-05"), "replaced by version 2"
    assert status("2") == ("In gebruik", "2026-05", None)
    store.record_withdrawal(scan="vw", version="2", reason="test", withdrawn_by="test")  # 2026-06
    champion["version"] = None
    assert status("2") == ("Buiten gebruik", "2026-05", "2026-06")
    assert algoritmeregister.lifecycle("vw", "2", store).decision is not None


# -- the audit verb ---------------------------------------------------------------------------------------


def test_the_audit_verb_prints_report_only_checks_under_their_own_heading(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import ethics_review.audit
    from riskscan.cli.ethics import audit

    checks = [
        {
            "name": "selection_rate ratio, geslacht = vrouw",
            "scope": "random control sample",
            "verdict": "fail",
            "gating": True,
            "detail": "gating detail",
        },
        {
            "name": "precision ratio, nationaliteit = pools",
            "scope": "labelled test cases (biased by selection; reported, not gating)",
            "verdict": "fail",
            "gating": False,
            "detail": "reported detail",
        },
        {
            "name": "no input is a proxy",
            "scope": "proxy scan",
            "verdict": "pass",
            "gating": True,
            "detail": "ok",
        },
        {
            "name": "false_positive_rate ratio, nationaliteit = pools",
            "scope": "random control sample",
            "verdict": "insufficient_evidence",
            "gating": True,
            "detail": "too wide",
            "power": {"cases_needed": 4_000, "months_needed": 5.5},
        },
    ]
    result = SimpleNamespace(
        verdict="fail",
        summary={"pass": 1, "fail": 1, "insufficient_evidence": 0},
        local_paths={"report.html": tmp_path / "report.html"},
        report_sha256="ab" * 32,
        artifact_path="audits/abab",
        audit={"checks": checks, "proposed_obligations": [{"check": "control:...", "due": "2027-01-01"}]},
    )
    monkeypatch.setattr(ethics_review.audit, "audit_version", lambda *args, **kwargs: result)
    args = argparse.Namespace(scan="vw", version="3", data=None, allow_other_data=False)
    lines = audit(args).lines
    fails = [line for line in lines if "FAIL" in line]
    assert fails == ["  FAIL selection_rate ratio, geslacht = vrouw [random control sample]: gating detail"]
    heading = [
        i for i, line in enumerate(lines) if line.startswith("  reported, not gating: 1 outside the band")
    ]
    assert heading and "do not decide the verdict" in lines[heading[0]]
    assert lines[heading[0] + 1] == "    precision ratio, nationaliteit = pools"
    assert (
        "  undecided: 1 gating checks, 1 of them decidable within 12 months at national volume; "
        "1 proposed obligations (audit.json)"
    ) in lines
