"""Four eyes in the governance database: signatures and obligations, on SQLite and on real PostgreSQL.

The rules that matter are checked against the database too (raw SQL), because the rows are evidence: a
second signature by the same token, a signature on another audit, an edited obligation are refused by the
database, not only by the store.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from models.governance import GovernanceStore, Obligation
from riskscan import db
from riskscan.db import current_revision
from riskscan.errors import Conflict, InvalidInput, NotFound
from tests.models.test_governance import AUDIT, OTHER_AUDIT, Clock, decide, execute, member

OBLIGATION = Obligation(
    "random control sample: false_positive_rate ratio, nationaliteit = Turks",
    "Her-audit wanneer 400 controle-uitkomsten zijn verzameld, uiterlijk op 2026-09-01",
    400,
    date(2026, 9, 1),
)


@pytest.fixture
def store(database_url: str) -> Any:
    with GovernanceStore(database_url, clock=Clock()) as opened:
        yield opened


def conditional(store: GovernanceStore, **overrides: Any) -> Any:
    return decide(
        store,
        decision="approve-with-conditions",
        conditions=[OBLIGATION.text_nl],
        obligations=[OBLIGATION],
        valid_until=date(2026, 12, 1),
        **overrides,
    )


def test_a_decision_is_signed_by_its_recorder_and_cosigned_by_another_token(store: GovernanceStore) -> None:
    first, second = member(store, "A. de Vries"), member(store, "B. Bakker")
    decision = conditional(store, signer=first)
    [signature] = store.signatures(decision.id)
    assert (signature.token_id, signature.signer_name, signature.audit_sha256) == (
        first.token_id,
        first.name,
        AUDIT,
    )
    assert decision.decided_by == (f"A. de Vries (token {first.token_id})",)

    cosigned = store.record_signature(decision.id, second)
    assert [s.token_id for s in store.signatures(decision.id)] == [first.token_id, second.token_id]
    assert cosigned.created_at.tzinfo is UTC

    [obligation] = store.obligations(decision.id)
    assert obligation.obligation() == OBLIGATION
    assert obligation.as_dict()["check"] == OBLIGATION.check


def test_a_second_signature_by_the_same_token_is_refused(store: GovernanceStore) -> None:
    signer = member(store)
    decision = decide(store, signer=signer)
    with pytest.raises(Conflict, match=f"token {signer.token_id} .* signed decision {decision.id} already"):
        store.record_signature(decision.id, signer)
    # A second token with the same name is another identity: names are not identities, tokens are.
    store.record_signature(decision.id, member(store, signer.name))
    assert len(store.signatures(decision.id)) == 2


def test_cosigning_a_superseded_or_missing_decision_is_refused(store: GovernanceStore) -> None:
    old = decide(store)
    new = decide(store, decision="reject", rationale="Re-considered.")
    with pytest.raises(Conflict, match=f"decision {old.id} is superseded by decision {new.id}"):
        store.record_signature(old.id, member(store, "B"))
    with pytest.raises(NotFound, match="decision_id 999 does not exist"):
        store.record_signature(999, member(store, "B"))
    with pytest.raises(InvalidInput, match="decision_id must be an integer, got '1'"):
        store.record_signature("1", member(store, "B"))  # type: ignore[arg-type]
    assert len(store.signatures(old.id)) == 1


def test_the_database_refuses_a_duplicate_or_foreign_signature(store: GovernanceStore) -> None:
    signer = member(store)
    decision = decide(store, signer=signer)
    insert = (
        "INSERT INTO decision_signatures (decision_id, scan, model_version, audit_sha256, token_id, "
        "signer_name, created_at) VALUES (:decision_id, 'vw', '3', :audit, :token_id, 'X', :at)"
    )
    at = datetime(2026, 3, 2, tzinfo=UTC)
    with pytest.raises(IntegrityError, match="once_per_token|UNIQUE"):
        execute(store, insert, decision_id=decision.id, audit=AUDIT, token_id=signer.token_id, at=at)
    with pytest.raises(IntegrityError, match="decision_same_audit|FOREIGN KEY"):
        execute(
            store, insert, decision_id=decision.id, audit=OTHER_AUDIT, token_id=member(store).token_id, at=at
        )
    with pytest.raises(IntegrityError, match="token_id|FOREIGN KEY"):
        execute(store, insert, decision_id=decision.id, audit=AUDIT, token_id=9999, at=at)
    assert len(store.signatures(decision.id)) == 1


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE decision_signatures SET signer_name = 'someone else'",
        "DELETE FROM decision_signatures",
        "UPDATE decision_obligations SET due = '2030-01-01'",
        "DELETE FROM decision_obligations",
    ],
)
def test_signatures_and_obligations_are_append_only(store: GovernanceStore, sql: str) -> None:
    decision = conditional(store)
    with pytest.raises(IntegrityError, match="append-only"):
        execute(store, sql)
    assert len(store.signatures(decision.id)) == 1 and len(store.obligations(decision.id)) == 1


def test_migration_0006_goes_down_only_when_told_the_evidence_may_go(database_url: str) -> None:
    with GovernanceStore(database_url, clock=Clock()) as store:
        conditional(store)
    assert current_revision(database_url) == db.head_revision()
    with pytest.raises(RuntimeError, match="decision_obligations, decision_signatures hold records"):
        db.downgrade(database_url, "0003_row_hash_not_unique")
    assert current_revision(database_url) == db.head_revision()


def test_obligation_reviews_append_and_the_latest_per_obligation_is_read(store: GovernanceStore) -> None:
    decision = conditional(store)
    [obligation] = store.obligations(decision.id)
    assert store.latest_reviews(decision.id) == {}
    store.record_obligation_review(
        obligation_id=obligation.id,
        state="open",
        cases=12,
        ratio=(0.4, 2.5),
        detail="12 cases",
        as_of=date(2026, 4, 1),
    )
    later = store.record_obligation_review(
        obligation_id=obligation.id,
        state="pass",
        cases=900,
        ratio=(0.9, 1.1),
        detail="in band",
        as_of=date(2026, 6, 1),
    )
    assert store.latest_reviews(decision.id) == {obligation.id: later}
    assert (later.ratio_low, later.ratio_high, later.as_of) == (0.9, 1.1, date(2026, 6, 1))
    with pytest.raises(InvalidInput, match="state must be one of .* got 'maybe'"):
        store.record_obligation_review(
            obligation_id=obligation.id,
            state="maybe",
            cases=1,
            ratio=None,
            detail="x",
            as_of=date(2026, 6, 1),
        )
    with pytest.raises(NotFound, match="obligation_id 999 does not exist"):
        store.record_obligation_review(
            obligation_id=999, state="open", cases=1, ratio=None, detail="x", as_of=date(2026, 6, 1)
        )
    with pytest.raises(IntegrityError, match="append-only"):
        execute(store, "UPDATE obligation_reviews SET state = 'pass'")
