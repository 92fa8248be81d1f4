"""Evidence that cannot be quietly changed: every evidence table chained, anchors, who recorded an outcome.

Each storage test runs on SQLite and on the real PostgreSQL (``database_url`` in tests/conftest.py).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect, select, text

from models.governance import CHECKLIST_KEYS, GovernanceStore
from riskscan import anchors, db
from riskscan.chain import GENESIS_HASH, Chain, link_hash
from riskscan.cli import ExitCode, main
from riskscan.db import current_revision, head_revision, make_engine, upgrade
from riskscan.errors import InvalidInput
from serving.evidence import EVIDENCE_CHAINS, ServiceAnchors, chain_named, check_anchors, heads, verify_all
from serving.log import LOG_CHAIN
from serving.outcomes import OUTCOME_CHAIN
from serving.store import ServingStore
from serving.tokens import TokenRecord
from tests.models.test_governance import member
from tests.serving.conftest import ServedHome, Server, caseload
from tests.serving.recipe_1 import write_recipe_1_rows
from tests.serving.store_helpers import Clock, entry, execute


@pytest.fixture
def url(database_url: str) -> str:
    """An empty database on each backend (tests/conftest.py: SQLite and the real PostgreSQL)."""
    return database_url


CHAINED = ("outcomes", "committee_decisions", "promotions", "withdrawals")
AUDIT = "cd" * 32
CHECKLIST = {key: f"antwoord op {key}" for key in CHECKLIST_KEYS}


def drop_triggers(store: ServingStore, table: str) -> None:
    """What only a table's owner can do, and what the chain and the anchors are there to expose."""
    if store.engine.dialect.name == "postgresql":
        execute(store, f"DROP TRIGGER {table}_append_only ON {table}")
    else:
        execute(store, f"DROP TRIGGER {table}_no_update")
        execute(store, f"DROP TRIGGER {table}_no_delete")


def reports(store: ServingStore) -> dict[str, Any]:
    return {report.table: report for report in verify_all(store.engine)}


def staff(store: ServingStore, name: str = "E. Visser") -> TokenRecord:
    return store.create_token(name=name, role="handhaving")[1]


def record_outcomes(store: ServingStore, n: int) -> list[str]:
    logged = store.append_scores([entry(case_id=f"case-{i}", signal=True) for i in range(n)])
    token = staff(store)
    for score in logged:
        store.record_outcome(
            recorded_by=token,
            request_id=score.request_id,
            violation=False,
            sanction=None,
            hoor_en_wederhoor=True,
        )
    return [score.request_id for score in logged]


def govern(url: str) -> GovernanceStore:
    governance = GovernanceStore(url, clock=Clock())
    decision = governance.record_decision(
        scan="vw",
        version="3",
        audit_sha256=AUDIT,
        decision="approve",
        signer=member(governance),
        rationale="Getoetst en goedgekeurd.",
        conditions=[],
        valid_until=date(2027, 1, 1),
        checklist=CHECKLIST,
        demo=True,
    )
    governance.record_promotion(
        scan="vw",
        version="3",
        decision_id=decision.id,
        audit_sha256=AUDIT,
        promoted_by="beheer",
        previous_version=None,
    )
    governance.record_withdrawal(scan="vw", version="3", reason="Proef beëindigd.", withdrawn_by="beheer")
    return governance


# ------------------------------------------------------------------------------------ the migration


def _insert_at_0003(url: str) -> None:
    """One record in every evidence table, written as revision 0003 knew them (no chains, no identity)."""
    engine = make_engine(url)
    at = datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO committee_decisions (scan, model_version, audit_sha256, decision, decided_by, "
                    "rationale, conditions, valid_until, checklist, demo, created_at) VALUES ('vw', '3', :audit, "
                    "'approve', :by, 'Getoetst.', '[]', :until, :checklist, false, :at)"
                ),
                {
                    "audit": AUDIT,
                    "by": json.dumps(["A. de Vrïes"]),
                    "until": date(2027, 1, 1),
                    "checklist": json.dumps(CHECKLIST),
                    "at": at,
                },
            )
            connection.execute(
                text(
                    "INSERT INTO promotions (scan, model_version, decision_id, audit_sha256, promoted_by, "
                    "created_at) VALUES ('vw', '3', 1, :audit, 'beheer', :at)"
                ),
                {"audit": AUDIT, "at": at},
            )
            connection.execute(
                text(
                    "INSERT INTO withdrawals (scan, model_version, reason, withdrawn_by, created_at) "
                    "VALUES ('vw', NULL, 'Proef.', 'beheer', :at)"
                ),
                {"at": at},
            )
        # The log row as 0003's writer hashed it (recipe 1; today's writer uses recipe 2 of revision 0008).
        (logged,) = write_recipe_1_rows(url, [entry(signal=True)], at, revision="0003_row_hash_not_unique")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO outcomes (request_id, violation, hoor_en_wederhoor, investigator, notes, "
                    "created_at) VALUES (:request_id, false, true, 'E. Visser', 'gehoord', :at)"
                ),
                {"request_id": logged["request_id"], "at": at},
            )
    finally:
        engine.dispose()


def _columns(url: str, table: str) -> set[str]:
    engine = make_engine(url)
    try:
        return {column["name"] for column in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_0004_chains_the_records_already_there_and_goes_down_and_up_with_them(url: str) -> None:
    upgrade(url, "0003_row_hash_not_unique")
    _insert_at_0003(url)
    upgrade(url)
    assert current_revision(url) == head_revision()
    with ServingStore(url, clock=Clock()) as store:
        found = reports(store)
        assert all(report.ok for report in found.values()), found
        assert {table: found[table].rows_checked for table in CHAINED} == dict.fromkeys(CHAINED, 1)
        (outcome,) = store.outcomes()
        assert (outcome.token_id, outcome.token_name, outcome.investigator) == (None, None, "E. Visser")
        chain = chain_named("committee_decisions")
        with store.engine.connect() as connection:
            row = connection.execute(select(chain.table)).one()._mapping
        assert row["prev_hash"] == GENESIS_HASH
        assert row["row_hash"] == link_hash(GENESIS_HASH, {name: row[name] for name in chain.fields})

    db.downgrade(url, "0003_row_hash_not_unique")  # nothing recorded under a token yet: nothing is lost
    assert not {"prev_hash", "row_hash"} & _columns(url, "promotions")
    assert not {"token_id", "token_name", "row_hash"} & _columns(url, "outcomes")
    upgrade(url)
    with ServingStore(url, clock=Clock()) as store, govern(url):
        # Two outcomes under a token, on the recipe-1 row: a recipe-2 row would make 0008 refuse first.
        token = staff(store)
        for violation in (False, True):
            store.record_outcome(
                recorded_by=token,
                request_id=outcome.request_id,
                violation=violation,
                sanction=None,
                hoor_en_wederhoor=True,
            )
        found = reports(store)
        assert all(report.ok for report in found.values()), found
        assert [found[table].rows_checked for table in CHAINED] == [3, 2, 2, 2]
        with pytest.raises(Exception, match="append-only"):
            execute(store, "UPDATE withdrawals SET reason = 'anders'")
    # The decisions are signed now (revision 0006, which stands above 0004), so 0006 refuses first.
    with pytest.raises(RuntimeError, match="refusing to downgrade below 0006_committee_signatures"):
        db.downgrade(url, "0003_row_hash_not_unique")
    assert current_revision(url) == head_revision()  # the refusal rolled the whole downgrade back


# ------------------------------------------------------------------------- what the chains expose


@pytest.mark.parametrize(
    "change", ["UPDATE outcomes SET violation = true WHERE id = 2", "DELETE FROM outcomes WHERE id = 2"]
)
def test_an_outcome_changed_or_removed_around_the_triggers_is_found(url: str, change: str) -> None:
    with ServingStore(url, clock=Clock()) as store:
        record_outcomes(store, 3)
        assert reports(store)["outcomes"].ok
        drop_triggers(store, "outcomes")
        execute(store, change)
        report = reports(store)["outcomes"]
    assert (report.ok, report.rows_checked) == (False, 1)
    if change.startswith("UPDATE"):
        assert report.first_broken_id == 2 and report.problem.startswith("hash mismatch")
    else:
        assert report.first_broken_id == 3 and report.problem.startswith("link broken")


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE committee_decisions SET rationale = 'Anders besloten.'",
        "UPDATE promotions SET promoted_by = 'iemand anders'",
        "DELETE FROM withdrawals WHERE id = 1",
    ],
)
def test_a_governance_record_changed_or_removed_around_the_triggers_is_found(url: str, change: str) -> None:
    table = change.split()[2 if change.startswith("DELETE") else 1]
    with ServingStore(url, clock=Clock()) as store, govern(url) as governance:
        # A second withdrawal after the one removed, so the removal breaks a link.
        governance.record_withdrawal(scan="vw", version=None, reason="Nogmaals.", withdrawn_by="beheer")
        assert all(report.ok for report in verify_all(store.engine))
        drop_triggers(store, table)
        execute(store, change)
        report = reports(store)[table]
    assert not report.ok
    if change.startswith("DELETE"):
        assert (report.first_broken_id, report.problem[:11]) == (2, "link broken")
    else:
        assert (report.first_broken_id, report.problem[:13]) == (1, "hash mismatch")


def test_log_verify_names_the_table_and_row_of_a_changed_outcome(
    riskscan_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ServingStore() as store:
        record_outcomes(store, 3)
        drop_triggers(store, "outcomes")
        execute(store, "UPDATE outcomes SET notes = 'later toegevoegd' WHERE id = 3")
    assert main(["log", "verify"]) == ExitCode.REFUSED
    assert capsys.readouterr().out.startswith("outcomes TAMPERED OR BROKEN at row 3: hash mismatch")


# --------------------------------------------------------------------------------------- anchors


def test_anchors_expose_removed_newest_rows_and_a_rewritten_tail(
    riskscan_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ServingStore(clock=Clock()) as store:
        record_outcomes(store, 4)
        anchors.write(heads(store.engine), "test")
        assert check_anchors(store.engine, anchors.read(anchors.default_directory())) == []
        assert main(["log", "verify"]) == ExitCode.SUCCESS
        assert "anchor(s) in" in capsys.readouterr().out

        drop_triggers(store, "outcomes")
        execute(store, "DELETE FROM outcomes WHERE id = 4")
        assert reports(store)["outcomes"].ok, "a cut tail is still a valid chain"
    assert main(["log", "verify"]) == ExitCode.REFUSED
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("outcomes has 3 row(s), fewer than the 4 anchored at ")
    assert printed[0].endswith("by test: its newest rows were removed")


def _rewrite_tail(store: ServingStore, chain: Chain, table: str, from_id: int, **change: Any) -> None:
    """Change rows ``from_id``... and recompute their hashes: a chain that verifies, and is not the one
    that was anchored."""
    with store.engine.begin() as connection:
        query = select(chain.table).where(chain.table.c.id >= from_id).order_by(chain.table.c.id)
        rows = [dict(row._mapping) for row in connection.execute(query)]
        prev_hash = connection.execute(
            text(f"SELECT row_hash FROM {table} WHERE id < :id ORDER BY id DESC LIMIT 1"), {"id": from_id}
        ).scalar_one()
        for row in rows:
            row.update(change)
            row_hash = chain.row_hash(prev_hash, row)
            assignments = ", ".join(f"{name} = :{name}" for name in change)
            connection.execute(
                text(f"UPDATE {table} SET {assignments}, prev_hash = :prev, row_hash = :hash WHERE id = :id"),
                {**change, "prev": prev_hash, "hash": row_hash, "id": row["id"]},
            )
            prev_hash = row_hash


def test_anchors_expose_a_tail_rewritten_with_recomputed_hashes(url: str, tmp_path: Path) -> None:
    with ServingStore(url, clock=Clock()) as store:
        record_outcomes(store, 4)
        written = anchors.write(heads(store.engine), "score-batch", tmp_path)
        drop_triggers(store, "outcomes")
        drop_triggers(store, "decision_log")
        _rewrite_tail(store, OUTCOME_CHAIN, "outcomes", 3, violation=True)
        _rewrite_tail(store, LOG_CHAIN, "decision_log", 4, score=0.01)
        assert all(report.ok for report in verify_all(store.engine)), "the rewritten chains verify"
        problems = check_anchors(store.engine, written)
    assert len(problems) == 2
    assert problems[0].startswith("decision_log: at position 4 row id 4 hashes ")
    assert problems[1].startswith("outcomes: at position 4 row id 4 hashes ")
    assert problems[1].endswith("by score-batch: rows up to it were rewritten")


def test_expect_head_and_a_broken_anchor_file_are_one_sentence_each(
    riskscan_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ServingStore(clock=Clock()) as store:
        record_outcomes(store, 2)
        (log_head, *_) = heads(store.engine)
    assert main(["log", "verify", "--expect-head", log_head.head_hash]) == ExitCode.SUCCESS
    capsys.readouterr()
    assert main(["log", "verify", "--expect-head", f"outcomes:{log_head.head_hash}"]) == ExitCode.REFUSED
    assert capsys.readouterr().out.startswith("outcomes's head is ")
    assert main(["log", "verify", "--expect-head", "decision_log:abc"]) == ExitCode.REFUSED
    assert "--expect-head 'decision_log:abc' is not a head" in capsys.readouterr().err
    folder = riskscan_home / "copy"
    folder.mkdir()
    (folder / "anchors.jsonl").write_text('{"table": "outcomes", "rows": "2"}\n', encoding="utf-8")
    assert main(["log", "verify", "--anchors", str(folder)]) == ExitCode.REFUSED
    assert "anchor anchors.jsonl:1 must be an object with exactly" in capsys.readouterr().err


def test_the_service_anchors_only_when_a_head_moved(riskscan_home: Path, tmp_path: Path) -> None:
    with ServingStore(clock=Clock()) as store:
        ticker = ServiceAnchors(store.engine, interval=3600, directory=tmp_path)
        assert ticker.tick() == [], "an empty database is not anchored"
        record_outcomes(store, 1)
        first = ticker.tick()
        assert [(anchor.table, anchor.rows) for anchor in first[:2]] == [("decision_log", 1), ("outcomes", 1)]
        assert ticker.tick() == [], "nothing moved"
        store.append_score(entry(case_id="later"))
        assert [anchor.rows for anchor in ticker.tick()][:2] == [2, 1]
    lines = (tmp_path / anchors.ANCHOR_FILE).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 * len(EVIDENCE_CHAINS)
    assert [anchor.source for anchor in anchors.read(tmp_path)] == ["service"] * len(lines)


def test_the_service_anchors_in_the_home_it_started_in_wherever_the_home_points_later(
    riskscan_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread's database is the home's it started in; so are its anchors. A process whose
    RISKSCAN_HOME changed later (a test session's in-process service) once anchored that database's heads
    in the other home, where `log verify` then reported rows removed that were never there."""
    with ServingStore(clock=Clock()) as store:
        ticker = ServiceAnchors(store.engine, interval=3600)
        record_outcomes(store, 1)
        other = tmp_path / "other-home"
        monkeypatch.setenv("RISKSCAN_HOME", str(other))
        assert anchors.default_directory() == other / "anchors"
        written = ticker.tick()
    assert [(anchor.table, anchor.rows) for anchor in written[:2]] == [("decision_log", 1), ("outcomes", 1)]
    started_in = riskscan_home / "anchors"
    assert [(a.table, a.rows) for a in anchors.read(started_in)] == [(a.table, a.rows) for a in written]
    assert not (other / "anchors").exists()


def test_stopping_the_service_anchors_what_moved_since_its_last_tick(
    riskscan_home: Path, tmp_path: Path
) -> None:
    with ServingStore(clock=Clock()) as store:
        ticker = ServiceAnchors(store.engine, interval=3600, directory=tmp_path).start()
        record_outcomes(store, 2)
        ticker.stop()  # the hour's tick never came: the shutdown anchors the heads
        first = anchors.read(tmp_path)
        assert [(anchor.table, anchor.rows) for anchor in first[:2]] == [("decision_log", 2), ("outcomes", 2)]
        ticker.stop()  # nothing moved since: nothing more
        assert len(anchors.read(tmp_path)) == len(first) == len(EVIDENCE_CHAINS)


def test_the_anchor_interval_is_refused_unless_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    from serving.evidence import anchor_interval

    monkeypatch.setenv("RISKSCAN_ANCHOR_SECONDS", "0")
    with pytest.raises(
        InvalidInput, match="RISKSCAN_ANCHOR_SECONDS must be a positive number of seconds, got '0'"
    ):
        anchor_interval()
    monkeypatch.setenv("RISKSCAN_ANCHOR_SECONDS", "2.5")
    assert anchor_interval() == 2.5


# ---------------------------------------------------------------------------- who recorded it


def test_an_outcome_carries_the_identity_of_the_token_not_the_typed_name(url: str) -> None:
    with ServingStore(url, clock=Clock()) as store:
        (logged,) = store.append_scores([entry(signal=True)])
        first, second = staff(store, "E. Visser"), staff(store, "F. de Boer")
        recorded = store.record_outcome(
            recorded_by=second,
            request_id=logged.request_id,
            violation=False,
            sanction=None,
            hoor_en_wederhoor=True,
            investigator="E. Visser",  # typed: a display name, not who recorded it
        )
        (stored,) = store.outcomes()
        assert first.id != second.id
        assert (stored.token_id, stored.token_name, stored.investigator) == (
            second.id,
            "F. de Boer",
            "E. Visser",
        )
        assert recorded == stored
        untyped = store.record_outcome(
            recorded_by=first,
            request_id=logged.request_id,
            violation=False,
            sanction=None,
            hoor_en_wederhoor=True,
        )
        assert (untyped.token_id, untyped.investigator) == (first.id, "E. Visser")
        assert reports(store)["outcomes"].ok


def test_riskscan_outcome_records_under_the_token_in_the_environment(
    riskscan_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with ServingStore() as store:
        (logged,) = store.append_scores([entry(signal=True)])
        token, record = store.create_token(name="G. Bakker", role="handhaving")
        committee, _ = store.create_token(name="commissie", role="committee")
    arguments = ["outcome", "--request-id", logged.request_id, "--violation", "no", "--investigator", "X"]
    monkeypatch.delenv("RISKSCAN_TOKEN", raising=False)
    assert main(arguments) == ExitCode.REFUSED
    assert "RISKSCAN_TOKEN is not set" in capsys.readouterr().err
    monkeypatch.setenv("RISKSCAN_TOKEN", committee)
    assert main(arguments) == ExitCode.REFUSED
    monkeypatch.setenv("RISKSCAN_TOKEN", token)
    assert main(arguments) == ExitCode.SUCCESS
    with ServingStore() as store:
        (stored,) = store.outcomes()
    assert (stored.token_id, stored.token_name, stored.investigator) == (record.id, "G. Bakker", "X")


def test_an_outcome_over_http_is_recorded_under_the_callers_token_whatever_the_body_says(
    server: Server, at_home: ServedHome
) -> None:
    with ServingStore() as store:
        other_token, other = store.create_token(name="tweede handhaver", role="handhaving")
    scored = httpx.post(
        f"{server.url}/score",
        json={"scan": "vw", "cases": caseload(server.home, "vw", 1)},
        headers=server.headers("systeem"),
    )
    assert scored.status_code == 200, scored.text
    (result,) = scored.json()["results"]
    recorded = httpx.post(
        f"{server.url}/outcome",
        headers={"Authorization": f"Bearer {other_token}"},
        json={
            "request_id": result["request_id"],
            "violation": False,
            "hoor_en_wederhoor": True,
            "investigator": "test handhaving",  # the name of the token that scored it, typed by someone else
        },
    )
    assert recorded.status_code == 200, recorded.text
    outcome = recorded.json()["outcome"]
    assert (outcome["token_id"], outcome["token_name"]) == (other.id, "tweede handhaver")
    with ServingStore() as store:
        stored = [o for o in store.outcomes() if o.request_id == result["request_id"]]
    assert [(o.token_id, o.token_name, o.investigator) for o in stored] == [
        (other.id, "tweede handhaver", "test handhaving")
    ]
