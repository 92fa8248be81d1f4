"""The decision log's cost a row, part by part, against the floor of any log that keeps a database row per
scored case. Prints figures; asserts nothing.

Issue 14 asks for the batch log at <= 8 us a row. This benchmark shows where a row's time goes and what is
left when the database checks nothing at all, so that the gap is measured, not guessed:

* **Python side, no database**: what :meth:`DecisionLog.append_batch` does before its INSERT, step by step:
  check and seal the columns (:class:`CheckedBatch`), encode the canonical JSON pieces, hash the chain and
  build the INSERT's parameters.
* **append_batch end to end** (the same rows, chunks and commits as ``riskscan score-batch``) on three
  shapes of the ``decision_log`` table, each in a fresh database:

  - ``schema``: the real one, migrated to head (every CHECK, the foreign key, the unique request id, the
    two secondary indexes, the append-only triggers);
  - ``no checks``: the same columns without any CHECK or foreign key (unique request id and both indexes
    kept);
  - ``bare table``: the same columns with no constraint, index or trigger besides the primary key: the
    floor of a row-per-case table, which gives up every guarantee the database adds.

The rows are synthetic and shaped like a VW batch (the champion's 11 inputs, a share of them explained
with 5 entries), so no home or trained model is needed. SQLite always; PostgreSQL when its server answers
(``RISKSCAN_TEST_POSTGRES``, default ``postgresql://postgres@127.0.0.1:5432/postgres``, throwaway databases,
dropped at the end). Wall time and this process's CPU time a row; on PostgreSQL the server's own CPU is in
the wall time only.

    python benchmarks/bench_log_floor.py --rows 200000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from _setup import machine_load

from tests.postgres import ADMIN_URL, temporary_database  # the storage tests' throwaway database

SHAPES = ("schema", "no checks", "bare table")
GOAL_US = 8.0


def main() -> None:
    args = parse_arguments()
    batch = synthetic_batch(args.rows, args.explained_share, args.seed)
    print(
        f"decision log, {args.rows:,} synthetic VW-shaped rows (11 inputs, {len(batch.explanations):,} explained "
        f"with 5 entries), chunks of 10,000 as score-batch writes them"
    )
    print(f"machine before the measurements: {machine_load()}")
    with tempfile.TemporaryDirectory(prefix="bench-log-floor-") as work:
        python_side = print_python_side(batch, Path(work) / "python.db")
        results = {
            "sqlite": {shape: append_on(sqlite_url(Path(work), shape), shape, batch) for shape in SHAPES}
        }
        if postgres_answers():
            results["postgresql"] = {}
            for shape in SHAPES:
                with temporary_database() as url:
                    results["postgresql"][shape] = append_on(url, shape, batch)
        else:
            print(f"PostgreSQL: no server at {ADMIN_URL}, skipped")
    print_appends(results, args.rows)
    print(f"machine after the measurements: {machine_load()}")
    print_floor(results, python_side, args.rows)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000, help="rows to log (default 200,000)")
    parser.add_argument(
        "--explained-share",
        type=float,
        default=0.065,
        help="share of rows with an explanation (default 0.065, as a VW batch selects)",
    )
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


def synthetic_batch(rows: int, explained_share: float, seed: int) -> Any:
    """Rows shaped like a VW batch: the champion's inputs as the case holds them (categories as text)."""
    from serving.log import BatchColumns

    rng = np.random.default_rng(seed)

    def pick(values: list[str]) -> np.ndarray:
        return np.array(values, dtype=object)[rng.integers(0, len(values), rows)]

    explained = np.flatnonzero(rng.random(rows) < explained_share)
    entries = [
        {"feature": name, "label": name.replace("_", " "), "value": 1.0, "contribution": 0.1}
        for name in ("dagloon", "sector", "dienstverband_maanden", "dagen_tot_aanvraag", "contractsoort")
    ]
    return BatchColumns(
        scan="vw",
        model_name="riskscan-vw",
        model_version="2",
        threshold=0.42,
        margin_scale="log-odds (raw LightGBM margin, before calibration)",
        audit_sha256="ab" * 32,
        decision_id=None,
        case_ids=[f"A{n:08d}" for n in range(rows)],
        inputs={
            "reden_einde_dienstverband": pick(
                ["bedrijfseconomisch", "einde_contract", "ontslag_op_staande_voet"]
            ),
            "contractsoort": pick(["vast", "tijdelijk", "oproep"]),
            "sector": pick(
                ["bouw", "zorg", "handel", "horeca", "onderwijs", "industrie", "vervoer", "overig"]
            ),
            "werkgever_grootte": pick(["klein", "middel", "groot", "zeer_groot"]),
            "vaststellingsovereenkomst": rng.random(rows) < 0.2,
            "dienstverband_maanden": rng.integers(1, 400, rows),
            "uren_per_week": np.round(rng.uniform(8, 40, rows) * 2) / 2,
            "dagloon": np.round(rng.uniform(40, 290, rows), 2),
            "dagen_tot_aanvraag": rng.integers(0, 90, rows),
            "eerdere_ww_uitkeringen": rng.integers(0, 4, rows),
            "weken_gewerkt_36": rng.integers(26, 37, rows),
        },
        scores=rng.random(rows),
        signal=np.isin(np.arange(rows), explained),
        control=np.zeros(rows, dtype=bool),
        control_draws=rng.random(rows),
        explanations={int(row): (entries, -2.1) for row in explained},
    )


def clock() -> datetime:
    return datetime.now(UTC)


def print_python_side(batch: Any, path: Path) -> float:
    """The log's work before its INSERT, per step; returns the total CPU us a row."""
    from riskscan.db import make_engine
    from serving.log import _encode
    from serving.log._batch import CheckedBatch
    from serving.log._chain import INSERT_CHUNK, DecisionLog

    engine = make_engine(f"sqlite:///{path}")
    log = DecisionLog(engine, clock)
    steps: dict[str, list[float]] = {
        "check and seal": [0, 0],
        "encode": [0, 0],
        "chain hashes, parameters": [0, 0],
    }

    def step(name: str, work: Callable[[], Any]) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        steps[name][0] += time.perf_counter() - wall
        steps[name][1] += time.process_time() - cpu
        return result

    checked = step("check and seal", lambda: CheckedBatch(batch))
    last: tuple[int, str] | None = None
    for start in range(0, len(batch), INSERT_CHUNK):
        stop = min(start + INSERT_CHUNK, len(batch))
        columns = step("check and seal", lambda: checked.columns(start, stop))  # noqa: B023
        encoded = step("encode", lambda: _encode.encode(columns))  # noqa: B023
        written, _, _ = step("chain hashes, parameters", lambda: log._linked(encoded, last))  # noqa: B023
        last = (written[0] + len(written[3]) - 1, written[3][-1])
    engine.dispose()
    rows = len(batch)
    print("\nPython side, no database (us a row, wall / CPU of this process):")
    for name, (wall, cpu) in steps.items():
        print(f"  {name:<28} {wall / rows * 1e6:6.1f} / {cpu / rows * 1e6:6.1f}")
    total_wall = sum(wall for wall, _ in steps.values())
    total_cpu = sum(cpu for _, cpu in steps.values())
    print(f"  {'total':<28} {total_wall / rows * 1e6:6.1f} / {total_cpu / rows * 1e6:6.1f}")
    return total_cpu / rows * 1e6


def sqlite_url(work: Path, shape: str) -> str:
    return f"sqlite:///{work / (shape.replace(' ', '-') + '.db')}"


def postgres_answers() -> bool:
    import psycopg

    try:
        psycopg.connect(ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError:
        return False
    return True


def append_on(url: str, shape: str, batch: Any) -> tuple[float, float]:
    """``append_batch`` of the whole batch on a fresh database of ``shape``: (wall s, CPU s)."""
    from serving.store import ServingStore

    ServingStore(url).close()  # migrates to head
    reshape(url, shape)
    with ServingStore(url) as store:
        wall, cpu = time.perf_counter(), time.process_time()
        store.append_batch(batch)
        return time.perf_counter() - wall, time.process_time() - cpu


def reshape(url: str, shape: str) -> None:
    """Rebuild ``decision_log`` with the same columns and only the constraints ``shape`` keeps. The
    database is empty and thrown away; a ``bare table`` also loses the (empty) tables whose foreign keys
    point at the log's request id, since SQLite refuses writes to a parent key with no unique index."""
    if shape == "schema":
        return
    from sqlalchemy import Column, MetaData, Table
    from sqlalchemy.schema import CreateIndex, CreateTable

    from riskscan.db import make_engine
    from serving.log._tables import LOG

    bare = Table(
        "decision_log",
        MetaData(),
        *(Column(c.name, c.type, primary_key=c.primary_key, autoincrement=False) for c in LOG.columns),
    )
    engine = make_engine(url)
    dialect = engine.dialect
    statements = ["DROP TABLE decision_log" + (" CASCADE" if dialect.name == "postgresql" else "")]
    statements.append(str(CreateTable(bare).compile(dialect=dialect)))
    if shape == "no checks":
        statements.append("CREATE UNIQUE INDEX uq_decision_log_request_id ON decision_log (request_id)")
        statements += [str(CreateIndex(index).compile(dialect=dialect)) for index in LOG.indexes]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if dialect.name == "sqlite":  # a no-op inside a transaction, so before the first statement
            cursor.execute("PRAGMA foreign_keys = OFF")
            if shape == "bare table":
                tables = [
                    row[0] for row in cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                ]
                statements[:0] = [
                    f'DROP TABLE "{table}"'
                    for table in tables
                    if any(
                        fk[2] == "decision_log"
                        for fk in cursor.execute(f'PRAGMA foreign_key_list("{table}")')
                    )
                ]
            cursor.execute("BEGIN")
        for statement in statements:
            cursor.execute(statement)
        raw.commit()
    finally:
        raw.close()
    engine.dispose()


def print_appends(results: dict[str, dict[str, tuple[float, float]]], rows: int) -> None:
    print("\nappend_batch end to end, fresh database (us a row, wall / CPU of this process):")
    for database, shapes in results.items():
        for shape, (wall, cpu) in shapes.items():
            print(f"  {database:<11} {shape:<11} {wall / rows * 1e6:6.1f} / {cpu / rows * 1e6:6.1f}")


def print_floor(results: dict[str, dict[str, tuple[float, float]]], python_cpu: float, rows: int) -> None:
    for database, shapes in results.items():
        schema = shapes["schema"][0] / rows * 1e6
        floor = shapes["bare table"][0] / rows * 1e6
        print(
            f"{database}: the log {schema:.1f} us a row wall; a bare table with no guarantee {floor:.1f} "
            f"(of which the Python side {python_cpu:.1f} us CPU); goal {GOAL_US:.0f}"
        )


if __name__ == "__main__":
    main()
