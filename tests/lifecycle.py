"""A scan taken through the life cycle by the real code: trained, audited, approved, promoted.

The committee decisions made here are test decisions on test data, through the same gate as real ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from ethics_review.audit import audit_version
from features.sources import read_source
from models.gate import approve_as_proposed, promote
from models.governance import (
    CHECKLIST_KEYS,
    DecisionRecord,
    GovernanceStore,
    Signatory,
)
from models.specs import load_spec
from serving.signing import signatory
from serving.store import ServingStore
from training.train import train_scan

CHECKLIST = {key: f"test answer: {key}" for key in CHECKLIST_KEYS}
CONTROL_KEY = "test-control-key"


@contextmanager
def home_environment(path: Path) -> Iterator[None]:
    """RISKSCAN_HOME at ``path``, MLflow and the governance store defaulting inside it, a fixed control key
    (so the random control draws are the same in every run), for a session- or module-wide home."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RISKSCAN_HOME", str(path))
        mp.setenv("RISKSCAN_CONTROL_KEY", CONTROL_KEY)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("RISKSCAN_DATABASE_URL", raising=False)
        yield


def committee_members(url: str | None = None) -> tuple[Signatory, Signatory]:
    """Two new committee tokens in the home's database (or ``url``), as the identities that sign."""
    store = ServingStore(url)
    try:
        return (
            signatory(store.create_token(name="test committee A", role="committee")[1]),
            signatory(store.create_token(name="test committee B", role="committee")[1]),
        )
    finally:
        store.close()


def committee_approval(
    governance: GovernanceStore, scan: str, version: str, *, today: date | None = None
) -> DecisionRecord:
    """Approve the version's current audit as the gate allows: with conditions (the audit's proposed
    obligations) when checks are undecided, valid for 12 months, signed by one test member and co-signed
    by another."""
    return approve_as_proposed(
        governance,
        scan=scan,
        version=version,
        signers=committee_members(),
        rationale="test approval of test data",
        checklist=CHECKLIST,
        today=today,
    )


def promote_new_champion(scan: str, data: Path, governance: GovernanceStore | None = None) -> str:
    """Train ``scan`` on the tables in ``data`` and make the new version champion; returns the version."""
    governance = governance or GovernanceStore()
    spec = load_spec(scan)
    version = train_scan(spec, read_source(data, spec.table), progress=lambda _: None).version
    audit_version(scan, version, data_dir=data, progress=lambda _: None)
    committee_approval(governance, scan, version)
    promote(governance, scan=scan, version=version, promoted_by="test")
    return version
