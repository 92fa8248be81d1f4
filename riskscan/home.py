"""Where riskscan keeps its state: one home folder, ``RISKSCAN_HOME`` (default ``./var``).

It holds ``data/`` (source tables), ``mlflow.db`` and ``mlartifacts/`` (unless ``MLFLOW_TRACKING_URI``
points elsewhere) and ``governance.db`` (unless ``RISKSCAN_DATABASE_URL`` points elsewhere). Nothing else
is written outside it, apart from paths a command is given explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    path = Path(os.environ.get("RISKSCAN_HOME", "var")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    path = home() / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI when set, else an embedded SQLite store in the home folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home() / 'mlflow.db'}"


def artifact_root() -> str:
    return (home() / "mlartifacts").as_uri()


def register_path() -> Path | None:
    """RISKSCAN_REGISTER when set: the feature register in force instead of the shipped one (the stay-abroad
    scenario runs its home under the register of mid-2022). Not stored in the home: which register is in
    force is the caller's explicit choice, like the database URL."""
    value = os.environ.get("RISKSCAN_REGISTER")
    return Path(value).resolve() if value else None


def database_url() -> str:
    """RISKSCAN_DATABASE_URL when set, else SQLite ``governance.db`` in the home folder."""
    return os.environ.get("RISKSCAN_DATABASE_URL") or f"sqlite:///{home() / 'governance.db'}"
