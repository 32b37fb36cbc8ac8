"""The real service as a subprocess: a free port, one HTTP request, a started process and its log.

tests/conftest.py builds its `start_service` fixture on `Services`; a test that needs another
user, environment or working directory (tests/k8s/test_flagger_install.py) uses it directly.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# The gate payload of a canary as Flagger posts it.
GATE = {"name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "abc"}


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, headers (names lower-cased) and body."""

    status: int
    headers: dict[str, str]
    text: str


def fetch(
    port: int,
    path: str,
    body: dict[str, Any] | bytes | None = None,
    method: str = "POST",
    timeout: float = 30,
) -> Reply:
    """One HTTP request to the service on 127.0.0.1:port."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return Reply(response.status, headers, response.read().decode())
    finally:
        connection.close()


def request(
    port: int,
    path: str,
    body: dict[str, Any] | bytes | None = None,
    method: str = "POST",
    timeout: float = 30,
) -> tuple[int, str]:
    """Status and body of one HTTP request to the service."""
    reply = fetch(port, path, body, method, timeout)
    return reply.status, reply.text


@dataclass
class Service:
    """One running `loadtester` process."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def wait_healthy(self, within: float = 20) -> float:
        """Seconds until /healthz answered 200 OK; fails if the process exits first."""
        started = time.monotonic()
        while time.monotonic() - started < within:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"service exited {self.process.returncode}: {self.log.read_text()}"
                )
            try:
                if request(self.port, "/healthz", method="GET", timeout=1) == (200, "OK"):
                    return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"service not healthy within {within}s: {self.log.read_text()}")

    def open_gate_when_ready(self) -> None:
        """Healthy, ready (its store answers), and GATE opened."""
        self.wait_healthy()
        assert request(self.port, "/readyz", method="GET") == (200, "OK")
        assert request(self.port, "/gate/open", GATE) == (202, "")

    def stop(self, signum: int = signal.SIGTERM, within: float = 30) -> int:
        """Send signum and wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(within)

    def log_lines(self) -> list[str]:
        """What the service wrote to stderr so far."""
        return self.log.read_text().splitlines()


StartService = Callable[..., Service]


class Services:
    """Starts services on free ports, logging into `directory`; close() kills what still runs."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[Service] = []

    def start(
        self,
        *flags: str,
        command: Sequence[str] | None = None,
        port: int | None = None,
        env: dict[str, str] | None = None,
        with_port: bool = True,
        cwd: Path | None = None,
        inherit_env: bool = True,
    ) -> Service:
        """`python -m loadtester` (or `command`) with `flags` and -port=PORT appended.

        The environment is this process's plus PYTHONPATH (the checkout) plus `env`; with
        inherit_env=False only the last two. The working directory is `cwd` or `directory`.
        """
        port = free_port() if port is None else port
        argv = [*(command or [sys.executable, "-m", "loadtester"]), *flags]
        if with_port:
            argv.append(f"-port={port}")
        log = self.directory / f"service-{len(self.started)}.log"
        environ = {**(os.environ if inherit_env else {}), "PYTHONPATH": str(REPO), **(env or {})}
        with log.open("wb") as sink:
            process = subprocess.Popen(
                argv, stdout=sink, stderr=subprocess.STDOUT, env=environ,
                cwd=cwd or self.directory,
            )
        service = Service(process, port, log)
        self.started.append(service)
        return service

    def close(self) -> None:
        """Kill every service still running."""
        for service in self.started:
            if service.process.poll() is None:
                service.process.kill()
                service.process.wait(10)
