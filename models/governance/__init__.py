"""Governance records: committee decisions, promotions and withdrawals, append-only in the database.

This package owns the tables ``committee_decisions``, ``promotions`` and ``withdrawals`` (``_tables``), the
records the rest of the code reads (``_records``) and :class:`GovernanceStore`, which appends and reads
them (``_store``). It imports only the platform (:mod:`riskscan`); the promotion gate
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
    "Withdrawal",
    "WithdrawalRecord",
]
