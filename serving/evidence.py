"""Every evidence chain of the database, verified and anchored together.

The chains (:mod:`riskscan.chain`) are declared where their tables live: the decision log
(:data:`serving.log.LOG_CHAIN`), outcomes (:data:`serving.outcomes.OUTCOME_CHAIN`), the governance tables
with the rulings (:data:`models.governance.CHAINS`) and the tables of a ruling's cascade
(:data:`serving.rulings.CASCADE_CHAINS`). :data:`EVIDENCE_CHAINS` lists them all; a stage that adds an evidence
table adds its chain here, and from then on ``riskscan log verify`` checks it and the anchors cover it.

Anchors (:mod:`riskscan.anchors`) are written

- after every batch job (``score-batch``, ``retrain``, ``simulate``): :func:`anchor_batch_job` appends the
  heads to the anchor file and logs them to a run of the scan's jobs experiment in MLflow, a second store
  outside this database;
- by the service, every ``RISKSCAN_ANCHOR_SECONDS`` (default 60) when a head moved: :class:`ServiceAnchors`,
  a daemon thread per worker process. A failed reading (the database is away) is logged and retried at
  the next tick; it never stops the service.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from sqlalchemy import Engine

from models import registry
from models.governance import CHAINS
from riskscan import anchors
from riskscan.anchors import Anchor
from riskscan.chain import Chain, ChainReport, Head
from riskscan.errors import InvalidInput
from serving.log import LOG_CHAIN
from serving.outcomes import OUTCOME_CHAIN
from serving.rulings import CASCADE_CHAINS

log = logging.getLogger("riskscan.serving.evidence")

#: Every hash-chained evidence table, the decision log first.
EVIDENCE_CHAINS: Final[tuple[Chain, ...]] = (LOG_CHAIN, OUTCOME_CHAIN, *CHAINS.values(), *CASCADE_CHAINS)
_BY_NAME: Final = {chain.name: chain for chain in EVIDENCE_CHAINS}
ANCHOR_SECONDS_ENV: Final = "RISKSCAN_ANCHOR_SECONDS"


def chain_named(table: str) -> Chain:
    """The chain of ``table``; refused, naming the chained tables, for any other name."""
    try:
        return _BY_NAME[table]
    except KeyError:
        raise InvalidInput(
            f"table {table!r} is not a chained evidence table; expected one of {', '.join(_BY_NAME)}"
        ) from None


def verify_all(engine: Engine, *, batch_size: int = 50_000) -> list[ChainReport]:
    """Every chain verified (:meth:`riskscan.chain.Chain.verify`), in :data:`EVIDENCE_CHAINS` order."""
    return [chain.verify(engine, batch_size=batch_size) for chain in EVIDENCE_CHAINS]


def heads(engine: Engine) -> list[Head]:
    """The current head of every chain, read in one transaction."""
    with engine.connect() as connection:
        return [chain.head(connection) for chain in EVIDENCE_CHAINS]


def check_anchors(engine: Engine, written: Sequence[Anchor]) -> list[str]:
    """One sentence per anchor the chains no longer honour (:func:`riskscan.anchors.check`)."""
    with engine.connect() as connection:

        def head_of(table: str) -> Head | None:
            chain = _BY_NAME.get(table)
            return None if chain is None else chain.head(connection)

        def hash_at(table: str, position: int) -> tuple[int, str] | None:
            return _BY_NAME[table].hash_at(connection, position)

        return anchors.check(written, head_of, hash_at)


def anchor_batch_job(
    engine: Engine, scan: str, job: str, directory: Path | None = None
) -> tuple[list[Anchor], str]:
    """After a batch job: the heads to the anchor file, and to a run ``<job>-<scan>`` of the scan's jobs
    experiment in MLflow (params ``<table>.head_hash`` and ``<table>.rows``, the lines as an artifact).
    Returns the anchors and the MLflow run id."""
    written = anchors.write(heads(engine), job, directory)
    params: dict[str, str] = {}
    for anchor in written:
        params[f"{anchor.table}.head_hash"] = anchor.head_hash
        params[f"{anchor.table}.rows"] = str(anchor.rows)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / anchors.ANCHOR_FILE
        path.write_text("".join(anchor.line() for anchor in written), encoding="utf-8")
        run_id = registry.log_job_run(
            scan,
            job=job,
            params=params,
            metrics={f"{anchor.table}_rows": float(anchor.rows) for anchor in written},
            tags={"anchored_at": written[0].at.isoformat()},
            files=[path],
        )
    return written, run_id


def anchor_interval() -> float:
    """``RISKSCAN_ANCHOR_SECONDS`` (default 60): how often the service anchors a moved head."""
    value = os.environ.get(ANCHOR_SECONDS_ENV, str(anchors.SERVICE_ANCHOR_SECONDS))
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0:
        raise InvalidInput(f"{ANCHOR_SECONDS_ENV} must be a positive number of seconds, got {value!r}")
    return seconds


class ServiceAnchors:
    """A daemon thread that anchors the heads every ``interval`` seconds when one has moved since, and once
    more when it is stopped (the service's shutdown), so the newest rows are not left unanchored.

    The anchor folder is fixed when the thread is made (``directory``, or the home's as it is then): the
    heads are those of ``engine``'s database, so they belong beside that home's other anchors. Resolved at
    every tick instead, they followed ``RISKSCAN_HOME`` wherever it pointed later in the process, and one
    database's heads landed among another's (seen as a test failing when the in-process service's tick fell
    inside it: "decision_log has 7 row(s), fewer than the 15706 anchored ... by service")."""

    def __init__(self, engine: Engine, interval: float, directory: Path | None = None) -> None:
        self._engine = engine
        self._interval = interval
        self._directory = anchors.default_directory() if directory is None else directory
        self._last: list[Head] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="riskscan-anchors", daemon=True)

    def start(self) -> ServiceAnchors:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread, then anchor the heads a last time if they moved since its last tick."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._interval + 5)
        self._tick_or_warn()

    def tick(self) -> list[Anchor]:
        """Anchor now if a head moved since the last anchor of this process; returns what was written."""
        current = heads(self._engine)
        if current == self._last or all(head.rows == 0 for head in current):
            return []
        written = anchors.write(current, "service", self._directory)
        self._last = current
        return written

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._tick_or_warn()

    def _tick_or_warn(self) -> None:
        try:
            self.tick()
        except Exception:  # the database may be away; anchoring resumes when it is back
            log.warning(
                "could not anchor the evidence chains (tried every %s s)", self._interval, exc_info=True
            )
