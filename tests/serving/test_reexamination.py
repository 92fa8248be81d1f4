"""Rulings, halted investigations, re-examination tasks and their results, on SQLite and PostgreSQL.

The cascade's model side (which versions use a column, the withdrawal, the 503) is in
``test_cascade.py``; here the blocked versions are recorded directly, so the storage rules and the
counts are tested on both backends without training a model.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from models.governance import GovernanceStore, RulingRecord
from riskscan import db
from riskscan.cli._main import invoke
from riskscan.db import current_revision, head_revision
from riskscan.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from serving.log import LogEntry
from serving.store import ServingStore
from serving.tokens import TokenRecord

COLUMN = "werkmap_logins"  # a lawful feature of the sollicitatie scan in the shipped register
SCAN = "sollicitatie"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2022, 7, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture
def stores(database_url: str) -> Iterator[tuple[GovernanceStore, ServingStore]]:
    clock = Clock()
    with (
        GovernanceStore(database_url, clock=clock) as governance,
        ServingStore(database_url, clock=clock) as store,
    ):
        yield governance, store


def entry(case: int, version: str, *, signal: bool, control: bool = False) -> LogEntry:
    return LogEntry(
        case_id=f"periode-{case}",
        scan=SCAN,
        model_name=f"riskscan-{SCAN}",
        model_version=version,
        inputs={COLUMN: case % 7, "weken_ww": 10},
        score=0.9 if signal else 0.1,
        threshold=0.5,
        signal=signal,
        control=control,
        control_draw=0.5,
        margin_scale="log-odds",
        explanation=[{"feature": COLUMN, "label": "Werkmap-logins", "value": case % 7, "contribution": 0.4}],
        base_value=-1.0,
    )


def world(store: ServingStore) -> dict[str, Any]:
    """Version 1 (to be blocked): 12 cases, 8 selected (one a control), 5 of those closed; version 2 (not
    blocked): 3 selected cases. Returns the request ids by what was done to them."""
    rows = [entry(i, "1", signal=i < 7, control=i == 7) for i in range(12)]
    rows += [entry(100 + i, "2", signal=True) for i in range(3)]
    logged = store.append_scores(rows)
    v1 = [row.request_id for row in logged[:12]]
    closed = v1[:5]
    investigator = store.create_token(name="onderzoeker", role="handhaving")[1]
    for index, request_id in enumerate(closed):
        violation = index % 2 == 0
        store.record_outcome(
            recorded_by=investigator,
            request_id=request_id,
            violation=violation,
            sanction="verlaging" if violation else None,
            hoor_en_wederhoor=True,
            investigator="onderzoeker",
        )
    return {
        "v1": v1,
        "closed": closed,
        "open": v1[5:8],
        "unselected": v1[8:],
        "v2": [r.request_id for r in logged[12:]],
    }


def rule(
    governance: GovernanceStore, token: TokenRecord, column: str = COLUMN, reason: str = "IP via cookies"
) -> RulingRecord:
    return governance.record_ruling(
        column=column, reason=reason, ruled_by_token_id=token.id, ruled_by=token.name
    )


def direct(store: ServingStore, sql: str, **params: Any) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(text(sql), params).scalar_one())


def test_a_ruling_halts_open_cases_opens_tasks_for_closed_ones_and_counts_agree_with_the_log(
    stores: tuple[GovernanceStore, ServingStore],
) -> None:
    governance, store = stores
    cases = world(store)
    _, committee = store.create_token(name="Commissielid A", role="committee")
    ruling = rule(governance, committee)
    assert (ruling.column_name, ruling.ruled_by_token_id, ruling.ruled_by) == (
        COLUMN,
        committee.id,
        "Commissielid A",
    )
    assert governance.ruled_register()[COLUMN].role == "forbidden"

    store.record_blocked(ruling.id, SCAN, "1", True)
    assert store.open_reexaminations(ruling.id) == {"halted": 3, "task": 5}
    assert store.open_reexaminations(ruling.id) == {"halted": 0, "task": 0}  # a second run adds nothing

    worklist = {row.request_id for row in store.worklist(SCAN, limit=100)}
    assert worklist == set(cases["v2"])  # the halted cases left the worklist; the other version's stay
    with pytest.raises(Conflict, match="halted"):
        store.record_outcome(
            recorded_by=store.create_token(name="x", role="handhaving")[1],
            request_id=cases["open"][0],
            violation=False,
            sanction=None,
            hoor_en_wederhoor=False,
            investigator="x",
        )

    tasks = store.reexamination_tasks([ruling])
    assert [t.case.request_id for t in tasks] == cases["closed"]  # oldest case first
    assert tasks[0].case.outcome is not None and tasks[0].case.outcome.sanction == "verlaging"
    assert tasks[0].column_name == COLUMN

    _, staff = store.create_token(name="Handhaver B", role="handhaving")
    store.record_reexamination_result(
        reexamination_id=tasks[0].id,
        result="revised",
        note="zonder de kolom geen grond",
        hoor_en_wederhoor=True,
        token=staff,
    )
    store.record_reexamination_result(
        reexamination_id=tasks[1].id,
        result="withdrawn",
        note="ingetrokken",
        hoor_en_wederhoor=False,
        token=staff,
    )
    result = store.record_reexamination_result(
        reexamination_id=tasks[2].id,
        result="upheld",
        note="eigen bewijs",
        hoor_en_wederhoor=True,
        token=staff,
    )
    assert (result.decided_by_token_id, result.decided_by) == (staff.id, "Handhaver B")
    # A later result for the same task supersedes the earlier one.
    store.record_reexamination_result(
        reexamination_id=tasks[2].id,
        result="revised",
        note="toch herzien",
        hoor_en_wederhoor=True,
        token=staff,
    )

    (progress,) = store.reexamination_progress([ruling])
    log_cases = direct(
        store, "SELECT count(*) FROM decision_log WHERE scan = :s AND model_version = '1'", s=SCAN
    )
    open_log = direct(
        store,
        "SELECT count(*) FROM decision_log d WHERE d.model_version = '1' AND (d.signal OR d.control) "
        "AND NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.request_id = d.request_id)",
    )
    closed_log = direct(
        store,
        "SELECT count(DISTINCT d.id) FROM decision_log d JOIN outcomes o ON o.request_id = d.request_id "
        "WHERE d.model_version = '1'",
    )
    assert (
        (progress.affected, progress.halted, progress.tasks)
        == (log_cases, open_log, closed_log)
        == (12, 3, 5)
    )
    assert (progress.done, progress.open, progress.revised, progress.withdrawn, progress.upheld) == (
        3,
        2,
        2,
        1,
        0,
    )
    assert progress.oldest_open is not None and progress.oldest_open.request_id == cases["closed"][3]
    assert [t.case.request_id for t in store.reexamination_tasks([ruling])] == cases["closed"][3:]


def test_bad_results_are_refused_naming_the_field_and_nothing_is_recorded(
    stores: tuple[GovernanceStore, ServingStore],
) -> None:
    governance, store = stores
    world(store)
    _, admin = store.create_token(name="Beheerder", role="admin")
    ruling = rule(governance, admin)
    store.record_blocked(ruling.id, SCAN, "1", False)
    store.open_reexaminations(ruling.id)
    task = store.reexamination_tasks([ruling])[0]
    halted_id = direct(store, "SELECT min(id) FROM reexaminations WHERE kind = 'halted'")
    good: dict[str, Any] = {
        "reexamination_id": task.id,
        "result": "upheld",
        "note": "n",
        "hoor_en_wederhoor": True,
    }
    for change, refusal, words in (
        ({"hoor_en_wederhoor": False}, InvalidInput, "hoor_en_wederhoor is False with result 'upheld'"),
        ({"hoor_en_wederhoor": "yes"}, InvalidInput, "hoor_en_wederhoor"),
        ({"result": "kept"}, InvalidInput, "result must be one of"),
        ({"note": "  "}, InvalidInput, "note must be non-empty"),
        ({"reexamination_id": "1"}, InvalidInput, "reexamination_id must be an integer"),
        ({"reexamination_id": 10_000}, NotFound, "names no re-examination"),
        ({"reexamination_id": halted_id}, Conflict, "halted investigation, not a task"),
    ):
        with pytest.raises(refusal, match=words):
            store.record_reexamination_result(**{**good, **change}, token=admin)
    assert direct(store, "SELECT count(*) FROM reexamination_results") == 0


def test_rulings_are_refused_for_unknown_forbidden_or_already_ruled_columns_and_without_a_reason(
    stores: tuple[GovernanceStore, ServingStore],
) -> None:
    governance, store = stores
    _, committee = store.create_token(name="Commissielid", role="committee")
    for column, reason, refusal, words in (
        ("ip_adres", "r", NotFound, "'ip_adres' is not in the feature register"),
        ("inlog_buitenland", "r", Conflict, "'inlog_buitenland' is already forbidden in the register"),
        (COLUMN, "  ", InvalidInput, "reason must be non-empty text"),
    ):
        with pytest.raises(refusal, match=words):
            rule(governance, committee, column, reason)
    assert governance.rulings() == []
    first = rule(governance, committee)
    with pytest.raises(Conflict, match=f"already ruled unlawful \\(ruling {first.id} of"):
        rule(governance, committee)
    assert governance.rulings() == [first]


def test_rulings_and_reexaminations_are_append_only_and_the_downgrade_keeps_them(
    stores: tuple[GovernanceStore, ServingStore], database_url: str
) -> None:
    governance, store = stores
    world(store)
    _, committee = store.create_token(name="Commissielid", role="committee")
    ruling = rule(governance, committee)
    store.record_blocked(ruling.id, SCAN, "1", True)
    store.open_reexaminations(ruling.id)
    store.mark_cascade_complete(ruling.id)
    store.mark_cascade_complete(ruling.id)  # once only
    assert store.cascade_complete(ruling.id)
    for sql in (
        "UPDATE unlawful_rulings SET reason = 'x'",
        "DELETE FROM reexaminations",
        "UPDATE ruling_blocked_versions SET was_champion = false",
        "DELETE FROM ruling_cascades",
    ):
        with pytest.raises(Exception, match="append-only"), store.engine.begin() as connection:
            connection.execute(text(sql))
    # Revision 0008 stands above 0007 and refuses first: the world's log rows are sealed under recipe 2.
    with pytest.raises(RuntimeError, match="refusing to downgrade below 0008_hash_recipe_v2"):
        db.downgrade(database_url, "0003_row_hash_not_unique")
    assert current_revision(database_url) == head_revision()


def test_the_downgrade_below_0007_refuses_to_drop_a_ruling(
    stores: tuple[GovernanceStore, ServingStore], database_url: str
) -> None:
    """With no sealed log row to stop revision 0008 first, 0007 itself refuses to drop a recorded ruling."""
    governance, store = stores
    _, committee = store.create_token(name="Commissielid", role="committee")
    rule(governance, committee)
    with pytest.raises(RuntimeError, match="refusing to downgrade below 0007_unlawful_rulings"):
        db.downgrade(database_url, "0003_row_hash_not_unique")
    assert current_revision(database_url) == head_revision()


def test_the_command_line_rules_only_under_a_committee_or_admin_token(
    riskscan_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RISKSCAN_TOKEN", raising=False)
    rule_args = ["register", "rule-unlawful", "--column", COLUMN, "--reason", "IP via cookies"]
    with pytest.raises(Unauthenticated, match="pass --token or set RISKSCAN_TOKEN"):
        invoke(rule_args)
    with ServingStore() as store:
        staff, _ = store.create_token(name="Handhaver", role="handhaving")
        committee, _ = store.create_token(name="Commissielid", role="committee")
    with pytest.raises(Forbidden, match="role 'handhaving' may not rule"):
        invoke([*rule_args, "--token", staff])
    monkeypatch.setenv("RISKSCAN_TOKEN", committee)
    with pytest.raises(NotFound, match="'ip_adres' is not in the feature register"):
        invoke(["register", "rule-unlawful", "--column", "ip_adres", "--reason", "r"])
    outcome = invoke(rule_args)  # no model is registered: nothing to block, withdraw or re-examine
    assert outcome.lines[0].startswith(f"recorded ruling 1: column '{COLUMN}' is unlawful from")
    assert "(by Commissielid, token 2)" in outcome.lines[0]
    assert outcome.payload["ruling"]["ruled_by"] == "Commissielid"
    with pytest.raises(Conflict, match="its cascade is complete"):
        invoke(rule_args)
    status = invoke(["reexamination", "status"])
    assert status.lines[:2] == [
        "1 ruling(s)",
        f"ruling 1 ({outcome.payload['ruling']['created_at'][:10]}): column '{COLUMN}'",
    ]
    assert "cases affected 0; investigations halted 0" in status.lines[3]
