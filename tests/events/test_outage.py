"""Nothing lost: a receiver outage plus kill -9 of the service; every event arrives, in order."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.events import FakeReceiver, Received, event

ROOT = Path(__file__).resolve().parents[2]
CANARIES = ("alpha", "beta", "gamma")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Service:
    """`python -m loadtester` as a real subprocess on a free port."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "loadtester", f"-port={self.port}", "-host=127.0.0.1",
             "-log-level=info", *args],
            cwd=ROOT, stdout=self._log, stderr=self._log,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    async def ready(self, session: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the service exited at start-up"
            try:
                async with session.get(self.url + "/healthz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError("the service did not become ready")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Callable[[list[str]], Service]]:
    """Start service subprocesses; any still running are stopped after the test."""
    started: list[Service] = []

    def start(args: list[str]) -> Service:
        service = Service(args, tmp_path / "service.log")
        started.append(service)
        return service

    yield start
    for service in started:
        if not service._log.closed:
            service.stop()


async def _post_batch(session: aiohttp.ClientSession, url: str, batch: str, steps: int) -> None:
    for step in range(steps):
        for name in CANARIES:
            payload = event(name=name, message=f"{name} {batch}{step:02d}",
                            timestamp=1_700_000_000_000 + step)
            async with session.post(url + "/events", json=payload) as answer:
                assert answer.status == 202, await answer.text()


@pytest.mark.system
async def test_outage_and_kill_9_lose_nothing(make_receiver: Any, services: Any,
                                              tmp_path: Path) -> None:
    """503s for a while, then kill -9 mid-delivery and a restart: all arrive, in order per
    canary; only a delivery in flight at the kill arrives twice."""
    receiver: FakeReceiver = await make_receiver()
    outage = {"on": True}
    accepted: list[Received] = []

    def answer(request: Received) -> tuple[int, dict[str, str], str]:
        if outage["on"]:
            return 503, {}, "down for maintenance"
        accepted.append(request)
        return 200, {}, "ok"

    receiver.answer = answer
    config = tmp_path / "events.yaml"
    config.write_text(f"sinks:\n  hook: {{type: webhook, url: '{receiver.url}/hook'}}\n"
                      "delivery: {min_backoff: 50ms, max_backoff: 400ms}\n")
    args = [f"-state={tmp_path / 'state'}", f"-config={config}", "-event-fold-window=0"]
    steps = 15
    async with aiohttp.ClientSession() as session:
        first = services(args)
        await first.ready(session)
        await _post_batch(session, first.url, "a", steps)
        await receiver.wait_for(3 * len(CANARIES))  # several 503 answers per lane
        await asyncio.sleep(0.5)
        assert accepted == []
        receiver.delay = 0.02  # slow answers: the kill finds deliveries in flight
        outage["on"] = False
        while len(accepted) < 10:
            await asyncio.sleep(0.001)
        first.kill()
        delivered_before_kill = len(accepted)
        assert delivered_before_kill < steps * len(CANARIES)

        second = services(args)
        await second.ready(session)
        await _post_batch(session, second.url, "b", steps)
        deadline = time.monotonic() + 30
        wanted = {f"{name} {batch}{step:02d}" for name in CANARIES for batch in "ab"
                  for step in range(steps)}
        while {r.body["message"] for r in accepted} != wanted:
            assert time.monotonic() < deadline, "not every event arrived"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        second.stop()

    for name in CANARIES:
        seen = [r.body["message"] for r in accepted if r.body["name"] == name]
        expected = [f"{name} {batch}{step:02d}" for batch in "ab" for step in range(steps)]
        assert list(dict.fromkeys(seen)) == expected, seen
        repeats = len(seen) - len(expected)
        assert repeats <= 1, f"{name}: {repeats} duplicates"
        if repeats:
            twice = [m for m in expected if seen.count(m) == 2]
            assert len(twice) == 1
            index = seen.index(twice[0])
            assert seen[index + 1] == twice[0], "a duplicate must be the in-flight delivery"
