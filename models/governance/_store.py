"""The governance store: append committee decisions, promotions and withdrawals, and read them back.

**Supersede, never edit.** A committee that changes its mind records a new decision; it points at the one
it replaces (``supersedes_id``), and the database keeps that chain linear (each decision is superseded at
most once, by a later decision about the same scan and model version). Decisions and promotions about one
scan version are serialised (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL), so two
committee members recording at once cannot both supersede the same decision.

Refusals: a value that breaks a rule is :class:`InvalidInput`, a decision that does not exist
:class:`NotFound`, and a promotion that contradicts the record (a decision about another version, another
audit, superseded, or not approving) :class:`Conflict`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, exists, func, select, text
from sqlalchemy.orm import Session, aliased, sessionmaker

from features.register import FeatureRegister, default_register
from models.governance._obligations import checked_cases_needed
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
from models.governance._rulings import (
    RULINGS,
    SELECT_RULINGS,
    RulingRecord,
    UnlawfulRuling,
    checked_ruling,
    ruling_row,
    rulings_by_column,
)
from models.governance._tables import (
    CHAINS,
    REVIEW_STATES,
    CommitteeDecision,
    DecisionObligation,
    DecisionSignature,
    ObligationReview,
    Promotion,
    Withdrawal,
)
from riskscan import home
from riskscan.db import (
    KEY_LENGTH,
    NAME_LENGTH,
    WRITE_OPTIONS,
    Base,
    Record,
    Store,
    make_engine,
    sha256_field,
    text_field,
    upgrade,
)
from riskscan.errors import Conflict, InvalidInput, NotFound

# ------------------------------------------------------------------------------------------ validation


def _text_list(field: str, value: object) -> list[str]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InvalidInput(f"{field} must be a list of texts, got {value!r}")
    items = [text_field(f"{field}[{index}]", item) for index, item in enumerate(value)]
    return items


def _signatory(value: object) -> Signatory:
    """A signer as an authenticated token's identity; the caller resolved the token."""
    if not isinstance(value, Signatory):
        raise InvalidInput(f"signer must be an authenticated token's identity (Signatory), got {value!r}")
    if isinstance(value.token_id, bool) or not isinstance(value.token_id, int):
        raise InvalidInput(f"signer.token_id must be an integer, got {value.token_id!r}")
    name = text_field("signer.name", value.name, max_length=NAME_LENGTH)
    return Signatory(value.token_id, name, text_field("signer.role", value.role))


def _obligations(value: object) -> list[Obligation]:
    """Obligations, one per check: each an :class:`Obligation` with text, a positive count or None, a date."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InvalidInput(f"obligations must be a list of obligations, got {value!r}")
    checked: list[Obligation] = []
    for index, item in enumerate(value):
        where = f"obligations[{index}]"
        if not isinstance(item, Obligation):
            raise InvalidInput(f"{where} must be an Obligation, got {item!r}")
        needed = checked_cases_needed(f"{where}.cases_needed", item.cases_needed)
        if isinstance(item.due, datetime) or not isinstance(item.due, date):
            raise InvalidInput(f"{where}.due must be a date, got {item.due!r}")
        check = text_field(f"{where}.check", item.check)
        if any(o.check == check for o in checked):
            raise InvalidInput(f"{where}.check {check!r} has an obligation already: one per check")
        checked.append(Obligation(check, text_field(f"{where}.text_nl", item.text_nl), needed, item.due))
    return checked


def _checklist(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"checklist must map each of {list(CHECKLIST_KEYS)} to an answer, got {value!r}")
    unknown = sorted(str(key) for key in value if key not in CHECKLIST_KEYS)
    if unknown:
        raise InvalidInput(f"checklist has unknown key {unknown[0]!r} (known: {list(CHECKLIST_KEYS)})")
    missing = [key for key in CHECKLIST_KEYS if key not in value]
    if missing:
        raise InvalidInput(f"checklist is missing {missing[0]!r}: every decision answers all seven items")
    return {key: text_field(f"checklist[{key!r}]", value[key]) for key in CHECKLIST_KEYS}


R = TypeVar("R", bound=Record)


def _added(session: Session, row: Base, record: type[R]) -> R:
    """Chain ``row`` (an ORM object) onto its table's head and insert it now, inside the session's
    transaction (which holds the append lock to the commit), and read it as ``record``."""
    chain = CHAINS[type(row)]
    link = chain.link(session.connection(), {name: getattr(row, name) for name in chain.fields})
    row.prev_hash, row.row_hash = link.prev_hash, link.row_hash  # type: ignore[attr-defined]
    session.add(row)
    session.flush()
    return record.from_row(row)


# ----------------------------------------------------------------------------------------------- store


class GovernanceStore(Store):
    """Read and append governance records. Opening a store migrates the database to head.

    There are no update or delete methods, and the database would refuse them anyway (see
    :mod:`models.governance._tables`). ``clock`` exists for tests that need to place records in time; it
    must return aware datetimes.
    """

    def __init__(self, url: str | None = None, *, clock: Callable[[], datetime] | None = None) -> None:
        engine = make_engine(url or home.database_url())
        upgrade(engine)
        super().__init__(engine, clock)
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(**WRITE_OPTIONS), expire_on_commit=False)

    def _read_all(self, query: Select[Any], record: type[R]) -> list[R]:
        with self._read() as session:
            return [record.from_row(row) for row in session.scalars(query)]

    def _lock_scan_version(self, session: Session, scan: str, version: str) -> None:
        """Serialise decisions and promotions about one scan version (SQLite already has BEGIN IMMEDIATE)."""
        if self._engine.dialect.name == "postgresql":
            session.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": f"riskscan.governance:{scan}:{version}"},
            )

    # ---------------------------------------------------------------------------------------- decisions

    def record_decision(
        self,
        *,
        scan: str,
        version: str,
        audit_sha256: str,
        decision: str,
        signer: Signatory,
        rationale: str,
        conditions: Sequence[str] = (),
        obligations: Sequence[Obligation] = (),
        valid_until: date | None = None,
        checklist: Mapping[str, str],
        demo: bool = False,
    ) -> DecisionRecord:
        """Append a committee decision, signed by ``signer`` in the same transaction; it supersedes the
        current decision for this scan and version. It takes effect once a second, different token
        co-signs it (:meth:`record_signature`).

        Conditions and obligations belong to ``approve-with-conditions`` only (at least one condition), so
        that an ``approve`` can never carry conditions nobody is bound to check. Which checks need an
        obligation is the promotion gate's business (it reads the audit).
        """
        scan = text_field("scan", scan, max_length=KEY_LENGTH)
        version = text_field("version", version, max_length=KEY_LENGTH)
        audit_sha256 = sha256_field("audit_sha256", audit_sha256)
        if decision not in DECISIONS:
            raise InvalidInput(f"decision must be one of {', '.join(map(repr, DECISIONS))}, got {decision!r}")
        signatory = _signatory(signer)
        obligation_list = _obligations(obligations)
        if obligation_list and decision != "approve-with-conditions":
            raise InvalidInput(
                f"obligations given with decision {decision!r}; obligations are recorded only with "
                "'approve-with-conditions'"
            )
        rationale = text_field("rationale", rationale)
        condition_list = _text_list("conditions", conditions)
        if decision == "approve-with-conditions" and not condition_list:
            raise InvalidInput(
                "conditions must list at least one condition for 'approve-with-conditions', "
                f"got {conditions!r}"
            )
        if decision != "approve-with-conditions" and condition_list:
            raise InvalidInput(
                f"conditions {condition_list!r} given with decision {decision!r}; "
                "conditions are recorded only with 'approve-with-conditions'"
            )
        if valid_until is not None and (
            isinstance(valid_until, datetime) or not isinstance(valid_until, date)
        ):
            raise InvalidInput(f"valid_until must be a date or None, got {valid_until!r}")
        answers = _checklist(checklist)
        if not isinstance(demo, bool):
            raise InvalidInput(f"demo must be True or False, got {demo!r}")

        with self._write.begin() as session:
            self._lock_scan_version(session, scan, version)
            current = self._current(session, scan, version)
            row = CommitteeDecision(
                scan=scan,
                model_version=version,
                audit_sha256=audit_sha256,
                decision=decision,
                decided_by=[str(signatory)],
                rationale=rationale,
                conditions=condition_list,
                valid_until=valid_until,
                checklist=answers,
                demo=demo,
                created_at=self._now(),
                supersedes_id=None if current is None else current.id,
            )
            record = _added(session, row, DecisionRecord)
            _added(session, self._signature_row(record, signatory, record.created_at), SignatureRecord)
            for item in obligation_list:
                obligation = DecisionObligation(
                    decision_id=record.id,
                    check_id=item.check,
                    text_nl=item.text_nl,
                    cases_needed=item.cases_needed,
                    due=item.due,
                    created_at=record.created_at,
                )
                _added(session, obligation, ObligationRecord)
            return record

    @staticmethod
    def _signature_row(decision: DecisionRecord, signer: Signatory, at: datetime) -> DecisionSignature:
        return DecisionSignature(
            decision_id=decision.id,
            scan=decision.scan,
            model_version=decision.version,
            audit_sha256=decision.audit_sha256,
            token_id=signer.token_id,
            signer_name=signer.name,
            created_at=at,
        )

    def record_signature(self, decision_id: int, signer: Signatory) -> SignatureRecord:
        """Co-sign a decision. Refused for a decision that does not exist or is superseded, and for a token
        that has signed it already (the database's unique constraint says the same)."""
        if isinstance(decision_id, bool) or not isinstance(decision_id, int):
            raise InvalidInput(f"decision_id must be an integer, got {decision_id!r}")
        signatory = _signatory(signer)
        with self._write.begin() as session:
            row = session.get(CommitteeDecision, decision_id)
            if row is None:
                raise NotFound(f"decision_id {decision_id} does not exist")
            self._lock_scan_version(session, row.scan, row.model_version)
            current = self._current(session, row.scan, row.model_version)
            if current is not None and current.id != row.id:
                raise Conflict(
                    f"decision {decision_id} is superseded by decision {current.id}; co-sign the current one"
                )
            signed = session.scalars(
                select(DecisionSignature).where(
                    DecisionSignature.decision_id == decision_id,
                    DecisionSignature.token_id == signatory.token_id,
                )
            ).first()
            if signed is not None:
                raise Conflict(
                    f"token {signatory.token_id} ({signed.signer_name}) signed decision {decision_id} "
                    "already; a second signature must come from a different committee member"
                )
            signature = self._signature_row(DecisionRecord.from_row(row), signatory, self._now())
            return _added(session, signature, SignatureRecord)

    def signatures(self, decision_id: int) -> list[SignatureRecord]:
        """The signatures on a decision, first (the member who recorded it) first."""
        query = select(DecisionSignature).where(DecisionSignature.decision_id == decision_id)
        return self._read_all(query.order_by(DecisionSignature.id), SignatureRecord)

    def obligations(self, decision_id: int) -> list[ObligationRecord]:
        """The monitoring obligations a decision took on, in the order recorded."""
        query = select(DecisionObligation).where(DecisionObligation.decision_id == decision_id)
        return self._read_all(query.order_by(DecisionObligation.id), ObligationRecord)

    def decisions(self, scan: str, version: str | None = None) -> list[DecisionRecord]:
        """All decisions about a scan (or one version of it) in the order recorded, superseded ones included.

        Recording order is the id order; the database keeps every supersession pointing to a lower id.
        """
        query = select(CommitteeDecision).where(CommitteeDecision.scan == scan)
        if version is not None:
            query = query.where(CommitteeDecision.model_version == version)
        return self._read_all(query.order_by(CommitteeDecision.id), DecisionRecord)

    @staticmethod
    def _current(session: Session, scan: str, version: str) -> CommitteeDecision | None:
        later = aliased(CommitteeDecision)
        query = select(CommitteeDecision).where(
            CommitteeDecision.scan == scan,
            CommitteeDecision.model_version == version,
            ~exists().where(later.supersedes_id == CommitteeDecision.id),
        )
        return session.scalars(query).one_or_none()

    def current_decision(self, scan: str, version: str) -> DecisionRecord | None:
        """The decision nothing supersedes (the latest), or None if the committee never decided."""
        with self._read() as session:
            row = self._current(session, scan, version)
            return None if row is None else DecisionRecord.from_row(row)

    def decision(self, decision_id: int) -> DecisionRecord | None:
        with self._read() as session:
            row = session.get(CommitteeDecision, decision_id)
            return None if row is None else DecisionRecord.from_row(row)

    def record_obligation_review(
        self,
        *,
        obligation_id: int,
        state: str,
        cases: int,
        ratio: tuple[float, float] | None,
        detail: str,
        as_of: date,
    ) -> ObligationReviewRecord:
        """Append one follow-up of an obligation (``riskscan monitor`` does, on every run)."""
        if state not in REVIEW_STATES:
            raise InvalidInput(f"state must be one of {', '.join(map(repr, REVIEW_STATES))}, got {state!r}")
        if isinstance(cases, bool) or not isinstance(cases, int) or cases < 0:
            raise InvalidInput(f"cases must be a whole number >= 0, got {cases!r}")
        detail = text_field("detail", detail)
        if isinstance(as_of, datetime) or not isinstance(as_of, date):
            raise InvalidInput(f"as_of must be a date, got {as_of!r}")
        if ratio is not None and not all(
            isinstance(end, float | int) and math.isfinite(end) for end in ratio
        ):
            raise InvalidInput(f"ratio must be two finite numbers or None, got {ratio!r}")
        with self._write.begin() as session:
            if session.get(DecisionObligation, obligation_id) is None:
                raise NotFound(f"obligation_id {obligation_id} does not exist")
            row = ObligationReview(
                obligation_id=obligation_id,
                state=state,
                cases=cases,
                ratio_low=None if ratio is None else float(ratio[0]),
                ratio_high=None if ratio is None else float(ratio[1]),
                detail=detail,
                as_of=as_of,
                created_at=self._now(),
            )
            return _added(session, row, ObligationReviewRecord)

    def latest_reviews(self, decision_id: int) -> dict[int, ObligationReviewRecord]:
        """The latest follow-up of each obligation of a decision, by obligation id."""
        query = (
            select(ObligationReview)
            .join(DecisionObligation, DecisionObligation.id == ObligationReview.obligation_id)
            .where(DecisionObligation.decision_id == decision_id)
            .order_by(ObligationReview.id)
        )
        return {review.obligation_id: review for review in self._read_all(query, ObligationReviewRecord)}

    # --------------------------------------------------------------------------------------- promotions

    def record_promotion(
        self,
        *,
        scan: str,
        version: str,
        previous_version: str | None,
        decision_id: int,
        audit_sha256: str,
        promoted_by: str,
    ) -> PromotionRecord:
        """Append a promotion. It must cite the *current* decision about this very scan, version and audit,
        and that decision must approve.

        The rest of the gate (fairness, expiry of ``valid_until``, withdrawn versions) is the promotion
        gate's business; this check only keeps the evidence trail coherent.
        """
        scan = text_field("scan", scan, max_length=KEY_LENGTH)
        version = text_field("version", version, max_length=KEY_LENGTH)
        if previous_version is not None:
            previous_version = text_field("previous_version", previous_version, max_length=KEY_LENGTH)
        if isinstance(decision_id, bool) or not isinstance(decision_id, int):
            raise InvalidInput(f"decision_id must be an integer, got {decision_id!r}")
        audit_sha256 = sha256_field("audit_sha256", audit_sha256)
        promoted_by = text_field("promoted_by", promoted_by, max_length=NAME_LENGTH)

        with self._write.begin() as session:
            self._lock_scan_version(session, scan, version)
            cited = session.get(CommitteeDecision, decision_id)
            if cited is None:
                raise NotFound(f"decision_id {decision_id} does not exist")
            if (cited.scan, cited.model_version) != (scan, version):
                raise Conflict(
                    f"decision_id {decision_id} is about scan {cited.scan!r} version "
                    f"{cited.model_version!r}, not scan {scan!r} version {version!r}"
                )
            if cited.audit_sha256 != audit_sha256:
                raise Conflict(
                    f"audit_sha256 {audit_sha256!r} is not the audit the committee reviewed in decision "
                    f"{decision_id} ({cited.audit_sha256!r})"
                )
            current = self._current(session, scan, version)
            if current is not None and current.id != cited.id:
                raise Conflict(
                    f"decision_id {decision_id} is superseded by decision {current.id} "
                    f"({current.decision!r}); cite the current decision"
                )
            if cited.decision not in APPROVALS:
                raise Conflict(
                    f"decision_id {decision_id} is {cited.decision!r}: scan {scan!r} version {version!r} "
                    "is not approved"
                )
            row = Promotion(
                scan=scan,
                model_version=version,
                previous_version=previous_version,
                decision_id=decision_id,
                audit_sha256=audit_sha256,
                promoted_by=promoted_by,
                created_at=self._now(),
            )
            return _added(session, row, PromotionRecord)

    def promotions(self, scan: str) -> list[PromotionRecord]:
        """All promotions of a scan, in the order recorded (oldest first)."""
        return self._read_all(
            select(Promotion).where(Promotion.scan == scan).order_by(Promotion.id), PromotionRecord
        )

    # -------------------------------------------------------------------------------------- withdrawals

    def record_withdrawal(
        self, *, scan: str, version: str | None, reason: str, withdrawn_by: str
    ) -> WithdrawalRecord:
        """Append a withdrawal: the scan stops serving until a later promotion."""
        scan = text_field("scan", scan, max_length=KEY_LENGTH)
        if version is not None:
            version = text_field("version", version, max_length=KEY_LENGTH)
        reason = text_field("reason", reason)
        withdrawn_by = text_field("withdrawn_by", withdrawn_by, max_length=NAME_LENGTH)
        with self._write.begin() as session:
            row = Withdrawal(
                scan=scan,
                model_version=version,
                reason=reason,
                withdrawn_by=withdrawn_by,
                created_at=self._now(),
            )
            return _added(session, row, WithdrawalRecord)

    def withdrawals(self, scan: str) -> list[WithdrawalRecord]:
        """All withdrawals of a scan, in the order recorded (oldest first)."""
        query = select(Withdrawal).where(Withdrawal.scan == scan).order_by(Withdrawal.id)
        return self._read_all(query, WithdrawalRecord)

    def active_withdrawal(self, scan: str) -> WithdrawalRecord | None:
        """The latest withdrawal, unless a promotion came after it (a new promotion lifts a withdrawal).

        Withdrawals and promotions live in different tables, so "after" means a later ``created_at``. A
        withdrawal and a promotion with the same timestamp count as withdrawn: when in doubt, stop.
        """
        with self._read() as session:
            withdrawal = session.scalars(
                select(Withdrawal).where(Withdrawal.scan == scan).order_by(Withdrawal.id.desc()).limit(1)
            ).first()
            if withdrawal is None:
                return None
            promoted_at = session.scalar(select(func.max(Promotion.created_at)).where(Promotion.scan == scan))
            if promoted_at is not None and promoted_at > withdrawal.created_at:
                return None
            return WithdrawalRecord.from_row(withdrawal)

    def is_version_withdrawn(self, scan: str, version: str) -> bool:
        """Whether any withdrawal names this exact version (a later promotion does not clear that)."""
        query = select(exists().where(Withdrawal.scan == scan, Withdrawal.model_version == version))
        with self._read() as session:
            return bool(session.scalar(query))

    # ----------------------------------------------------------------------------------------- rulings

    def record_ruling(
        self,
        *,
        column: str,
        reason: str,
        ruled_by_token_id: int,
        ruled_by: str,
        register: FeatureRegister | None = None,
    ) -> RulingRecord:
        """Append a ruling that ``column`` is unlawful (see :mod:`models.governance._rulings`).

        ``register`` is the reviewed register file (default: the shipped one); a column it does not hold,
        or holds as forbidden already, is refused, and so is a second ruling on one column (:class:`Conflict`
        naming the first). The identity is the token's, resolved by the caller.
        """
        name, why = checked_ruling(register or default_register(), column, reason)
        row = ruling_row(name, why, ruled_by_token_id, ruled_by, self._now())
        with self._write.begin() as session:
            earlier = session.execute(SELECT_RULINGS.where(RULINGS.c.column_name == name)).first()
            if earlier is not None:
                first = RulingRecord.from_row(earlier)
                raise Conflict(
                    f"column {name!r} is already ruled unlawful ({first.sentence}: {first.reason})"
                )
            return _added(session, UnlawfulRuling(**row), RulingRecord)

    def rulings(self) -> list[RulingRecord]:
        """Every ruling, oldest first."""
        with self._read() as session:
            return [RulingRecord.from_row(row) for row in session.execute(SELECT_RULINGS)]

    def ruling(self, column: str) -> RulingRecord | None:
        """The ruling on ``column``, if there is one."""
        return next((r for r in self.rulings() if r.column_name == column), None)

    def ruled_register(self, register: FeatureRegister | None = None) -> FeatureRegister:
        """``register`` (default: the shipped one) with every ruled column forbidden: the register that
        pipeline builds, registrations and audits must read from the moment of a ruling."""
        return (register or default_register()).with_rulings(rulings_by_column(self.rulings()))
