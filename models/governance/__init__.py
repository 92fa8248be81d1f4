"""Governance records: committee decisions, promotions, withdrawals and rulings, append-only in the database.

This package owns the tables ``committee_decisions``, ``promotions`` and ``withdrawals`` (``_tables``),
``unlawful_rulings`` (``_rulings``), the records the rest of the code reads (``_records``) and
:class:`GovernanceStore`, which appends and reads them (``_store``). It imports only the platform
(:mod:`riskscan`) and the register (:mod:`features.register`, to check a ruling); the promotion gate
(:mod:`models.gate`), the serving side and the command line build on it.
"""

from models.governance._records import (
    APPROVALS,
    CHECKLIST_KEYS,
    DECISIONS,
    DecisionRecord,
    PromotionRecord,
    WithdrawalRecord,
)
from models.governance._rulings import RulingRecord
from models.governance._store import GovernanceStore
from models.governance._tables import CHAINS, TABLES, CommitteeDecision, Promotion, Withdrawal

__all__ = [
    "APPROVALS",
    "CHAINS",
    "CHECKLIST_KEYS",
    "DECISIONS",
    "TABLES",
    "CommitteeDecision",
    "DecisionRecord",
    "GovernanceStore",
    "Promotion",
    "PromotionRecord",
    "RulingRecord",
    "Withdrawal",
    "WithdrawalRecord",
]
