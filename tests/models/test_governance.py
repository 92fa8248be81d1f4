"""The governance database, on SQLite and on the machine's real PostgreSQL.

What matters most is tested against the database itself, with raw SQL: the rows are evidence, so the
database must refuse to change or delete them, and must refuse rows that break the rules even when they
do not come through GovernanceStore.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.config import main as alembic_main
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from models.governance import (
    CHECKLIST_KEYS,
    TABLES,
    DecisionRecord,
    GovernanceStore,
    Obligation,
    Signatory,
)
from riskscan import db
from riskscan.db import MIGRATIONS_DIR, current_revision, head_revision, make_engine, upgrade, utcnow
from riskscan.errors import Conflict, InvalidInput, NotFound
from serving.tokens import create_token
from tests.postgres import temporary_database

AUDIT = "ab" * 32
OTHER_AUDIT = "cd" * 32
CHECKLIST = {key: f"answer to {key}" for key in CHECKLIST_KEYS}


@pytest.fixture
def url(database_url: str) -> str:
    """An empty database on each backend (tests/conftest.py: SQLite and the real PostgreSQL)."""
    return database_url


class Clock:
    """A clock the test moves by hand, so 'later' is never a matter of luck."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture
def store(url: str) -> Iterator[GovernanceStore]:
    with GovernanceStore(url, clock=Clock()) as opened:
        yield opened


def member(store: GovernanceStore, name: str = "A. de Vries", role: str = "committee") -> Signatory:
    """A new API token in the store's database, as the identity that signs."""
    _token, record = create_token(store.engine, utcnow, name=name, role=role)
    return Signatory(record.id, record.name, record.role)


def decide(store: GovernanceStore, **overrides: Any) -> DecisionRecord:
    fields: dict[str, Any] = {
        "scan": "vw",
        "version": "3",
        "audit_sha256": AUDIT,
        "decision": "approve",
        "rationale": "Audit reviewed; no failed checks.",
        "checklist": CHECKLIST,
    }
    fields.update(overrides)
    if "signer" not in fields:
        fields["signer"] = member(store)
    return store.record_decision(**fields)


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def execute(store: GovernanceStore, sql: str, **params: Any) -> None:
    with store.engine.begin() as connection:
        connection.execute(text(sql), params)


# ------------------------------------------------------------------------------------------ migrations


def test_upgrade_is_idempotent_and_downgrade_reaches_base(url: str) -> None:
    assert current_revision(url) is None
    upgrade(url)
    assert current_revision(url) == head_revision()  # later revisions (0002_serving, ...) build on 0001
    assert {*TABLES, "alembic_version"} <= table_names(url)
    upgrade(url)  # a second run finds nothing to do
    assert current_revision(url) == head_revision()

    db.downgrade(url, "base")
    assert current_revision(url) is None
    assert not set(TABLES) & table_names(url)
    upgrade(url)  # and back up: downgrade left nothing behind (triggers, the PostgreSQL function)
    assert current_revision(url) == head_revision()


def test_alembic_command_line_uses_the_application_database(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The developer's `alembic -c riskscan/migrations/alembic.ini ...` finds the same database the app uses,
    and downgrading below 0001 refuses while records exist, unless told the data may go."""
    monkeypatch.setenv("RISKSCAN_DATABASE_URL", url)
    monkeypatch.setattr("logging.config.fileConfig", lambda *_args, **_kwargs: None)  # keep pytest's logging
    ini = str(MIGRATIONS_DIR / "alembic.ini")
    alembic_main(["-c", ini, "upgrade", "head"])
    assert current_revision(url) == head_revision()
    with GovernanceStore() as store:
        decide(store)

    # The latest revision holding records refuses first (0006: the decision's signature).
    with pytest.raises(RuntimeError, match="decision_signatures hold records"):
        alembic_main(["-c", ini, "downgrade", "base"])
    assert current_revision(url) == head_revision()  # the refusal rolled the whole downgrade back

    alembic_main(["-c", ini, "-x", "drop-evidence=yes", "downgrade", "base"])
    assert current_revision(url) is None
    assert not set(TABLES) & table_names(url)


def test_default_database_lives_in_riskscan_home(riskscan_home: Path) -> None:
    with GovernanceStore() as store:
        assert store.url == f"sqlite:///{riskscan_home / 'governance.db'}"
        decide(store)
    assert (riskscan_home / "governance.db").exists()


def test_postgresql_urls_use_psycopg_3() -> None:
    for url in ("postgresql://u@db:5432/gov", "postgres://u@db/gov"):
        assert db.normalise_url(url).drivername == "postgresql+psycopg"
    engine = make_engine("postgresql://u@db/gov")  # no connection is made until one is needed
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


# ---------------------------------------------------------------------------------------------- records


def test_decisions_supersede_and_the_latest_is_current(store: GovernanceStore) -> None:
    assert store.current_decision("vw", "3") is None
    first = decide(store, decision="reject", rationale="Fairness results incomplete.")
    second = decide(
        store,
        decision="approve-with-conditions",
        conditions=["Re-run the proxy scan after three months."],
        valid_until=date(2026, 9, 1),
        audit_sha256=OTHER_AUDIT.upper(),  # stored as lowercase hex
    )
    third = decide(store, demo=True)
    other_version = decide(store, version="4")

    assert (first.supersedes_id, second.supersedes_id, third.supersedes_id) == (None, first.id, second.id)
    assert other_version.supersedes_id is None  # each scan version has its own chain
    assert store.current_decision("vw", "3") == third
    assert [d.id for d in store.decisions("vw", "3")] == [first.id, second.id, third.id]
    assert [d.id for d in store.decisions("vw")] == [first.id, second.id, third.id, other_version.id]
    assert store.decisions("sollicitatie") == []

    read = store.decisions("vw", "3")[1]
    assert read == second
    assert read.audit_sha256 == OTHER_AUDIT
    assert read.conditions == ("Re-run the proxy scan after three months.",)
    assert read.valid_until == date(2026, 9, 1)
    assert dict(read.checklist) == CHECKLIST
    assert read.approves
    assert not first.approves
    assert third.demo
    assert read.created_at.tzinfo is UTC
    assert read.created_at > first.created_at
    as_json = json.loads(json.dumps(read.as_dict()))
    assert as_json["decided_by"] == [f"A. de Vries (token {store.signatures(second.id)[0].token_id})"]
    assert as_json["valid_until"] == "2026-09-01"
    assert as_json["created_at"].endswith("+00:00")


def test_promotions_and_withdrawals_round_trip(store: GovernanceStore) -> None:
    decision = decide(store)
    promotion = store.record_promotion(
        scan="vw",
        version="3",
        previous_version="2",
        decision_id=decision.id,
        audit_sha256=AUDIT,
        promoted_by="C. Jansen",
    )
    assert store.promotions("vw") == [promotion]
    assert promotion.previous_version == "2"
    assert promotion.created_at.tzinfo is UTC
    assert store.promotions("sollicitatie") == []

    withdrawal = store.record_withdrawal(
        scan="vw", version="3", reason="Proxy discrimination found.", withdrawn_by="D. Smit"
    )
    no_champion = store.record_withdrawal(scan="vw", version=None, reason="Again.", withdrawn_by="D. Smit")
    assert store.withdrawals("vw") == [withdrawal, no_champion]
    assert store.is_version_withdrawn("vw", "3")
    assert not store.is_version_withdrawn("vw", "2")
    assert not store.is_version_withdrawn("sollicitatie", "3")
    assert json.loads(json.dumps(withdrawal.as_dict()))["version"] == "3"
    assert json.loads(json.dumps(promotion.as_dict()))["decision_id"] == decision.id


def test_a_later_promotion_lifts_the_withdrawal(store: GovernanceStore) -> None:
    approval = decide(store)
    assert store.active_withdrawal("vw") is None
    withdrawal = store.record_withdrawal(scan="vw", version="3", reason="Incident.", withdrawn_by="D. Smit")
    assert store.active_withdrawal("vw") == withdrawal
    assert store.active_withdrawal("sollicitatie") is None

    newer = decide(store, version="4")
    store.record_promotion(
        scan="vw",
        version="4",
        previous_version=None,
        decision_id=newer.id,
        audit_sha256=AUDIT,
        promoted_by="C",
    )
    assert store.active_withdrawal("vw") is None
    assert store.is_version_withdrawn("vw", "3")  # lifting the withdrawal does not clear version 3

    again = store.record_withdrawal(scan="vw", version="4", reason="Second incident.", withdrawn_by="D")
    assert store.active_withdrawal("vw") == again
    assert approval.id != newer.id


def test_a_promotion_cites_the_current_approving_decision(store: GovernanceStore) -> None:
    approval = decide(store)
    promote: dict[str, Any] = {
        "scan": "vw",
        "version": "3",
        "previous_version": None,
        "promoted_by": "C. Jansen",
    }
    with pytest.raises(NotFound, match="decision_id 999 does not exist"):
        store.record_promotion(**promote, decision_id=999, audit_sha256=AUDIT)
    with pytest.raises(Conflict, match=f"audit_sha256 '{OTHER_AUDIT}' is not the audit"):
        store.record_promotion(**promote, decision_id=approval.id, audit_sha256=OTHER_AUDIT)
    with pytest.raises(Conflict, match=f"decision_id {approval.id} is about scan 'vw' version '3'"):
        store.record_promotion(**{**promote, "version": "4"}, decision_id=approval.id, audit_sha256=AUDIT)

    rejection = decide(store, decision="reject")
    with pytest.raises(Conflict, match=f"decision_id {approval.id} is superseded by decision"):
        store.record_promotion(**promote, decision_id=approval.id, audit_sha256=AUDIT)
    with pytest.raises(Conflict, match=f"decision_id {rejection.id} is 'reject'"):
        store.record_promotion(**promote, decision_id=rejection.id, audit_sha256=AUDIT)
    assert store.promotions("vw") == []


# ------------------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"decision": "maybe"}, "decision must be one of .* got 'maybe'"),
        ({"signer": "A. de Vries"}, r"signer must be an authenticated token's identity .*got 'A. de Vries'"),
        ({"signer": Signatory(True, "A", "committee")}, "signer.token_id must be an integer, got True"),
        ({"signer": Signatory(1, " ", "committee")}, "signer.name must be non-empty text, got ' '"),
        (
            {"obligations": [Obligation("x", "Her-audit", None, date(2026, 9, 1))]},
            "obligations given with decision 'approve'",
        ),
        (
            {
                "decision": "approve-with-conditions",
                "conditions": ["c"],
                "obligations": [Obligation("x", "Her-audit", -1, date(2026, 9, 1))],
            },
            r"obligations\[0\].cases_needed must be a whole number of cases, 0 or more, or None \(null in JSON\), "
            r"got -1",
        ),
        (
            {
                "decision": "approve-with-conditions",
                "conditions": ["c"],
                "obligations": [Obligation("x", "t", None, date(2026, 9, 1))] * 2,
            },
            r"obligations\[1\].check 'x' has an obligation already",
        ),
        ({"rationale": "  "}, "rationale must be non-empty text, got '  '"),
        ({"audit_sha256": "abc123"}, "audit_sha256 must be 64 hexadecimal characters, got 'abc123'"),
        ({"audit_sha256": "g" * 64}, f"audit_sha256 must be 64 hexadecimal characters, got '{'g' * 64}'"),
        (
            {"checklist": {k: v for k, v in CHECKLIST.items() if k != "rereview_date"}},
            "missing 'rereview_date'",
        ),
        (
            {"checklist": {**CHECKLIST, "necessity_proportionality": ""}},
            "'necessity_proportionality'.*got ''",
        ),
        ({"checklist": {**CHECKLIST, "purpose": "x"}}, "checklist has unknown key 'purpose'"),
        ({"decision": "approve-with-conditions"}, r"conditions must list at least one .*got \(\)"),
        (
            {"conditions": ["Monitor monthly."]},
            r"conditions \['Monitor monthly.'\] given with decision 'approve'",
        ),
        ({"valid_until": "2026-09-01"}, "valid_until must be a date or None, got '2026-09-01'"),
        ({"scan": ""}, "scan must be non-empty text, got ''"),
    ],
)
def test_invalid_decisions_are_refused_naming_field_and_value(
    riskscan_home: Path, overrides: dict[str, Any], message: str
) -> None:
    with GovernanceStore() as store:
        with pytest.raises(InvalidInput, match=message):
            decide(store, **overrides)
        assert store.decisions("vw") == []


def test_invalid_withdrawals_and_promotions_are_refused(riskscan_home: Path) -> None:
    with GovernanceStore() as store:
        with pytest.raises(InvalidInput, match="reason must be non-empty text, got ''"):
            store.record_withdrawal(scan="vw", version=None, reason="", withdrawn_by="D")
        with pytest.raises(InvalidInput, match="promoted_by must be non-empty text, got ' '"):
            store.record_promotion(
                scan="vw",
                version="3",
                previous_version=None,
                decision_id=1,
                audit_sha256=AUDIT,
                promoted_by=" ",
            )


# ------------------------------------------------------------------ what the database itself enforces


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE committee_decisions SET rationale = 'rewritten'",
        "UPDATE committee_decisions SET supersedes_id = NULL",
        "DELETE FROM committee_decisions",
        "UPDATE promotions SET promoted_by = 'someone else'",
        "DELETE FROM promotions",
        "UPDATE withdrawals SET reason = 'never mind'",
        "DELETE FROM withdrawals WHERE id = 1",
    ],
)
def test_the_database_refuses_to_change_or_delete_records(store: GovernanceStore, sql: str) -> None:
    first = decide(store)
    decide(store)
    store.record_promotion(
        scan="vw",
        version="3",
        previous_version=None,
        decision_id=first.id + 1,
        audit_sha256=AUDIT,
        promoted_by="C",
    )
    store.record_withdrawal(scan="vw", version="3", reason="Incident.", withdrawn_by="D")
    before = (store.decisions("vw"), store.promotions("vw"), store.withdrawals("vw"))

    with pytest.raises(IntegrityError, match=r"append-only: (UPDATE|DELETE) refused"):
        execute(store, sql)
    assert (store.decisions("vw"), store.promotions("vw"), store.withdrawals("vw")) == before


@pytest.mark.postgres
def test_postgresql_refuses_truncate() -> None:
    with temporary_database() as url, GovernanceStore(url) as store:
        store.record_withdrawal(scan="vw", version=None, reason="Incident.", withdrawn_by="D")
        with pytest.raises(IntegrityError, match="withdrawals is append-only: TRUNCATE refused"):
            execute(store, "TRUNCATE withdrawals")
        assert len(store.withdrawals("vw")) == 1


RAW_DECISION = (
    "INSERT INTO committee_decisions (scan, model_version, audit_sha256, decision, decided_by, rationale, "
    "conditions, checklist, demo, created_at, supersedes_id) VALUES (:scan, :version, :audit, :decision, "
    ":decided_by, :rationale, :conditions, :checklist, false, :created_at, :supersedes_id)"
)


def raw_decision(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "scan": "vw",
        "version": "3",
        "audit": AUDIT,
        "decision": "approve",
        "decided_by": ["A"],
        "rationale": "Reviewed.",
        "conditions": [],
        "checklist": CHECKLIST,
        "created_at": datetime(2026, 3, 1, tzinfo=UTC),
        "supersedes_id": None,
    }
    values.update(overrides)
    for key in ("decided_by", "conditions", "checklist"):
        values[key] = json.dumps(values[key])
    return values


SUPERSEDES_FK = "FOREIGN KEY constraint failed|fk_committee_decisions_supersedes_same_scan_version"


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        pytest.param({"decision": "approved"}, "ck_committee_decisions_decision", id="decision"),
        pytest.param({"rationale": " "}, "ck_committee_decisions_rationale", id="rationale"),
        pytest.param({"audit": "AB" * 32}, "ck_committee_decisions_audit_sha256_hex", id="audit-uppercase"),
        pytest.param({"audit": "ab" * 31}, "ck_committee_decisions_audit_sha256_", id="audit-short"),
        pytest.param({"decided_by": []}, "ck_committee_decisions_decided_by", id="decided_by-empty"),
        pytest.param({"decided_by": "A"}, "ck_committee_decisions_decided_by", id="decided_by-not-a-list"),
        pytest.param(
            {"checklist": {k: v for k, v in CHECKLIST.items() if k != "rereview_date"}},
            "ck_committee_decisions_checklist",
            id="checklist-missing-key",
        ),
        pytest.param(
            {"checklist": {**CHECKLIST, "rereview_date": " "}},
            "ck_committee_decisions_checklist",
            id="checklist-empty-answer",
        ),
        pytest.param(
            {"decision": "approve-with-conditions"},
            "ck_committee_decisions_conditions",
            id="conditions-missing",
        ),
        pytest.param({"conditions": ["x"]}, "ck_committee_decisions_conditions", id="conditions-on-approve"),
        pytest.param(
            {"supersedes_id": 999}, "ck_committee_decisions_supersedes_earlier", id="supersedes-later"
        ),
        pytest.param({"version": "4", "supersedes_id": 1}, SUPERSEDES_FK, id="supersedes-other-version"),
        pytest.param(
            {"supersedes_id": None},
            "UNIQUE constraint failed: committee_decisions.scan|uq_committee_decisions_first_decision",
            id="second-chain-for-a-version",
        ),
    ],
)
def test_the_database_refuses_rows_that_bypass_the_store(
    store: GovernanceStore, overrides: dict[str, Any], constraint: str
) -> None:
    decide(store)  # decision 1, the start of the chain for vw version 3
    with pytest.raises(IntegrityError, match=constraint):
        execute(store, RAW_DECISION, **raw_decision(**overrides))
    assert len(store.decisions("vw")) == 1
    execute(store, RAW_DECISION, **raw_decision(supersedes_id=1))  # the same row, done right, is accepted
    assert store.current_decision("vw", "3") == store.decisions("vw")[-1]


def test_the_database_ties_a_promotion_to_its_decision(store: GovernanceStore) -> None:
    decision = decide(store)
    decide(store, version="4")
    sql = (
        "INSERT INTO promotions (scan, model_version, previous_version, decision_id, audit_sha256, "
        "promoted_by, created_at) VALUES ('vw', :version, NULL, :decision_id, :audit, 'C', :created_at)"
    )
    at = datetime(2026, 3, 1, tzinfo=UTC)
    for version, audit in (("4", AUDIT), ("3", OTHER_AUDIT)):  # another version's decision, another audit
        with pytest.raises(
            IntegrityError, match=r"FOREIGN KEY|fk_promotions_decision_same_scan_version_audit"
        ):
            execute(store, sql, version=version, decision_id=decision.id, audit=audit, created_at=at)
    execute(store, sql, version="3", decision_id=decision.id, audit=AUDIT, created_at=at)
    assert len(store.promotions("vw")) == 1


def test_two_stores_on_one_database_share_one_chain(url: str) -> None:
    clock: Callable[[], datetime] = Clock()
    with GovernanceStore(url, clock=clock) as one, GovernanceStore(url, clock=clock) as two:
        first = decide(one)
        second = decide(two)
        third = decide(one)
        assert (second.supersedes_id, third.supersedes_id) == (first.id, second.id)
        assert two.current_decision("vw", "3") == third
