"""A private PostgreSQL cluster for tests that stop the database: ``initdb`` and ``pg_ctl`` in a temporary folder.

The machine's shared server is never stopped; a test that needs an outage stops only this cluster, which
it started. PostgreSQL refuses to run as root, so under root the cluster runs as the ``postgres`` user
(``runuser``). ``fsync`` is off: the cluster is thrown away with the test.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.serving.conftest import free_port


def _bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        pytest.fail(f"PostgreSQL's {name} is not installed; the outage tests need initdb and pg_ctl")
    return found


@dataclass
class PrivateCluster:
    data: Path
    port: int
    log: Path
    as_user: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *arguments: str) -> None:
        subprocess.run(
            [*self.as_user, _bin("pg_ctl"), "-D", str(self.data), *arguments], check=True, capture_output=True
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off"
        self._pg_ctl("-o", options, "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Stop at once (``-m fast``): open transactions are rolled back, connections cut."""
        self._pg_ctl("-m", "fast", "-w", "stop")


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A running cluster in a new folder under the system's temporary folder (pytest's are private to
    root, and the cluster may run as ``postgres``), on a free port, trust authentication; stopped and
    removed afterwards."""
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="riskscan-postgres-"))
    if as_user:
        shutil.chown(base, user="postgres")
    data = base / "data"
    subprocess.run(
        [
            *as_user,
            _bin("initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    cluster = PrivateCluster(data=data, port=free_port(), log=base / "postgres.log", as_user=as_user)
    cluster.start()
    try:
        yield cluster
    finally:
        subprocess.run(
            [*as_user, _bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)
