"""A server the tests start as a real process: a free port, a readiness poll, and a clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(
    command: list[str],
    *,
    env: dict[str, str],
    ready_url: str,
    log_path: Path,
    timeout: float = 300,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command``, wait until ``ready_url`` answers 200, yield the process, then stop it and its
    children. Fails (with the log's path) when the process exits or is not ready within ``timeout`` s."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        try:
            while True:
                if process.poll() is not None:
                    pytest.fail(f"{command[0]} exited with {process.returncode}; see {log_path}")
                try:
                    if httpx.get(ready_url, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"{command[0]} was not ready in {timeout:.0f} s; see {log_path}")
                time.sleep(0.5)
            yield process
        finally:
            # The server and its workers share a process group: stop them all, never leave workers behind.
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)
