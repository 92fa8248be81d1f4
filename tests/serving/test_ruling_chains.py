"""The evidence of rulings, re-examinations and committee signatures is hash-chained, on SQLite and PostgreSQL.

With the append-only triggers dropped (what only a table's owner can do), a ruling, a re-examination
result or a decision signature that is changed or removed must still show in ``riskscan log verify``, by
table and row. The cascade's bulk opening of re-examinations must chain every row it adds, in id order.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from models.governance import GovernanceStore, Obligation
from riskscan.chain import GENESIS_HASH
from riskscan.cli import ExitCode, main
from serving.evidence import EVIDENCE_CHAINS, chain_named, verify_all
from serving.rulings import REEXAMINATION_CHAIN
from serving.store import ServingStore
from tests.models.test_governance import AUDIT, CHECKLIST, member
from tests.serving.store_helpers import execute
from tests.serving.test_evidence import drop_triggers
from tests.serving.test_reexamination import SCAN, Clock, entry, rule, world

#: The tables revisions 0006 and 0007 created, each with its own chain.
NEW_CHAINS = (
    "unlawful_rulings",
    "ruling_blocked_versions",
    "reexaminations",
    "reexamination_results",
    "ruling_cascades",
    "decision_signatures",
    "decision_obligations",
    "obligation_reviews",
)
OBLIGATION = Obligation("controle: fpr-ratio", "Her-audit na 400 controle-uitkomsten.", 400, date(2026, 9, 1))


@pytest.fixture
def stores(database_url: str) -> Iterator[tuple[GovernanceStore, ServingStore]]:
    clock = Clock()
    with (
        GovernanceStore(database_url, clock=clock) as governance,
        ServingStore(database_url, clock=clock) as store,
    ):
        yield governance, store


def evidence(governance: GovernanceStore, store: ServingStore) -> None:
    """Rows in each of the eight tables (two or more, but one cascade), through the stores' writing paths."""
    cases = world(store)
    _, committee = store.create_token(name="Commissielid A", role="committee")
    _, staff = store.create_token(name="E. Visser", role="handhaving")
    # The first ruling's cascade has not run, so that removing the ruling leaves no row citing it.
    rule(governance, committee, column="weken_ww")
    second = rule(governance, committee)
    store.record_blocked(second.id, SCAN, "1", True)
    store.record_blocked(second.id, SCAN, "2", False)
    store.open_reexaminations(second.id)
    store.mark_cascade_complete(second.id)
    tasks = store.reexamination_tasks([second])
    for task, result in zip(tasks[:2], ("revised", "withdrawn"), strict=True):
        store.record_reexamination_result(
            reexamination_id=task.id,
            result=result,
            note="Herzien zonder de onrechtmatige kolom.",
            hoor_en_wederhoor=False,
            token=staff,
        )
    assert len(cases["closed"]) == len(tasks)
    signer = member(governance, "A. de Vries")
    second_obligation = Obligation("controle: fnr-ratio", "Her-audit fnr.", None, date(2026, 10, 1))
    decision = governance.record_decision(
        scan="vw",
        version="3",
        audit_sha256=AUDIT,
        decision="approve-with-conditions",
        signer=signer,
        rationale="Goedgekeurd onder voorwaarden.",
        conditions=[OBLIGATION.text_nl, second_obligation.text_nl],
        obligations=[OBLIGATION, second_obligation],
        valid_until=date(2026, 12, 1),
        checklist=CHECKLIST,
    )
    governance.record_signature(decision.id, member(governance, "B. Bakker"))
    for obligation in governance.obligations(decision.id):
        governance.record_obligation_review(
            obligation_id=obligation.id,
            state="open",
            cases=12,
            ratio=(0.4, 2.5),
            detail="12 controle-uitkomsten",
            as_of=date(2026, 4, 1),
        )


def test_every_table_of_rulings_reexaminations_and_signatures_is_chained(
    stores: tuple[GovernanceStore, ServingStore],
) -> None:
    governance, store = stores
    evidence(governance, store)
    assert set(NEW_CHAINS) <= {chain.name for chain in EVIDENCE_CHAINS}
    found = {report.table: report for report in verify_all(store.engine)}
    assert all(report.ok for report in found.values()), found
    assert {table: found[table].rows_checked for table in NEW_CHAINS} == {
        "unlawful_rulings": 2,
        "ruling_blocked_versions": 2,
        "reexaminations": 11,  # version 1: 3 halted, 5 tasks; version 2: 3 halted
        "reexamination_results": 2,
        "ruling_cascades": 1,
        "decision_signatures": 2,
        "decision_obligations": 2,
        "obligation_reviews": 2,
    }
    for table in NEW_CHAINS:
        chain = chain_named(table)
        with store.engine.connect() as connection:
            first = (
                connection.execute(chain.table.select().order_by(chain.table.c.id).limit(1)).one()._mapping
            )
        assert first["prev_hash"] == GENESIS_HASH
        assert first["row_hash"] == chain.row_hash(GENESIS_HASH, first)


@pytest.mark.parametrize(
    ("change", "row", "problem"),
    [
        ("UPDATE unlawful_rulings SET reason = 'Toch rechtmatig.' WHERE id = 1", 1, "hash mismatch"),
        ("DELETE FROM unlawful_rulings WHERE id = 1", 2, "link broken"),
        (
            "UPDATE reexamination_results SET result = 'upheld', hoor_en_wederhoor = true WHERE id = 2",
            2,
            "hash",
        ),
        ("DELETE FROM reexamination_results WHERE id = 1", 2, "link broken"),
        ("UPDATE decision_signatures SET signer_name = 'C. Anders' WHERE id = 2", 2, "hash mismatch"),
        ("DELETE FROM decision_signatures WHERE id = 1", 2, "link broken"),
    ],
)
def test_log_verify_names_the_table_and_row_of_a_changed_or_removed_ruling_result_or_signature(
    database_url: str,
    riskscan_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: str,
    row: int,
    problem: str,
) -> None:
    monkeypatch.setenv("RISKSCAN_DATABASE_URL", database_url)
    table = change.split()[2 if change.startswith("DELETE") else 1]
    clock = Clock()
    with (
        GovernanceStore(database_url, clock=clock) as governance,
        ServingStore(database_url, clock=clock) as store,
    ):
        evidence(governance, store)
        assert main(["log", "verify"]) == ExitCode.SUCCESS
        capsys.readouterr()
        drop_triggers(store, table)
        execute(store, change)
    assert main(["log", "verify"]) == ExitCode.REFUSED
    printed = capsys.readouterr().out
    assert f"{table} TAMPERED OR BROKEN at row {row}: {problem}" in printed, printed


def test_the_cascade_chains_tens_of_thousands_of_reexaminations_in_one_transaction(
    stores: tuple[GovernanceStore, ServingStore],
) -> None:
    """Opening re-examinations for a large caseload: every row chained in id order, idempotent, timed.

    ``RISKSCAN_TEST_REEXAMINATIONS`` sets the caseload (default 2,000; the figure in the README is 40,000).
    """
    governance, store = stores
    cases = int(os.environ.get("RISKSCAN_TEST_REEXAMINATIONS", "2000"))
    store.append_scores([entry(i, "1", signal=True) for i in range(cases)])
    _, committee = store.create_token(name="Commissielid A", role="committee")
    ruling = rule(governance, committee)
    store.record_blocked(ruling.id, SCAN, "1", True)
    started = time.perf_counter()
    assert store.open_reexaminations(ruling.id) == {"halted": cases, "task": 0}
    seconds = time.perf_counter() - started
    print(f"\nopened and chained {cases} re-examinations on {store.engine.dialect.name} in {seconds:.2f} s")
    assert store.open_reexaminations(ruling.id) == {"halted": 0, "task": 0}
    report = REEXAMINATION_CHAIN.verify(store.engine)
    assert (report.ok, report.rows_checked) == (True, cases), report
