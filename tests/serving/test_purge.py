"""``log purge``: the personal values of old decision-log rows are erased, from the database file too, and
the chain still verifies and still finds an edit of any field that was kept.

On SQLite and the machine's real PostgreSQL (tests/conftest.py).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from models.governance import CHECKLIST_KEYS, GovernanceStore, Obligation
from models.specs import load_spec, scan_ids
from riskscan import anchors
from riskscan.cli import main
from riskscan.errors import InvalidParameter
from riskscan.exit_codes import ExitCode
from serving.evidence import EVIDENCE_CHAINS
from serving.log import LogEntry
from serving.signing import signatory
from serving.store import ServingStore
from tests.serving.recipe_1 import write_recipe_1_rows

SCORED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PURGED = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)  # more than three years (1096 days) after SCORED
BEFORE = datetime(2026, 6, 1, tzinfo=UTC)
#: Values nobody else has, planted in the rows a purge must erase and in a row it must keep.
ERASED_MARK = "ZEER-HERKENBAAR-4711"
KEPT_MARK = "NOG-BEWAARD-0815"


class Clock:
    """A clock the test sets: each reading is one second after the last, from wherever it was set."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def entry(case_id: str, mark: str = "bouw", **overrides: Any) -> LogEntry:
    fields: dict[str, Any] = {
        "case_id": case_id,
        "scan": "vw",
        "model_name": "riskscan-vw",
        "model_version": "3",
        "inputs": {"sector": mark, "dagloon": 123.45},
        "score": 0.42,
        "threshold": 0.7,
        "signal": False,
        "control": False,
        "control_draw": 0.5,
        "margin_scale": "log-odds",
        "explanation": [{"feature": "sector", "label": "Sector", "value": mark, "contribution": 0.3}],
        "base_value": -1.5,
    }
    return LogEntry(**{**fields, **overrides})


def specs() -> list[Any]:
    return [load_spec(scan) for scan in scan_ids()]


def fill(url: str, clock: Clock) -> dict[str, str]:
    """Two recipe-1 rows from before revision 0008; then, in March 2026, a closed case, a case with an
    outcome, an open investigation (a signal without an outcome) and a sollicitatie period; and in 2029 a
    row still inside its retention period. Returns request ids by name."""
    write_recipe_1_rows(url, [entry("old-1"), entry("old-2")])
    with ServingStore(url, clock=clock) as store:
        rows = store.append_scores(
            [
                entry("closed", ERASED_MARK),
                entry("decided", ERASED_MARK, signal=True),
                entry("open", signal=True),
                entry("period-1", ERASED_MARK, scan="sollicitatie"),
            ]
        )
        store.record_outcome(
            recorded_by=store.create_token(name="E. Visser", role="handhaving")[1],
            request_id=rows[1].request_id,
            violation=False,
            sanction=None,
            hoor_en_wederhoor=True,
        )
        clock.now = datetime(2029, 6, 1, tzinfo=UTC)
        young = store.append_score(entry("young", KEPT_MARK))
    clock.now = PURGED
    return {"closed": rows[0].request_id, "open": rows[2].request_id, "young": young.request_id}


def test_a_purge_erases_old_values_keeps_the_rest_and_the_chain_verifies(database_url: str) -> None:
    clock = Clock(SCORED)
    ids = fill(database_url, clock)
    with ServingStore(database_url, clock=clock) as store:
        report = store.purge(BEFORE, specs())
        assert report.erased == {"vw": 2, "sollicitatie": 1}
        assert report.kept == {
            "hash recipe 1": 2,
            "open investigation": 1,
            "open re-examination": 0,
            "open obligation": 0,
        }
        closed = store.get_score(ids["closed"])
        assert closed is not None
        assert (dict(closed.inputs), closed.explanation, closed.personal_salt) == ({}, (), None)
        assert closed.erased_at is not None and closed.erased_at > SCORED
        assert (closed.score, closed.signal, closed.model_version, len(str(closed.personal_sha256))) == (
            0.42,
            False,
            "3",
            64,
        )
        for kept in ("open", "young"):
            row = store.get_score(ids[kept])
            assert row is not None and row.erased_at is None and row.inputs["dagloon"] == 123.45
        chain = store.verify_chain(batch_size=3)
        assert chain.ok, chain.problem
        assert (chain.rows_checked, chain.facts["erased_rows"]) == (7, 3)
        again = store.purge(BEFORE, specs())  # nothing left to erase; what was erased stays erased
        assert again.total_erased == 0 and store.verify_chain().facts["erased_rows"] == 3


def test_after_a_purge_an_edit_of_a_kept_field_is_still_found(database_url: str) -> None:
    clock = Clock(SCORED)
    fill(database_url, clock)
    with ServingStore(database_url, clock=clock) as store:
        store.purge(BEFORE, specs())
        drop = (
            ["DROP TRIGGER decision_log_append_only ON decision_log"]
            if database_url.startswith("postgresql")
            else ["DROP TRIGGER decision_log_no_update"]
        )
        with store.engine.begin() as connection:
            for statement in drop:
                connection.execute(text(statement))
            connection.execute(text("UPDATE decision_log SET signal = true WHERE case_id = 'closed'"))
        report = store.verify_chain()
        assert (report.ok, report.first_broken_id) == (False, 3)
        assert str(report.problem).startswith("hash mismatch")
        with store.engine.begin() as connection:
            connection.execute(text("UPDATE decision_log SET signal = false WHERE case_id = 'closed'"))
            connection.execute(
                text("UPDATE decision_log SET personal_sha256 = :zero WHERE id = 4"), {"zero": "0" * 64}
            )
        report = store.verify_chain()
        assert (report.ok, report.first_broken_id) == (
            False,
            4,
        )  # the seal of an erased row is kept, and hashed


@pytest.mark.parametrize(
    ("before", "message"),
    [
        (PURGED + timedelta(days=1), "is in the future"),
        (PURGED - timedelta(days=1000), "is inside the retention period of scan vw \\(1096 days\\)"),
    ],
)
def test_a_cut_in_the_future_or_inside_a_retention_period_is_refused_and_erases_nothing(
    database_url: str, before: datetime, message: str
) -> None:
    clock = Clock(SCORED)
    fill(database_url, clock)
    with ServingStore(database_url, clock=clock) as store:
        with pytest.raises(InvalidParameter, match=message):
            store.purge(before, specs())
        with store.engine.connect() as connection:
            assert (
                connection.scalar(text("SELECT count(*) FROM decision_log WHERE erased_at IS NOT NULL")) == 0
            )


def test_the_sqlite_file_no_longer_holds_an_erased_value(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'governance.db'}"
    clock = Clock(SCORED)
    fill(url, clock)
    files = [tmp_path / "governance.db", tmp_path / "governance.db-wal"]

    def on_disk(mark: str) -> bool:
        return any(mark.encode() in path.read_bytes() for path in files if path.exists())

    with ServingStore(url, clock=clock) as store:
        assert on_disk(ERASED_MARK) and on_disk(KEPT_MARK)
        store.purge(BEFORE, specs())
        assert not on_disk(ERASED_MARK)
        assert on_disk(KEPT_MARK)  # the young row is still there, so the search does find what is there


def test_the_command_purges_and_reports_the_chain(
    riskscan_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{riskscan_home / 'governance.db'}"
    clock = Clock(SCORED)
    fill(url, clock)
    monkeypatch.setattr("riskscan.db.utcnow", lambda: PURGED)
    out = tmp_path / "purge.json"
    assert main(["log", "purge", "--before", "2026-06-01", "--json", str(out)]) == ExitCode.SUCCESS
    printed = capsys.readouterr().out
    assert "of 3 row(s) scored before 2026-06-01" in printed
    assert "kept whole: 2 hash recipe 1, 1 open investigation, 0 open re-examination" in printed
    assert "decision log intact: 7 row(s) verified, 3 of them erased" in printed
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert payload["purge"]["erased"] == {"vw": 2, "sollicitatie": 1} and payload["chain"]["ok"]
    # The verified heads are anchored once per scan whose rows were erased, and `log verify` checks them.
    purge_anchors = [a for a in anchors.read(anchors.default_directory()) if a.source == "purge"]
    logged = {(a.table, a.rows) for a in purge_anchors if a.table == "decision_log"}
    assert len(purge_anchors) == 2 * len(EVIDENCE_CHAINS) and logged == {("decision_log", 7)}
    verified = tmp_path / "verify.json"
    assert main(["log", "verify", "--json", str(verified)]) == ExitCode.SUCCESS
    assert "decision_log: 7 row(s), head row 7" in capsys.readouterr().out
    report = json.loads(verified.read_text(encoding="utf-8"))
    assert report["chains"][0]["facts"] == {"erased_rows": 3, "recipe_2_from": 3}
    assert report["anchors"]["read"] == len(purge_anchors)
    assert main(["log", "purge", "--before", "2029-01-01"]) == ExitCode.REFUSED
    assert "inside the retention period of scan vw" in capsys.readouterr().err


def erased(store: ServingStore, request_id: str) -> bool:
    row = store.get_score(request_id)
    assert row is not None
    return row.erased_at is not None and dict(row.inputs) == {}


def test_a_case_under_reexamination_is_kept_until_its_result_and_a_halted_one_is_not(
    database_url: str,
) -> None:
    clock = Clock(SCORED)
    with (
        ServingStore(database_url, clock=clock) as store,
        GovernanceStore(database_url, clock=clock) as governance,
    ):
        closed, halted = store.append_scores([entry("task", signal=True), entry("halted", signal=True)])
        staff = store.create_token(name="E. Visser", role="handhaving")[1]
        store.record_outcome(
            recorded_by=staff,
            request_id=closed.request_id,
            violation=True,
            sanction="korting",
            hoor_en_wederhoor=True,
        )
        committee = store.create_token(name="commissie", role="committee")[1]
        ruling = governance.record_ruling(
            column="sector", reason="test ruling", ruled_by_token_id=committee.id, ruled_by="commissie"
        )
        store.record_blocked(ruling.id, "vw", "3", False)
        assert store.open_reexaminations(ruling.id) == {"halted": 1, "task": 1}
        clock.now = PURGED
        report = store.purge(BEFORE, specs())
        assert report.kept["open re-examination"] == 1 and report.kept["open investigation"] == 0
        # A halted investigation is closed by the ruling: kept, it would never be erased.
        assert erased(store, halted.request_id) and not erased(store, closed.request_id)
        (task,) = store.reexamination_tasks([ruling])
        store.record_reexamination_result(
            reexamination_id=task.id,
            result="withdrawn",
            note="zonder grond",
            hoor_en_wederhoor=True,
            token=staff,
        )
        assert store.purge(BEFORE, specs()).erased == {"vw": 1, "sollicitatie": 0}
        assert erased(store, closed.request_id)
        assert store.verify_chain().ok


def test_the_cases_of_a_version_with_an_undecided_obligation_are_kept_until_it_is_decided(
    database_url: str,
) -> None:
    clock = Clock(SCORED)
    with (
        ServingStore(database_url, clock=clock) as store,
        GovernanceStore(database_url, clock=clock) as governance,
    ):
        bound, other = store.append_scores([entry("bound"), entry("other-version", model_version="2")])
        signers = [signatory(store.create_token(name=name, role="committee")[1]) for name in ("A", "B")]
        obligation = Obligation(
            "selectie: nationaliteit", "Her-audit van de selectieratio.", 500, date(2026, 9, 1)
        )
        decision = governance.record_decision(
            scan="vw",
            version="3",
            audit_sha256="a" * 64,
            decision="approve-with-conditions",
            signer=signers[0],
            rationale="Goedgekeurd onder voorwaarden.",
            conditions=[obligation.text_nl],
            obligations=[obligation],
            valid_until=date(2027, 3, 1),
            checklist={key: "test" for key in CHECKLIST_KEYS},
        )
        governance.record_signature(decision.id, signers[1])
        (recorded,) = governance.obligations(decision.id)

        def review(state: str) -> None:
            governance.record_obligation_review(
                obligation_id=recorded.id,
                state=state,
                cases=10,
                ratio=None,
                detail="test",
                as_of=date(2026, 9, 1),
            )

        clock.now = PURGED
        report = store.purge(BEFORE, specs())
        assert report.kept["open obligation"] == 1 and report.erased["vw"] == 1
        assert erased(store, other.request_id) and not erased(store, bound.request_id)
        review("open")  # followed up, still undecided: still kept
        assert store.purge(BEFORE, specs()).total_erased == 0
        review("pass")
        assert store.purge(BEFORE, specs()).erased["vw"] == 1 and erased(store, bound.request_id)
