"""The serving side of the governance database, behind one object: :class:`ServingStore`.

The store owns the engine, SQLite's durability and checkpoint settings, and the clock; the records are
kept by their own modules, which it calls: the decision log (:mod:`serving.log`), the outcomes
(:mod:`serving.outcomes`), the case queries (:mod:`serving.cases`), the API tokens
(:mod:`serving.tokens`) and the page sessions (:mod:`serving.sessions`). Their tables come from Alembic
revisions ``0002_serving`` and ``0005_web_sessions`` and live in the same database (and on the same
declarative ``Base``) as the committee decisions in :mod:`models.governance`. Like those, they are
evidence, so they are append-only *in the database*, and the store has no update or delete methods; the
page sessions alone are not evidence, and end (a delete) at logout, revocation or expiry.

This module also re-exports the records its methods take and return (:class:`LogEntry`,
:class:`BatchColumns`, :class:`LoggedScore`, :class:`ChainReport`, :class:`CaseRow`,
:class:`OutcomeRecord`, :class:`PurgeReport`, :class:`TokenRecord`, :class:`WebSession`,
:class:`WorklistPage`), so a caller of the store needs one import.

SQLite durability
-----------------
A store on SQLite switches the database file to WAL mode with ``synchronous=NORMAL``: a commit then costs
no fsync (the service appends one row per request and must stay fast), readers never block the writer, and
the file is never corrupted. The trade-off: after a power cut or operating-system crash (not after a crash
of the application), the last transactions before the cut may be lost even though they were reported
committed. Where that window is unacceptable, pass ``sqlite_synchronous="FULL"`` (an fsync per commit)
or use PostgreSQL. WAL needs a local file system (not NFS/SMB). Checkpoints (copying the WAL back into
the database file) make up most of an append's tail latency; the service should pass
``checkpoint_every=1.0`` so that a background thread does them instead of a request. On SQLite an append
of ``INSERT_CHUNK`` rows or more checkpoints its own rows afterwards, so the next API request does not pay
for them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError

from models.governance import RulingRecord
from models.specs import ScanSpec
from riskscan import home
from riskscan.db import Store, make_engine, upgrade
from riskscan.errors import InvalidInput
from serving import cases as _cases
from serving import outcomes as _outcomes
from serving import purge as _purge
from serving import reexamination as _reexamination
from serving import sessions as _sessions
from serving import tokens as _tokens
from serving.cases import WORKLIST_OPEN, CaseRow, WorklistPage
from serving.log import INSERT_CHUNK, BatchColumns, ChainReport, DecisionLog, LogEntry, LoggedScore
from serving.outcomes import OutcomeRecord
from serving.purge import PurgeReport
from serving.reexamination import Progress, Task
from serving.rulings import BlockedVersion, ResultRecord
from serving.sessions import WebSession
from serving.tokens import TokenRecord
from serving.worklist_cache import LastOutcomes, OpenLists

TABLES: Final = (
    "decision_log",
    "decision_log_recipes",
    "outcomes",
    "api_tokens",
    "token_revocations",
    "web_sessions",
)
SQLITE_SYNCHRONOUS: Final = ("NORMAL", "FULL")
SQLITE_CACHE_KIB: Final = 65_536
SQLITE_SAFETY_CHECKPOINT_PAGES: Final = 10_000

_log = logging.getLogger(__name__)


def _use_wal(engine: Engine, synchronous: str, autocheckpoint: int | None) -> None:
    """WAL and ``synchronous`` for every new connection (after make_engine's own connect hook)."""

    @event.listens_for(engine, "connect")
    def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode = WAL")  # persistent in the file; a no-op for :memory:
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        # Bulk appends insert keys all over some indexes (the partial index by score); the default 2 MiB
        # page cache makes that thrash once the log has a few hundred thousand rows. Pages are only
        # allocated when used, so an idle pooled connection stays small.
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        if autocheckpoint is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint = {autocheckpoint}")
        cursor.close()


def _checked_settings(sqlite_synchronous: str, checkpoint_every: float | None) -> None:
    if sqlite_synchronous not in SQLITE_SYNCHRONOUS:
        raise InvalidInput(
            f"sqlite_synchronous must be one of {', '.join(map(repr, SQLITE_SYNCHRONOUS))}, "
            f"got {sqlite_synchronous!r}"
        )
    if checkpoint_every is not None and (
        isinstance(checkpoint_every, bool)
        or not isinstance(checkpoint_every, int | float)
        or not checkpoint_every > 0
    ):
        raise InvalidInput(f"checkpoint_every must be a positive number of seconds, got {checkpoint_every!r}")


class ServingStore(Store):
    """Append and read decision-log rows, outcomes and API tokens. Opening a store migrates to head.

    There are no update or delete methods, and the database refuses them anyway. ``clock`` exists for
    tests that need to place records in time; it must return aware datetimes.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        sqlite_synchronous: str = "NORMAL",
        checkpoint_every: float | None = None,
    ) -> None:
        """``checkpoint_every`` (seconds, SQLite only) is for the long-running service: a background thread
        then copies the WAL back into the database file, so that no request pays for a checkpoint (they
        make up most of an append's tail latency otherwise). SQLite's automatic checkpoint stays on as a
        safety net, at ``SQLITE_SAFETY_CHECKPOINT_PAGES`` instead of 1,000 pages.
        """
        _checked_settings(sqlite_synchronous, checkpoint_every)
        engine = make_engine(url or home.database_url())
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            autocheckpoint = None if checkpoint_every is None else SQLITE_SAFETY_CHECKPOINT_PAGES
            _use_wal(engine, sqlite_synchronous, autocheckpoint)
        upgrade(engine)
        super().__init__(engine, clock)
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        if sqlite and checkpoint_every is not None:
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, args=(float(checkpoint_every),), name="riskscan-wal-checkpoint"
            )
            self._checkpointer.daemon = True
            self._checkpointer.start()
        # A batch pays for checkpointing its own rows, not the next API request.
        self._log = DecisionLog(engine, self._now, after_bulk_write=self.checkpoint)
        self._open_lists = OpenLists(engine)
        self._last_outcomes = LastOutcomes(engine)

    def close(self) -> None:
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
        self._log.close()
        super().close()

    def checkpoint(self) -> None:
        """SQLite: copy what the WAL holds back into the database file, without waiting for readers or
        writers (``PASSIVE``). Nothing to do on PostgreSQL."""
        if self._engine.dialect.name != "sqlite":
            return
        connection = self._engine.raw_connection()  # autocommit (make_engine), so outside any transaction
        try:
            cursor = connection.cursor()
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            cursor.fetchall()
            cursor.close()
        finally:
            connection.close()

    def _checkpoint_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.checkpoint()
            except Exception:  # a failed checkpoint loses nothing; the next one (or SQLite's own) catches up
                _log.warning("WAL checkpoint of %s failed", self.url, exc_info=True)

    # ------------------------------------------------------------------------------------ decision log

    def append_score(self, entry: LogEntry) -> LoggedScore:
        """Append one row (the service, once per request). Raises if the row cannot be written."""
        return self.append_scores([entry])[0]

    def append_scores(self, rows: Sequence[LogEntry]) -> list[LoggedScore]:
        """Append rows to the chain, in the order given, in one transaction: all are written or none
        (:meth:`serving.log.DecisionLog.append`)."""
        return self._log.append(rows)

    def append_request_ids(self, rows: Sequence[LogEntry]) -> list[str]:
        """:meth:`append_scores`, returning only the rows' request ids (what the service answers with;
        :meth:`serving.log.DecisionLog.append_request_ids`)."""
        return self._log.append_request_ids(rows)

    def append_batch(
        self,
        columns: BatchColumns,
        *,
        chunk_rows: int = INSERT_CHUNK,
        progress: Callable[[int], object] | None = None,
    ) -> list[str]:
        """Append a batch job's rows, ``chunk_rows`` per transaction; returns their request ids
        (:meth:`serving.log.DecisionLog.append_batch`): the same rows and hashes as :meth:`append_scores`
        with one :class:`LogEntry` per row, without building an entry per row."""
        return self._log.append_batch(columns, chunk_rows=chunk_rows, progress=progress)

    def get_score(self, request_id: str) -> LoggedScore | None:
        return self._log.get(request_id)

    def verify_chain(self, *, batch_size: int = 50_000) -> ChainReport:
        """Recompute every row hash in id order (:meth:`serving.log.DecisionLog.verify`)."""
        return self._log.verify(batch_size=batch_size)

    def purge(self, before: datetime, specs: Sequence[ScanSpec]) -> PurgeReport:
        """Erase the personal values of the rows of these scans scored before ``before``, and rebuild the
        database file (:func:`serving.purge.purge`); refused inside a retention period or in the future."""
        return _purge.purge(self._engine, self._now(), before, specs)

    # ------------------------------------------------------------------------------ cases and outcomes

    def cases(
        self,
        *,
        scan: str,
        model_version: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        signal_only: bool = False,
        limit: int | None = None,
    ) -> list[CaseRow]:
        """Logged cases of a scan in the order scored, each with its latest outcome and status
        (:func:`serving.cases.cases`)."""
        return _cases.cases(
            self._engine,
            scan=scan,
            model_version=model_version,
            start=start,
            end=end,
            signal_only=signal_only,
            limit=limit,
        )

    def worklist(self, scan: str, limit: int) -> list[CaseRow]:
        """Open cases, the control sample first, then signals by score (:func:`serving.cases.worklist`)."""
        return _cases.worklist(self._engine, scan, limit)

    def worklist_page(self, scan: str, status: str, *, capacity: int, number: int, size: int) -> WorklistPage:
        """One page of the worklist with ``status``, in received order, with its total
        (:func:`serving.cases.worklist_page`); the open list's from a copy kept between writes
        (:mod:`serving.worklist_cache`), checked against the database on every call."""
        if status == WORKLIST_OPEN:
            return self._open_lists.page(scan, capacity=capacity, number=number, size=size)
        return _cases.worklist_page(self._engine, scan, status, capacity=capacity, number=number, size=size)

    def record_outcome(
        self,
        *,
        recorded_by: TokenRecord,
        request_id: str,
        violation: bool,
        sanction: str | None,
        hoor_en_wederhoor: bool,
        investigator: str | None = None,
        notes: str = "",
    ) -> OutcomeRecord:
        """Append the result of an investigation under the authenticated token ``recorded_by``; a later
        outcome for the same request supersedes it (:func:`serving.outcomes.record_outcome`)."""
        return _outcomes.record_outcome(
            self._engine,
            self._now,
            recorded_by=recorded_by,
            request_id=request_id,
            violation=violation,
            sanction=sanction,
            hoor_en_wederhoor=hoor_en_wederhoor,
            investigator=investigator,
            notes=notes,
        )

    def outcomes(
        self, scan: str | None = None, *, latest_only: bool = False, last: int | None = None
    ) -> list[OutcomeRecord]:
        """Outcomes in the order recorded; ``latest_only`` drops the superseded ones, ``last`` keeps the
        most recent ones (:func:`serving.outcomes.outcomes`)."""
        return _outcomes.outcomes(self._engine, scan, latest_only=latest_only, last=last)

    def last_outcomes(self, scan: str, last: int) -> list[OutcomeRecord]:
        """The ``last`` outcomes of ``scan``, oldest first, as :meth:`outcomes` gives them, from a copy kept
        until another outcome is recorded (:class:`serving.worklist_cache.LastOutcomes`)."""
        return self._last_outcomes.last(scan, last)

    # ------------------------------------------------------------------------------- re-examination

    def record_blocked(self, ruling_id: int, scan: str, version: str, was_champion: bool) -> BlockedVersion:
        """Record that a ruling blocks a version, once (:func:`serving.reexamination.record_blocked`)."""
        return _reexamination.record_blocked(self._engine, self._now, ruling_id, scan, version, was_champion)

    def open_reexaminations(self, ruling_id: int) -> dict[str, int]:
        """Halt the open investigations and open a task per closed case of the ruling's blocked versions
        (:func:`serving.reexamination.open_reexaminations`)."""
        return _reexamination.open_reexaminations(self._engine, self._now, ruling_id)

    def mark_cascade_complete(self, ruling_id: int) -> None:
        _reexamination.mark_complete(self._engine, self._now, ruling_id)

    def cascade_complete(self, ruling_id: int) -> bool:
        return _reexamination.is_complete(self._engine, ruling_id)

    def reexamination_tasks(
        self, rulings: list[RulingRecord], *, open_only: bool = True, limit: int | None = None
    ) -> list[Task]:
        """Re-examination tasks, oldest case first (:func:`serving.reexamination.tasks`)."""
        return _reexamination.tasks(self._engine, rulings, open_only=open_only, limit=limit)

    def reexamination_task(self, rulings: list[RulingRecord], reexamination_id: int) -> Task:
        return _reexamination.task(self._engine, rulings, reexamination_id)

    def record_reexamination_result(
        self,
        *,
        reexamination_id: object,
        result: object,
        note: object,
        hoor_en_wederhoor: object,
        token: TokenRecord,
    ) -> ResultRecord:
        """Append a task's result under ``token``'s identity (:func:`serving.reexamination.record_result`)."""
        return _reexamination.record_result(
            self._engine,
            self._now,
            reexamination_id=reexamination_id,
            result=result,
            note=note,
            hoor_en_wederhoor=hoor_en_wederhoor,
            token_id=token.id,
            token_name=token.name,
        )

    def reexamination_progress(self, rulings: list[RulingRecord]) -> list[Progress]:
        """Per ruling: cases affected, halted, tasks open and done (:func:`serving.reexamination.progress`)."""
        return _reexamination.progress(self._engine, rulings)

    # ------------------------------------------------------------------------------------------ tokens

    def create_token(self, *, name: str, role: str) -> tuple[str, TokenRecord]:
        """A new token for ``role``. The plain token is returned here, once; the store keeps its SHA-256."""
        return _tokens.create_token(self._engine, self._now, name=name, role=role)

    def reachable(self) -> bool:
        """Whether the database answers now (``SELECT 1``): the service's readiness."""
        try:
            with self._engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except DBAPIError:
            return False
        return True

    def authenticate(self, token: str) -> TokenRecord | None:
        """The token's record, or None for an unknown or revoked token."""
        return _tokens.authenticate(self._engine, token)

    def revoke_token(self, token_id: int, reason: str) -> None:
        """Take a token out of use, for good: a revocation row, never an edit; its page sessions end."""
        _tokens.revoke_token(self._engine, self._now, token_id, reason)

    def active_token(self, token_id: int) -> TokenRecord | None:
        """The record of the token with this id, or None when there is none or it is revoked."""
        return _tokens.active_token(self._engine, token_id)

    # -------------------------------------------------------------------------------- page sessions

    def start_session(self, token_id: int) -> tuple[str, WebSession]:
        """A new page session for a token; its id is returned once, for the cookie
        (:func:`serving.sessions.start_session`)."""
        return _sessions.start_session(self._engine, self._now, token_id)

    def use_session(self, session_id: str) -> WebSession | None:
        """The live session with this id, its last use now; None if unknown, ended or expired."""
        return _sessions.use_session(self._engine, self._now, session_id)

    def end_session(self, session_id: str) -> bool:
        """Delete the session with this id (logout); False if there was none."""
        return _sessions.end_session(self._engine, session_id)

    def session_count(self, token_id: int | None = None) -> int:
        """How many page sessions exist, for one token or all."""
        return _sessions.session_count(self._engine, token_id)

    def tokens(self) -> list[TokenRecord]:
        """Every token ever made, revoked ones included, oldest first."""
        return _tokens.tokens(self._engine)


__all__ = [
    "TABLES",
    "BatchColumns",
    "CaseRow",
    "ChainReport",
    "LogEntry",
    "LoggedScore",
    "OutcomeRecord",
    "PurgeReport",
    "ServingStore",
    "TokenRecord",
    "WebSession",
    "WorklistPage",
]
