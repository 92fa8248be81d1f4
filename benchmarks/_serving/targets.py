"""The servers under test: each started in its own process group, watched for CPU, stopped as a group.

A :class:`Target` is a running server together with what the load generator sends it: the scoring URL,
the file of request bodies and the headers. Three servers: riskscan's governed service, the bare BentoML
service (``bare_service.py``, which also has the no-op endpoint of the HTTP floor) and MLflow.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from _setup import ROOT, VENV_BIN

from serving.gate import KEEP_ALIVE_SECONDS

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """A server started in its own process group, stopped by terminating the whole group."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], ready_url: str, log: Path) -> None:
        self.name, self.command, self.env, self.ready_url, self.log = name, command, env, ready_url, log
        self.process: subprocess.Popen[bytes] | None = None
        self._seen: dict[int, psutil.Process] = {}

    def start(self) -> None:
        with self.log.open("wb") as handle:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=ROOT,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _running(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise RuntimeError(f"{self.name} was not started")
        return self.process

    def wait_ready(self, timeout: float = 240.0) -> float:
        process = self._running()
        start = time.perf_counter()
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.ready_url, timeout=2).status_code == 200:
                    return time.perf_counter() - start
            if time.perf_counter() - start > timeout:
                raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.5)

    def log_tail(self, lines: int = 25) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self._running().pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        for proc in tree:
            self._seen.setdefault(proc.pid, proc)
        return tree

    def cpu_seconds(self) -> float:
        """User + system CPU of the live process tree (worker processes included)."""
        total = 0.0
        for proc in self._tree():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def describe(self) -> str:
        names = []
        for proc in self._tree():
            with contextlib.suppress(psutil.Error):
                names.append(f"{proc.pid}:{' '.join(proc.cmdline()[:3])[-60:]}")
        return f"{len(names)} process(es)"

    def stop(self) -> None:
        if self.process is None:
            return
        self._tree()  # remember every descendant, in case one left the group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):  # stragglers still in the group
            os.killpg(self.process.pid, signal.SIGKILL)
        for proc in self._seen.values():  # and any descendant that started its own session
            with contextlib.suppress(psutil.Error):
                if proc.is_running():
                    proc.kill()
        self.process = None


@dataclass(frozen=True)
class Target:
    """A server and what the load generator sends it: ``bodies`` is a file of request bodies, one a line."""

    server: Server
    score_url: str
    bodies: Path
    headers: dict[str, str]

    @property
    def name(self) -> str:
        return self.server.name


def riskscan_target(
    name: str, env: dict[str, str], log: Path, bodies: Path, headers: dict[str, str]
) -> Target:
    """``riskscan serve`` (BentoML, the governed service) on a free port: ready at /readyz, scores at /score."""
    port = str(free_port())
    base = f"http://{HOST}:{port}"
    command = [str(VENV_BIN / "riskscan"), "serve", "--port", port, "--host", HOST]
    return Target(Server(name, command, env, f"{base}/readyz", log), f"{base}/score", bodies, headers)


def bare_target(name: str, env: dict[str, str], log: Path, bodies: Path) -> Target:
    """The bare BentoML service (``bare_service.py``) on a free port: /score, and the no-op /noop."""
    port = str(free_port())
    base = f"http://{HOST}:{port}"
    command = [
        str(VENV_BIN / "bentoml"),
        "serve",
        "bare_service:Bare",
        "--working-dir",
        str(Path(__file__).parent),
        "--port",
        port,
        "--host",
        HOST,
        # The same keep-alive as `riskscan serve`, so the two servers differ only in what they do.
        "--timeout-keep-alive",
        str(KEEP_ALIVE_SECONDS),
    ]
    return Target(Server(name, command, env, f"{base}/readyz", log), f"{base}/score", bodies, {})


def mlflow_target(model_uri: str, env: dict[str, str], log: Path, bodies: Path) -> Target:
    """``mlflow models serve`` of a pyfunc, one uvicorn worker, on a free port: /invocations, ready at /ping."""
    port = str(free_port())
    base = f"http://{HOST}:{port}"
    command = [
        str(VENV_BIN / "mlflow"),
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "-p",
        port,
        "--host",
        HOST,
        "--workers",
        "1",
    ]
    return Target(Server("mlflow", command, env, f"{base}/ping", log), f"{base}/invocations", bodies, {})
