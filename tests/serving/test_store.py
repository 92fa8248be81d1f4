"""The serving store on SQLite and on the machine's real PostgreSQL: migrations, chain verification, what
the database refuses, tokens and concurrent appends.

As for the governance tables, what matters most is tested against the database itself with raw SQL: the
rows are evidence, so the database refuses to change or delete them, and the hash chain shows it when
someone who could drop the triggers did so anyway.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.config import main as alembic_main
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.exc import DataError, IntegrityError

from models.governance import (
    CHECKLIST_KEYS,
    GovernanceStore,
)
from riskscan import db
from riskscan.db import (
    MIGRATIONS_DIR,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
    write_transaction,
)
from riskscan.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from serving import auth as auth_module
from serving.auth import Authenticator
from serving.log import (
    LOG,
    LoggedScore,
    row_hash,
)
from serving.outcomes import OUTCOME_CHAIN
from serving.store import TABLES, ServingStore
from tests.postgres import temporary_database
from tests.serving.recipe_1 import write_recipe_1_rows
from tests.serving.store_helpers import (
    AUDIT,
    HEAD,
    RECIPE_1_COLUMNS,
    Clock,
    drop_log_triggers,
    entry,
    execute,
    table_names,
)

# ------------------------------------------------------------------------------------------ migrations


def test_migrations_from_empty_and_back_to_0001(url: str) -> None:
    assert current_revision(url) is None
    with ServingStore(url) as store:
        store.append_score(entry())
    assert current_revision(url) == head_revision() == HEAD
    assert set(TABLES) <= table_names(url)

    with pytest.raises(RuntimeError, match="refusing to downgrade below 0008_hash_recipe_v2: 1 decision-log"):
        db.downgrade(url, "0001_governance")
    assert current_revision(url) == HEAD  # the refusal rolled the whole downgrade back


def test_upgrade_from_0001_keeps_governance_records_and_downgrade_drops_only_serving(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(url, "0001_governance")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO committee_decisions (scan, model_version, audit_sha256, decision, "
                    "decided_by, rationale, conditions, checklist, demo, created_at) VALUES ('vw', '3', "
                    ":audit, 'approve', '[\"A\"]', 'Reviewed.', '[]', :checklist, false, :at)"
                ),
                {
                    "audit": AUDIT,
                    "checklist": json.dumps({key: "answer" for key in CHECKLIST_KEYS}),
                    "at": datetime(2026, 3, 1, tzinfo=UTC),
                },
            )
    finally:
        engine.dispose()

    with ServingStore(url) as store:  # migrates 0001 -> 0002
        logged = store.append_score(entry(decision_id=1, audit_sha256=AUDIT))
        assert logged.decision_id == 1
        with pytest.raises(NotFound, match="decision_id 99 does not exist"):
            store.append_score(entry(decision_id=99))
    with GovernanceStore(url) as governance_store:
        assert [decision.id for decision in governance_store.decisions("vw")] == [1]

    # The command line a developer uses: refuses while the log holds rows, unless told the data may go.
    monkeypatch.setenv("RISKSCAN_DATABASE_URL", url)
    monkeypatch.setattr("logging.config.fileConfig", lambda *_args, **_kwargs: None)
    ini = str(MIGRATIONS_DIR / "alembic.ini")
    with pytest.raises(RuntimeError, match="refusing to downgrade below 0008_hash_recipe_v2"):
        alembic_main(["-c", ini, "downgrade", "0001_governance"])
    alembic_main(["-c", ini, "-x", "drop-evidence=yes", "downgrade", "0001_governance"])
    assert current_revision(url) == "0001_governance"
    assert not set(TABLES) & table_names(url)
    assert "committee_decisions" in table_names(url)
    with GovernanceStore(url) as governance_store:  # back up to head: the triggers come back cleanly
        assert len(governance_store.decisions("vw")) == 1
    assert current_revision(url) == HEAD


def legacy_outcome(request_id: str) -> dict[str, Any]:
    """An outcome as revision 0004 finds those recorded before it: no token identity."""
    return {
        "request_id": request_id,
        "violation": False,
        "sanction": None,
        "hoor_en_wederhoor": True,
        "investigator": "x",
        "notes": "",
        "created_at": datetime(2026, 3, 1, 9, tzinfo=UTC),
        "token_id": None,
        "token_name": None,
    }


def _unique_columns(url: str) -> set[tuple[str, ...]]:
    engine = make_engine(url)
    try:
        found = inspect(engine).get_unique_constraints("decision_log")
    finally:
        engine.dispose()
    return {tuple(constraint["column_names"]) for constraint in found}


def test_0003_drops_the_row_hash_constraint_and_keeps_every_row_trigger_and_index(url: str) -> None:
    """Both directions with records in the log: rows unchanged, chain intact, triggers and indexes back."""
    written = write_recipe_1_rows(url, [entry(case_id=f"c{i}", signal=i % 2 == 0) for i in range(5)])
    columns_0002 = ", ".join(name for name in written[0] if name in RECIPE_1_COLUMNS)
    engine = make_engine(url)
    try:
        with write_transaction(engine) as connection:  # as before 0004: no token identity
            OUTCOME_CHAIN.append(connection, legacy_outcome(written[0]["request_id"]))
        with engine.connect() as connection:
            rows = connection.execute(text(f"SELECT {columns_0002} FROM decision_log ORDER BY id")).all()
    finally:
        engine.dispose()
    assert ("row_hash",) not in _unique_columns(url) and ("request_id",) in _unique_columns(url)

    db.downgrade(url, "0002_serving")  # puts the constraint back; 0002 holds the records
    assert current_revision(url) == "0002_serving"
    assert ("row_hash",) in _unique_columns(url)
    upgrade(url)
    assert ("row_hash",) not in _unique_columns(url)

    with ServingStore(url, clock=Clock()) as store:
        with store.engine.connect() as connection:
            assert (
                connection.execute(text(f"SELECT {columns_0002} FROM decision_log ORDER BY id")).all() == rows
            )
        assert store.verify_chain().ok
        assert len(store.outcomes("vw")) == 1 and len(store.worklist("vw", 10)) == 2
        store.append_scores([entry(case_id="after")])
        assert store.verify_chain().ok
        for statement in ("UPDATE decision_log SET score = 0.5", "DELETE FROM decision_log"):
            with pytest.raises(IntegrityError, match="append-only"):
                execute(store, statement)


#: Texts every hex check must refuse, for a column of ``length`` characters: capitals, one short, one long,
#: a character outside the class, a trailing newline (a regex ``$`` could let it through), and empty.
def _not_hex(length: int) -> list[str]:
    good = "ab" * (length // 2)
    return [good.upper(), good[:-1], good + "a", good[:-1] + "g", good[:-1] + "\n", ""]


_HEX_COLUMNS = {"request_id": 32, "audit_sha256": 64, "prev_hash": 64, "row_hash": 64}


def _hex_refusals(store: ServingStore) -> list[str]:
    """Insert row 1 again as row 2 (raw, past the store), once valid, then once per bad value of each hex
    column; each attempt is rolled back. Returns the constraint names that refused, in order."""
    with store.engine.connect() as connection:
        first = dict(connection.execute(select(LOG).where(LOG.c.id == 1)).mappings().one())
    valid = first | {"id": 2, "prev_hash": first["row_hash"], "request_id": "cd" * 16, "row_hash": "ef" * 32}
    refused = []
    for column, length in [(None, 0), *_HEX_COLUMNS.items()]:
        for value in _not_hex(length) if column else [None]:
            with store.engine.connect() as connection, connection.begin() as transaction:
                try:
                    connection.execute(insert(LOG).values(valid | ({column: value} if column else {})))
                except (IntegrityError, DataError) as exc:  # DataError: PostgreSQL's VARCHAR(n), too long
                    refused.append(str(exc.orig).split("\n")[0])
                else:
                    assert column is None, f"{column}={value!r} was accepted"
                transaction.rollback()
    return refused


def test_the_hex_checks_refuse_the_same_texts_before_and_after_0010(url: str) -> None:
    """0010 respells PostgreSQL's hex checks (a bounded regex repeat cost 7.5 µs a value); on both databases
    and on both sides of it, every bad text is refused by its own column's check, and a good row is not."""
    expected = [
        f"ck_decision_log_{column}_hex" for column, length in _HEX_COLUMNS.items() for _ in _not_hex(length)
    ]

    def by_their_own_check(refused: list[str]) -> bool:
        # PostgreSQL's VARCHAR(n) refuses a text one too long before any check sees it.
        return len(refused) == len(expected) and all(
            name in message or "value too long" in message
            for name, message in zip(expected, refused, strict=True)
        )

    with ServingStore(url, clock=Clock()) as store:
        store.append_score(entry(audit_sha256=AUDIT))
        assert by_their_own_check(_hex_refusals(store)), _hex_refusals(store)
        db.downgrade(url, "0009_worklist_covering_index")
        assert by_their_own_check(_hex_refusals(store)), _hex_refusals(store)
        upgrade(url)
        assert current_revision(url) == HEAD


def test_sqlite_store_uses_wal_and_lives_in_riskscan_home(riskscan_home: Path) -> None:
    with ServingStore() as store:
        assert store.url == f"sqlite:///{riskscan_home / 'governance.db'}"
        store.append_score(entry())
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    with ServingStore(sqlite_synchronous="FULL") as store, store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    with pytest.raises(InvalidInput, match="sqlite_synchronous must be one of 'NORMAL', 'FULL', got 'OFF'"):
        ServingStore(sqlite_synchronous="OFF")
    with pytest.raises(InvalidInput, match="checkpoint_every must be a positive number of seconds, got 0"):
        ServingStore(checkpoint_every=0)


def test_background_checkpoints(riskscan_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ServingStore(checkpoint_every=0.01) as store:
        done = threading.Semaphore(0)
        checkpoint = store.checkpoint

        def counted() -> None:
            checkpoint()
            done.release()

        monkeypatch.setattr(store, "checkpoint", counted)
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10_000
        store.append_scores([entry(case_id=f"case-{n}") for n in range(20)])
        assert done.acquire(timeout=5)
        assert done.acquire(timeout=5)  # it keeps going
        thread = store._checkpointer
        assert thread is not None
        assert thread.is_alive()
        assert store.verify_chain().rows_checked == 20
    assert not thread.is_alive()  # close() stops it


# ----------------------------------------------------------------------------------- chain verification


def test_a_changed_score_is_found(store: ServingStore) -> None:
    logged = store.append_scores([entry(case_id=f"case-{n}") for n in range(5)])
    drop_log_triggers(store)
    execute(store, "UPDATE decision_log SET score = 0.99 WHERE id = 3")

    report = store.verify_chain(batch_size=2)
    assert not report.ok
    assert report.first_broken_id == 3
    assert report.problem is not None
    assert report.problem.startswith("hash mismatch")
    assert (report.rows_checked, report.head_id, report.head_hash) == (2, 2, logged[1].row_hash)


def test_a_rewritten_row_hash_breaks_the_link_to_the_next_row(store: ServingStore) -> None:
    store.append_scores([entry(case_id=f"case-{n}") for n in range(4)])
    drop_log_triggers(store)
    original = store.get_score(store.cases(scan="vw")[1].request_id)
    assert original is not None
    forged = {k: v for k, v in original.as_dict().items() if not k.endswith("_hash")}
    forged["score"] = 0.01
    execute(
        store,
        "UPDATE decision_log SET score = 0.01, row_hash = :forged WHERE id = 2",
        forged=row_hash(original.prev_hash, forged),
    )
    report = store.verify_chain()
    assert (report.ok, report.first_broken_id) == (False, 3)
    assert report.problem is not None
    assert report.problem.startswith("link broken")


def test_a_removed_row_leaves_a_gap(store: ServingStore) -> None:
    logged = store.append_scores([entry(case_id=f"case-{n}") for n in range(5)])
    drop_log_triggers(store)

    # Removing the newest row leaves a chain that checks out: only a head hash kept elsewhere shows it.
    execute(store, "DELETE FROM decision_log WHERE id = 5")
    report = store.verify_chain()
    assert (report.ok, report.rows_checked, report.head_hash) == (True, 4, logged[3].row_hash)
    assert report.head_hash != logged[4].row_hash

    execute(store, "DELETE FROM decision_log WHERE id = 3")
    report = store.verify_chain()
    assert (report.ok, report.first_broken_id, report.rows_checked) == (False, 4, 2)
    assert report.problem is not None
    assert report.problem.startswith("gap: id 3 missing before id 4")

    execute(store, "DELETE FROM decision_log WHERE id = 1")
    report = store.verify_chain()
    assert (report.ok, report.first_broken_id, report.rows_checked) == (False, 2, 0)
    assert report.problem is not None
    assert report.problem.startswith("gap: id 1 missing before id 2")


# ------------------------------------------------------------------------ what the database refuses


CHANGES = [
    "UPDATE decision_log SET score = 0.99",
    "DELETE FROM decision_log",
    "UPDATE outcomes SET violation = false",
    "DELETE FROM outcomes",
    "UPDATE api_tokens SET role = 'admin'",
    "DELETE FROM api_tokens",
    "UPDATE token_revocations SET reason = 'never mind'",
    "DELETE FROM token_revocations WHERE id = 1",
]


def test_the_database_refuses_to_change_or_delete_records(store: ServingStore) -> None:
    logged = store.append_score(entry(signal=True))
    store.record_outcome(
        recorded_by=store.create_token(name="E", role="handhaving")[1],
        request_id=logged.request_id,
        violation=True,
        sanction="boete",
        hoor_en_wederhoor=True,
        investigator="E",
    )
    _token, record = store.create_token(name="ci", role="retrain")
    store.revoke_token(record.id, "rotated")
    before = (store.cases(scan="vw"), store.outcomes(), store.tokens())

    for sql in CHANGES:
        table = sql.split()[1] if sql.startswith("UPDATE") else sql.split()[2]
        operation = sql.split()[0]
        with pytest.raises(IntegrityError, match=f"{table} is append-only: {operation} refused"):
            execute(store, sql)
    assert (store.cases(scan="vw"), store.outcomes(), store.tokens()) == before
    assert store.verify_chain().ok


@pytest.mark.postgres
def test_postgresql_refuses_truncate() -> None:
    with temporary_database() as url, ServingStore(url) as store:
        store.append_score(entry())
        for table in ("token_revocations", "outcomes", "decision_log"):
            with pytest.raises(IntegrityError, match=f"{table} is append-only: TRUNCATE refused"):
                execute(store, f"TRUNCATE {table} CASCADE")
        assert store.verify_chain().rows_checked == 1


# ---------------------------------------------------------------------------------------------- tokens


def test_tokens(store: ServingStore) -> None:
    token, record = store.create_token(name="  Team Handhaving Noord ", role="handhaving")
    other, _ = store.create_token(name="commissie", role="committee")
    assert token.startswith("rs_")
    assert len(token) > 40
    assert token != other
    assert (record.name, record.role, record.active) == ("Team Handhaving Noord", "handhaving", True)

    with store.engine.connect() as connection:
        stored = [tuple(map(str, row)) for row in connection.execute(text("SELECT * FROM api_tokens"))]
    assert not any(token in value or token[3:] in value for row in stored for value in row)
    assert stored[0][3] == hashlib.sha256(token.encode()).hexdigest()

    assert store.authenticate(token) == record
    assert store.authenticate(token + "x") is None
    assert store.authenticate("") is None
    assert store.authenticate(None) is None  # type: ignore[arg-type]

    store.revoke_token(record.id, "Laptop kwijt.")
    assert store.authenticate(token) is None
    assert store.authenticate(other) is not None
    listed = store.tokens()
    assert [t.name for t in listed] == ["Team Handhaving Noord", "commissie"]
    assert not listed[0].active
    assert listed[0].revocation_reason == "Laptop kwijt."
    assert json.loads(json.dumps(listed[0].as_dict()))["active"] is False
    assert "token_hash" not in listed[0].as_dict()

    with pytest.raises(Conflict, match=f"API token {record.id} .* is already revoked"):
        store.revoke_token(record.id, "again")
    with pytest.raises(NotFound, match="no API token with id 99"):
        store.revoke_token(99, "typo")
    with pytest.raises(InvalidInput, match="reason must be non-empty text, got ''"):
        store.revoke_token(listed[1].id, "")
    with pytest.raises(
        InvalidInput,
        match="role must be one of 'handhaving', 'committee', 'retrain', 'admin', 'systeem', got 'root'",
    ):
        store.create_token(name="x", role="root")
    with pytest.raises(InvalidInput, match="name must be non-empty text, got ''"):
        store.create_token(name="", role="admin")
    with pytest.raises(IntegrityError, match="ck_api_tokens_role"):
        execute(
            store,
            "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES ('x', 'root', :hash, :at)",
            hash="cd" * 32,
            at=datetime(2026, 3, 1, tzinfo=UTC),
        )


# ----------------------------------------------------------------------------------------- concurrency


def test_a_revoked_token_stops_working_within_the_cache_bound(
    store: ServingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate checks a token from the authenticator's cache without the database; a revocation must
    still stop it within ``CACHE_SECONDS``, on the cached path and on the database path alike."""
    now = [1000.0]
    monkeypatch.setattr(auth_module.time, "monotonic", lambda: now[0])
    auth = Authenticator(store)
    token, record = store.create_token(name="koppeling", role="systeem")
    assert auth.require_cached(token, "score") is None  # not looked up yet: the gate asks the database
    assert auth.require(token, "score") == record
    assert auth.require_cached(token, "score") == record  # now cached
    with pytest.raises(Forbidden, match="role 'systeem' may not reload"):
        auth.require_cached(token, "reload")

    store.revoke_token(record.id, "gelekt")
    now[0] += auth_module.CACHE_SECONDS - 0.01  # still within the bound: the stale answer is allowed
    assert auth.require_cached(token, "score") == record
    now[0] += 0.01  # the bound has passed: no cached answer, and the database says revoked
    assert auth.require_cached(token, "score") is None
    with pytest.raises(Unauthenticated, match="unknown or revoked token"):
        auth.require(token, "score")
    with pytest.raises(Unauthenticated, match="unknown or revoked token"):  # the refusal is cached too
        auth.require_cached(token, "score")
    with pytest.raises(Unauthenticated, match="authentication required"):
        auth.require_cached("", "score")


def test_concurrent_appends_keep_one_linear_chain(url: str) -> None:
    """Threads with their own store (own engine and pool, as separate processes would have) and threads
    sharing one store all append at once; the chain stays linear and verifiable."""
    ServingStore(url).close()  # migrate once, up front
    stores = [ServingStore(url) for _ in range(3)]
    shared = stores[0]
    errors: list[BaseException] = []
    logged: list[LoggedScore] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def work(store: ServingStore, worker: int) -> None:
        try:
            start.wait()
            for n in range(8):
                rows = [entry(case_id=f"w{worker}-{n}-{k}") for k in range(1 + n % 3)]
                result = store.append_scores(rows)
                with lock:
                    logged.extend(result)
        except BaseException as exc:  # handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(stores[i % 3] if i < 3 else shared, i)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert sorted(row.id for row in logged) == list(range(1, len(logged) + 1))
        assert len({row.prev_hash for row in logged}) == len(logged)  # no two rows share a predecessor
        report = shared.verify_chain(batch_size=10)
        assert report.ok, report.problem
        assert report.rows_checked == len(logged) == 6 * sum(1 + n % 3 for n in range(8))
    finally:
        for store in stores:
            store.close()


def test_a_lost_append_connection_is_replaced_on_sqlite(tmp_path: Path) -> None:
    """SQLite's appends keep one connection; one the driver lost (invalidated) is not used again."""
    with ServingStore(f"sqlite:///{tmp_path / 'log.db'}") as store:
        store.append_scores([entry(case_id="a")])
        held = store._log._held
        assert held is not None and held.is_valid
        held.invalidate()
        store.append_scores([entry(case_id="b")])
        replaced = store._log._held
        assert replaced is not None and replaced is not held and replaced.is_valid
        assert store.verify_chain().rows_checked == 2
    assert store._log._held is None, "closing the store hands the connection back"
