"""The cases the load generator sends: real VW applications from the home, and each server's body.

The bodies are written to a file, one a line, which wrk's ``cycle.lua`` reads and sends in turn.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from _serving import SCAN


def load_cases(home: Path, n: int) -> list[dict[str, Any]]:
    """The newest ``n`` non-Wajong VW applications as JSON-ready dicts: case_id, the features, wajong."""
    from features.register import default_register
    from models.specs import load_spec

    spec = load_spec(SCAN)
    key = default_register().tables[spec.table].key
    frame = pd.read_parquet(home / "data" / f"{spec.table}.parquet")
    frame = frame.loc[~frame["wajong"]].tail(n)
    columns: dict[str, list[Any]] = {"case_id": frame[key].astype(str).tolist()}
    for name in spec.features:
        series = frame[name].astype(object)
        columns[name] = [_plain(v) for v in series.where(series.notna(), None).tolist()]
    names = list(columns)
    return [
        {**dict(zip(names, row, strict=True)), "wajong": False} for row in zip(*columns.values(), strict=True)
    ]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def riskscan_body(case: dict[str, Any], top_n: int) -> bytes:
    """``POST /score`` on riskscan (and on the bare service, which takes the same body): one case."""
    return json.dumps({"scan": SCAN, "cases": [case], "top_n": top_n}).encode()


def mlflow_body(case: dict[str, Any]) -> bytes:
    """``POST /invocations`` on MLflow: the features only, as one dataframe record."""
    record = {k: v for k, v in case.items() if k not in ("case_id", "wajong")}
    return json.dumps({"dataframe_records": [record]}).encode()


def write_bodies(path: Path, bodies: list[bytes]) -> Path:
    """One body a line (JSON has no raw newlines), for ``cycle.lua``."""
    path.write_bytes(b"".join(body + b"\n" for body in bodies))
    return path


def read_bodies(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line]
