"""The governance records as the rest of the code sees them: plain, frozen, JSON-ready.

Each is a :class:`riskscan.db.Record`, so its dict form and its reading from a table row come from its
fields. A record names the model version ``version``; the tables call the column ``model_version``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Final

from riskscan.db import Record

DECISIONS: Final = ("approve", "reject", "approve-with-conditions")
APPROVALS: Final = frozenset({"approve", "approve-with-conditions"})

#: The assessment checklist the committee answers for every decision, rejections included: a rejection
#: needs its reasons on record as much as an approval does.
CHECKLIST_KEYS: Final = (
    "purpose_legal_basis",
    "necessity_proportionality",
    "data_source_lawfulness",
    "fairness_results_reviewed",
    "human_oversight_hoor_en_wederhoor",
    "transparency_register_entry",
    "rereview_date",
)

_VERSION: Final = {"column": "model_version"}


def _answers(checklist: Mapping[str, str]) -> Mapping[str, str]:
    """The checklist in the order of CHECKLIST_KEYS (PostgreSQL's jsonb keeps its own key order)."""
    return MappingProxyType({key: checklist[key] for key in CHECKLIST_KEYS if key in checklist})


@dataclass(frozen=True)
class DecisionRecord(Record):
    """One decision of the ethics committee about one model version of one scan."""

    id: int
    scan: str
    version: str = field(metadata=_VERSION)
    audit_sha256: str
    decision: str
    decided_by: tuple[str, ...]
    rationale: str
    conditions: tuple[str, ...]
    valid_until: date | None
    checklist: Mapping[str, str] = field(metadata={"read": _answers})
    demo: bool
    created_at: datetime
    supersedes_id: int | None

    @property
    def approves(self) -> bool:
        """True for ``approve`` and ``approve-with-conditions``."""
        return self.decision in APPROVALS


@dataclass(frozen=True)
class PromotionRecord(Record):
    """A model version made champion, citing the committee decision that allowed it."""

    id: int
    scan: str
    version: str = field(metadata=_VERSION)
    previous_version: str | None
    decision_id: int
    audit_sha256: str
    promoted_by: str
    created_at: datetime


@dataclass(frozen=True)
class WithdrawalRecord(Record):
    """A scan taken out of service; ``version`` is the champion at the time, if there was one."""

    id: int
    scan: str
    version: str | None = field(metadata=_VERSION)
    reason: str
    withdrawn_by: str
    created_at: datetime


@dataclass(frozen=True)
class Signatory:
    """Who signs a decision: an authenticated API token, resolved by the caller (the pages, the command
    line), never a typed name. ``models`` does not import ``serving``, so the identity arrives as this."""

    token_id: int
    name: str
    role: str

    def __str__(self) -> str:
        return f"{self.name} (token {self.token_id})"


@dataclass(frozen=True)
class Obligation:
    """A monitoring obligation an approval with conditions takes on for one undecided audit check.

    The shape of one item of ``proposed_obligations`` in ``audit.json``: the check's id, the Dutch text,
    the control outcomes needed for a verdict (None when the audit could not compute it) and the due date.
    """

    check: str
    text_nl: str
    cases_needed: int | None
    due: date

    def as_dict(self) -> dict[str, str | int | None]:
        return {
            "check": self.check,
            "text_nl": self.text_nl,
            "cases_needed": self.cases_needed,
            "due": self.due.isoformat(),
        }


@dataclass(frozen=True)
class SignatureRecord(Record):
    """One committee member's signature on a decision, on the audit hash the decision was given on."""

    id: int
    decision_id: int
    audit_sha256: str
    token_id: int
    signer_name: str
    created_at: datetime


@dataclass(frozen=True)
class ObligationRecord(Record):
    """A recorded monitoring obligation of a decision (see :class:`Obligation`)."""

    id: int
    decision_id: int
    check: str = field(metadata={"column": "check_id"})
    text_nl: str
    cases_needed: int | None
    due: date
    created_at: datetime

    def obligation(self) -> Obligation:
        return Obligation(self.check, self.text_nl, self.cases_needed, self.due)


@dataclass(frozen=True)
class ObligationReviewRecord(Record):
    """One follow-up of an obligation: ``state`` is ``pass``, ``fail``, ``open`` (undecided, not yet due),
    ``overdue`` (undecided past its due date) or ``not_followed`` (the check cannot be re-computed on live
    outcomes; the committee re-audits it by hand)."""

    id: int
    obligation_id: int
    state: str
    cases: int
    ratio_low: float | None
    ratio_high: float | None
    detail: str
    as_of: date
    created_at: datetime
