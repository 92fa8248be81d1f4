"""Governance records: committee decisions, promotions, withdrawals and rulings, append-only in the database.

This package owns the tables ``committee_decisions``, ``promotions``, ``withdrawals`` and the decisions'
signatures and obligations (``_tables``), ``unlawful_rulings`` (``_rulings``), the records the rest of the
code reads (``_records``), which audit checks an approval must follow up (``_obligations``) and
:class:`GovernanceStore`, which appends and reads them (``_store``). It imports only the platform
(:mod:`riskscan`) and the register (:mod:`features.register`, to check a ruling); the promotion gate
(:mod:`models.gate`), the serving side and the command line build on it.
"""

from models.governance._obligations import (
    MAX_VALID_MONTHS,
    check_id,
    failed_checks,
    months_ahead,
    obligation_from_dict,
    proposed_obligations,
    undecided_checks,
)
from models.governance._records import (
    APPROVALS,
    CHECKLIST_KEYS,
    DECISIONS,
    DecisionRecord,
    Obligation,
    ObligationRecord,
    ObligationReviewRecord,
    PromotionRecord,
    Signatory,
    SignatureRecord,
    WithdrawalRecord,
)
from models.governance._rulings import RulingRecord
from models.governance._store import GovernanceStore
from models.governance._tables import (
    CHAINS,
    TABLES,
    CommitteeDecision,
    DecisionObligation,
    ObligationReview,
    Promotion,
    Withdrawal,
)

__all__ = [
    "APPROVALS",
    "CHAINS",
    "CHECKLIST_KEYS",
    "DECISIONS",
    "MAX_VALID_MONTHS",
    "TABLES",
    "CommitteeDecision",
    "DecisionObligation",
    "DecisionRecord",
    "GovernanceStore",
    "Obligation",
    "ObligationRecord",
    "ObligationReview",
    "ObligationReviewRecord",
    "Promotion",
    "PromotionRecord",
    "RulingRecord",
    "Signatory",
    "SignatureRecord",
    "Withdrawal",
    "WithdrawalRecord",
    "check_id",
    "failed_checks",
    "months_ahead",
    "obligation_from_dict",
    "proposed_obligations",
    "undecided_checks",
]
