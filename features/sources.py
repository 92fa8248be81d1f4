"""Source tables on disk: a Parquet file per table plus the manifest that describes how it was made.

The manifest (``manifest.json`` beside the tables) records, per table, the SHA-256 of the Parquet file
and the fraction of the national caseload the table represents. Real extracts get a manifest too (with
``sample_fraction`` 1.0); the operating point is computed from national volumes, so it must be known. A table
may be complete from a month on (``full_volume_from``, YYYY-MM) and a sample before it: the fraction is then
``sample_fraction`` before that month and 1 from it (:meth:`SourceTable.fractions`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskscan.errors import InvalidInput, NotFound

MANIFEST_FILE = "manifest.json"


@dataclass
class SourceTable:
    name: str
    frame: pd.DataFrame
    path: Path
    sha256: str
    sample_fraction: float
    manifest: dict[str, Any]
    full_volume_from: str | None = None

    def fractions(self, dates: pd.Series) -> np.ndarray:
        """The share of the national caseload each row's month represents (1 from ``full_volume_from``)."""
        fractions = np.full(len(dates), self.sample_fraction)
        if self.full_volume_from is not None:
            months = dates.dt.to_period("M").to_numpy()
            fractions[months >= pd.Period(self.full_volume_from, "M")] = 1.0
        return fractions


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_source(data_dir: Path, table: str) -> SourceTable:
    """Read one table and check it against its manifest entry (hash and sample fraction)."""
    path = data_dir / f"{table}.parquet"
    manifest_path = data_dir / MANIFEST_FILE
    if not path.exists():
        raise NotFound(f"source table {path} does not exist; run 'riskscan data generate' first")
    if not manifest_path.exists():
        raise NotFound(f"manifest {manifest_path} is missing; every source table needs one")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    entry = manifest.get("tables", {}).get(table)
    if entry is None:
        raise InvalidInput(f"manifest {manifest_path} has no entry for table '{table}'")
    sha = file_sha256(path)
    if entry.get("sha256") != sha:
        raise InvalidInput(
            f"table {path} does not match its manifest (sha256 {sha[:12]} != {str(entry.get('sha256'))[:12]})"
        )
    fraction = float(entry["sample_fraction"])
    if not 0 < fraction <= 1:
        raise InvalidInput(
            f"manifest sample_fraction for '{table}' is {fraction}; expected a value in (0, 1]"
        )
    full_volume_from = entry.get("full_volume_from")
    return SourceTable(table, pd.read_parquet(path), path, sha, fraction, manifest, full_volume_from)
