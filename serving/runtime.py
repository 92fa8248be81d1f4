"""What the service does, without HTTP: load champions, validate cases, score, explain, log.

The BentoML service (serving/service.py) and the tests both drive this class, so the rules are tested
once and served as tested:

* only a ``champion`` is served; a scan without one, or withdrawn, is unavailable with the reason and
  the date, and nothing falls back to another model;
* every case is validated against the register before it is scored, and every problem is reported
  with case id, field, value and what was expected;
* no score leaves unlogged: the decision-log append happens before the response, and if it fails the
  whole request fails;
* withdrawals, promotions and rulings made elsewhere (the CLI) are noticed within ``REFRESH_SECONDS``
  on every worker, not only the one that received ``POST /reload``; a champion trained on a column ruled
  unlawful is not served, withdrawn yet or not.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from features.pipeline import ROUTING_DESTINATION
from features.register import Column, FeatureRegister, default_register
from features.schemas import case_problem, record_model
from models import registry
from models.gate import blocking_rulings
from models.governance import GovernanceStore
from models.scorer import ScanModel
from models.specs import ScanSpec, load_spec, scan_ids
from riskscan.errors import (
    MAX_REPORTED_PROBLEMS,
    OUTAGE_RETRY_SECONDS,
    InvalidInput,
    InvalidParameter,
    Problem,
    TooLarge,
    Unavailable,
)
from serving.log import LogEntry
from serving.requests import MAX_CASES_PER_REQUEST, MAX_TOP_N, case_columns
from serving.scoring import ModelRef, ScoredCase, control_key, result_json, score_records
from serving.store import ServingStore

REFRESH_SECONDS = 2.0


def check_scan(scan: str) -> None:
    """Refuse a scan id that names no scan, as a bad request parameter (the API and ``GET /cases``)."""
    if scan not in scan_ids():
        raise InvalidParameter(
            f"unknown scan '{scan}'; known scans: {', '.join(scan_ids())}", field="scan", value=scan
        )


@dataclass
class ScanState:
    spec: ScanSpec
    model: ScanModel | None = None
    ref: ModelRef | None = None
    unavailable: str | None = None
    unavailable_since: str | None = None
    validator: type[BaseModel] | None = None
    columns: dict[str, Column] = field(default_factory=dict)
    routing: tuple[Column, ...] = ()  # the register's routing columns of the scan, read once per load
    # Whether the API's request model (serving/requests.py) validates this champion's cases exactly as
    # ``validator`` does: the same fields, each from the same register entry, in the same order.
    gate_validates: bool = False


class ScanRuntime:
    def __init__(
        self,
        store: ServingStore | None = None,
        governance: GovernanceStore | None = None,
        register: FeatureRegister | None = None,
    ) -> None:
        self.register = register or default_register()
        self.store = store or ServingStore(checkpoint_every=1.0)
        self.governance = governance or GovernanceStore()
        self.key = control_key()
        self._lock = threading.Lock()
        self._generation: tuple[Any, ...] | None = None
        self._checked_at = 0.0
        self.states: dict[str, ScanState] = {}
        self.reload()

    # -- champions ------------------------------------------------------------------------------------

    def _governance_generation(self) -> tuple[Any, ...]:
        parts: list[Any] = []
        for scan in scan_ids():
            promotions = self.governance.promotions(scan)
            withdrawals = self.governance.withdrawals(scan)
            parts += [promotions[-1].id if promotions else None, withdrawals[-1].id if withdrawals else None]
        # A ruling stops a champion trained on the ruled column before (and whether or not) the cascade
        # withdraws it; rulings are only ever appended, so their number says whether one was added.
        return (*parts, len(self.governance.rulings()))

    def reload(self) -> dict[str, Any]:
        """Load the champion of every scan, honouring withdrawals. Returns what is now served."""
        with self._lock:
            generation = self._governance_generation()
            states = {scan: self._load_scan(scan) for scan in scan_ids()}
            self.states, self._generation, self._checked_at = states, generation, time.monotonic()
        return self.status()

    def refresh_if_changed(self) -> None:
        if time.monotonic() - self._checked_at < REFRESH_SECONDS:
            return
        self._checked_at = time.monotonic()
        if self._governance_generation() != self._generation:
            self.reload()

    def _load_scan(self, scan: str) -> ScanState:
        spec = load_spec(scan, self.register)
        state = ScanState(spec=spec)
        withdrawal = self.governance.active_withdrawal(scan)
        if withdrawal is not None:
            state.unavailable = f"scan '{scan}' was withdrawn: {withdrawal.reason}"
            state.unavailable_since = withdrawal.created_at.isoformat(timespec="seconds")
            return state
        champion = registry.version_by_alias(scan, registry.CHAMPION)
        if champion is None:
            state.unavailable = (
                f"scan '{scan}' has no champion: no model version has been approved and promoted"
            )
            state.unavailable_since = datetime.now(UTC).isoformat(timespec="seconds")
            return state
        ruled = blocking_rulings(scan, str(champion.version), self.governance.rulings())
        if ruled:
            state.unavailable = (
                f"scan '{scan}' is stopped: its champion version {champion.version} was trained on column "
                f"'{ruled[0].column_name}', which {ruled[0].sentence} found unlawful"
            )
            state.unavailable_since = ruled[0].created_at.isoformat(timespec="seconds")
            return state
        model = registry.load_scan_model(scan, champion.version)
        promotions = [p for p in self.governance.promotions(scan) if p.version == str(champion.version)]
        state.model = model
        state.ref = ModelRef(
            name=registry.model_name(scan),
            version=str(champion.version),
            audit_sha256=champion.tags.get("audit_sha256"),
            decision_id=promotions[-1].decision_id if promotions else None,
        )
        state.routing = tuple(self.register.routing_columns(scan))
        state.columns = {c.name: c for c in (*model.features.columns, *state.routing)}
        state.validator = record_model(f"{scan.capitalize()}Case", list(state.columns.values()))
        state.gate_validates = list(state.columns.items()) == list(case_columns().get(scan, {}).items())
        return state

    def status(self) -> dict[str, Any]:
        return {
            scan: {
                "available": state.model is not None,
                "model": state.ref.as_dict() if state.ref else None,
                "reason": state.unavailable,
                "since": state.unavailable_since,
                "threshold": state.model.threshold if state.model else None,
            }
            for scan, state in self.states.items()
        }

    def state(self, scan: str) -> ScanState:
        self.refresh_if_changed()
        state = self.states.get(scan)
        if state is None:  # the states are the scans in force, as of the last reload
            check_scan(scan)
            state = self.states[scan]
        if state.model is None:
            raise Unavailable(
                state.unavailable or f"scan '{scan}' is unavailable",
                scan=scan,
                since=state.unavailable_since,
            )
        return state

    # -- scoring --------------------------------------------------------------------------------------

    def _validate(self, state: ScanState, cases: list[Any]) -> list[dict[str, Any]]:
        assert state.validator is not None
        problems: list[Problem] = []
        records: list[dict[str, Any]] = []
        for index, case in enumerate(cases):
            case_id = case.get("case_id") if isinstance(case, dict) else None
            if not isinstance(case, dict):
                problems.append(
                    Problem(
                        column=None,
                        value=case,
                        expected="an object with case_id and the scan's input fields",
                        row=index,
                    )
                )
                continue
            try:
                record = state.validator.model_validate(case).model_dump()
            except ValidationError as exc:
                # A union type (a number: int or float) reports one error per member; report a field once.
                fields = set()
                for err in exc.errors():
                    problem = case_problem(state.columns, err, row=index, case_id=case_id)
                    if problem.column not in fields:
                        fields.add(problem.column)
                        problems.append(problem)
                continue
            records.append(record)
        if problems:
            raise InvalidInput(
                f"{len(problems)} invalid value(s); nothing was scored or logged",
                problems[:MAX_REPORTED_PROBLEMS],
                total=len(problems),
            )
        return records

    def score(
        self, scan: str, cases: list[Any], top_n: int = 5, *, validated: Sequence[BaseModel] | None = None
    ) -> dict[str, Any]:
        """Score and log ``cases``, answering with one result per case.

        ``validated`` (the HTTP service's): the same cases as the API's request model validated them in
        the gate, before the body reached the handler; they are read as they are when that model checks
        exactly what this champion's validator does (``ScanState.gate_validates``), instead of being
        validated a second time (0.01 ms a case), and validated again otherwise.
        """
        if not isinstance(cases, list) or not cases:
            raise InvalidParameter("cases must be a non-empty list of cases", field="cases")
        if len(cases) > MAX_CASES_PER_REQUEST:
            raise TooLarge(
                f"at most {MAX_CASES_PER_REQUEST} cases per request (got {len(cases)}); "
                "use 'riskscan score-batch' for a caseload",
                field="cases",
                value=len(cases),
            )
        if not 0 <= top_n <= MAX_TOP_N:
            raise InvalidParameter(
                f"top_n must be between 0 and {MAX_TOP_N} (0 = all contributions)",
                field="top_n",
                value=top_n,
            )
        state = self.state(scan)
        if validated is not None and state.gate_validates and len(validated) == len(cases):
            records = [case.model_dump() for case in validated]
        else:
            records = self._validate(state, cases)
        model, ref = state.model, state.ref
        assert model is not None and ref is not None
        routed = self._routed(state, records)
        to_score = [record for record, is_routed in zip(records, routed, strict=True) if not is_routed]
        scored = (
            score_records(
                model,
                to_score,
                control_share=state.spec.random_control_share,
                key=self.key,
                top_n=top_n,
                register=self.register,
            )
            if to_score
            else []
        )
        entries = [self._log_entry(scan, case, model, ref) for case in scored]
        try:
            request_ids = self.store.append_request_ids(entries)
        except Exception as exc:  # any failure to log means no score may leave the service
            raise Unavailable(
                "the decision log could not be written; no score was released",
                retry_after=OUTAGE_RETRY_SECONDS,
                detail=type(exc).__name__,
            ) from exc
        answers = iter(zip(scored, request_ids, strict=True))
        results = []
        for record, is_routed in zip(records, routed, strict=True):
            if is_routed:
                results.append(self._routed_result(scan, state, record["case_id"], ref))
            else:
                case, request_id = next(answers)
                results.append(result_json(case, request_id, ref, model.threshold))
        return {"scan": scan, "results": results}

    def _routed(self, state: ScanState, records: list[dict[str, Any]]) -> list[bool]:
        """Per record: whether a routing column sends it elsewhere instead of scoring it."""
        return [any(bool(r.get(c.name)) for c in state.routing) for r in records]

    def _routed_result(self, scan: str, state: ScanState, case_id: str, ref: ModelRef) -> dict[str, Any]:
        notes = " ".join(c.routing_note or "" for c in state.routing)
        return {
            "case_id": case_id,
            "request_id": None,
            "score": None,
            "signal": False,
            "control": False,
            "routed_to": ROUTING_DESTINATION.get(scan),
            "reason": notes,
            "explanation": [],
            "model": ref.as_dict(),
        }

    def _log_entry(self, scan: str, case: ScoredCase, model: ScanModel, ref: ModelRef) -> LogEntry:
        return LogEntry(
            case_id=case.case_id,
            scan=scan,
            model_name=ref.name,
            model_version=ref.version,
            inputs=case.inputs,
            score=case.score,
            threshold=model.threshold,
            signal=case.signal,
            control=case.control,
            control_draw=case.control_draw,
            margin_scale=model.margin_scale,
            source="api",
            explanation=[
                {k: e[k] for k in ("feature", "label", "value", "contribution")} for e in case.explanation
            ],
            base_value=case.base_value,
            audit_sha256=ref.audit_sha256,
            decision_id=ref.decision_id,
        )
