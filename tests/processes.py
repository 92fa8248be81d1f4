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


def start_server(
    command: list[str],
    *,
    env: dict[str, str],
    ready_url: str,
    log_path: Path,
    timeout: float = 300,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own process group and return it once ``ready_url`` answers 200. Fails (with
    the log's path) when the process exits or is not ready within ``timeout`` s, and then stops it."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"{command[0]} exited with {process.returncode}; see {log_path}")
        try:
            if httpx.get(ready_url, timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop_server(process)
            pytest.fail(f"{command[0]} was not ready in {timeout:.0f} s; see {log_path}")
        time.sleep(0.5)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop a started server: it and its workers share a process group, so never leave workers behind."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


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
    """:func:`start_server` as a context: yields the ready process and stops it afterwards."""
    process = start_server(command, env=env, ready_url=ready_url, log_path=log_path, timeout=timeout, cwd=cwd)
    try:
        yield process
    finally:
        stop_server(process)
