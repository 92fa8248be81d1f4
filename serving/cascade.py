"""A ruling that a column is unlawful, and everything that follows from it, in order.

``riskscan register rule-unlawful`` and the scenario call :func:`rule_unlawful`. Its steps, each safe to
run again:

1. **ruling**: the ruling is appended (:meth:`models.governance.GovernanceStore.record_ruling`). From this
   commit on the register reads the column as ``forbidden``, the gate refuses every version trained on
   it, and the service and ``score-batch`` refuse a champion trained on it (they check the rulings
   themselves), so the column stops being used even if the process dies on the next line.
2. **blocked**: every registered version of every scan trained on the column is recorded, with whether
   it is the champion now.
3. **withdrawn**: each such champion is withdrawn (the withdrawal recorded first, the alias removed
   after; :func:`models.gate.withdraw`).
4. **reexamination**: open investigations of those versions are halted and every closed case gets a
   re-examination task (:func:`serving.reexamination.open_reexaminations`, one transaction).
5. **complete**: the cascade's end is recorded.

**Idempotent and atomic.** A second run for the same column resumes a cascade that did not reach step 5
(a process that died half-way) and refuses one that did (the column is already forbidden). Every step
looks at what is recorded before it adds anything: a blocked version, a withdrawal since the ruling, a
re-examination per ruling and case are each written once. ``after_step`` is called with each step's name
once it is done (tests kill the cascade there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from models import registry
from models.gate import retire_champion, trained_columns, withdraw
from models.governance import GovernanceStore, RulingRecord
from models.specs import scan_ids
from riskscan.db import text_field
from riskscan.errors import Conflict, InvalidInput
from serving.rulings import HALTED, TASK, BlockedVersion
from serving.signing import acting_as
from serving.store import ServingStore
from serving.tokens import TokenRecord

STEPS = ("ruling", "blocked", "withdrawn", "reexamination", "complete")
RULING_ROLES = frozenset({"committee", "admin"})


@dataclass(frozen=True)
class CascadeReport:
    """What a run of the cascade found and did; ``resumed`` when it finished an earlier, broken run."""

    ruling: RulingRecord
    resumed: bool
    blocked: tuple[BlockedVersion, ...]
    withdrawn: tuple[str, ...]  # "scan version" of each champion withdrawn by this run
    halted: int  # added by this run
    tasks: int  # added by this run


def _blocked_versions(
    store: ServingStore, ruling: RulingRecord, scans: tuple[str, ...]
) -> list[BlockedVersion]:
    found = []
    for scan in scans:
        champion = registry.version_by_alias(scan, registry.CHAMPION)
        champion_version = str(champion.version) if champion is not None else None
        for version in registry.versions(scan):
            name = str(version.version)
            if ruling.column_name in trained_columns(scan, name):
                found.append(store.record_blocked(ruling.id, scan, name, name == champion_version))
    return found


def _withdraw(governance: GovernanceStore, ruling: RulingRecord, blocked: BlockedVersion, by: str) -> bool:
    """Withdraw ``blocked`` if it is (still) the champion; True if this call recorded the withdrawal."""
    champion = registry.version_by_alias(blocked.scan, registry.CHAMPION)
    if champion is None or str(champion.version) != blocked.version:
        return False
    reason = (
        f"{ruling.sentence}: column '{ruling.column_name}' is unlawful ({ruling.reason}); version "
        f"{blocked.version} was trained on it"
    )
    already = [
        w
        for w in governance.withdrawals(blocked.scan)
        if w.version == blocked.version and w.created_at >= ruling.created_at
    ]
    if already:  # recorded by a run that died before it removed the alias
        retire_champion(blocked.scan, blocked.version, already[-1].reason)
        return False
    withdraw(governance, scan=blocked.scan, reason=reason, withdrawn_by=by)
    return True


def _ruling(
    governance: GovernanceStore, column: str, reason: object, token: TokenRecord
) -> tuple[RulingRecord, bool]:
    """The ruling to cascade: a new one, or the one a broken earlier run recorded (then resumed)."""
    earlier = governance.ruling(column)
    if earlier is None:
        record = governance.record_ruling(
            column=column, reason=str(reason), ruled_by_token_id=token.id, ruled_by=token.name
        )
        return record, False
    return earlier, True


def rule_unlawful(
    governance: GovernanceStore,
    store: ServingStore,
    *,
    column: object,
    reason: object,
    token: TokenRecord,
    scans: tuple[str, ...] | None = None,
    after_step: Callable[[str], object] | None = None,
) -> CascadeReport:
    """Record that ``column`` is unlawful and run the cascade (see the module docstring).

    ``token`` is the caller's authenticated token: a committee or admin role, active. Refusals: a column
    not in the register, already forbidden (by the register file, or by a ruling whose cascade is
    complete), a missing reason, a token of another role.
    """
    if token.role not in RULING_ROLES or not token.active:
        raise Conflict(
            f"token {token.id} ({token.name}, role {token.role}) may not rule on a column; "
            f"a ruling needs an active token of role {' or '.join(sorted(RULING_ROLES))}"
        )
    name = text_field("column", column)
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput(f"reason must be non-empty text saying why {name!r} is unlawful, got {reason!r}")
    ruling, resumed = _ruling(governance, name, reason, token)
    if resumed and store.cascade_complete(ruling.id):
        raise Conflict(
            f"column {name!r} is already forbidden: {ruling.sentence} by {ruling.ruled_by} ({ruling.reason}); "
            "its cascade is complete"
        )
    step = after_step or (lambda _name: None)
    step("ruling")
    blocked = _blocked_versions(store, ruling, scans if scans is not None else scan_ids())
    step("blocked")
    withdrawn = tuple(
        f"{b.scan} {b.version}" for b in blocked if _withdraw(governance, ruling, b, acting_as(token))
    )
    step("withdrawn")
    added = store.open_reexaminations(ruling.id)
    step("reexamination")
    store.mark_cascade_complete(ruling.id)
    step("complete")
    return CascadeReport(
        ruling=ruling,
        resumed=resumed,
        blocked=tuple(blocked),
        withdrawn=withdrawn,
        halted=added[HALTED],
        tasks=added[TASK],
    )
