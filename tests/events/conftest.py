"""Fixtures of the event tests: fake chat-tool receivers on loopback port 0, event payloads."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

Answer = tuple[int, dict[str, str], str]


@dataclass
class Received:
    """One request a fake receiver got."""

    path: str
    headers: dict[str, str]
    body: Any
    at: float
    raw: bytes = b""


@dataclass
class FakeReceiver:
    """An HTTP server that records every request and answers what `answer` says."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    answer: Callable[[Received], Answer] = lambda _r: (200, {}, "ok")
    delay: float = 0.0
    in_flight: int = 0
    most_in_flight: int = 0  # the most requests it was handling at once

    @property
    def bodies(self) -> list[Any]:
        return [request.body for request in self.requests]

    async def wait_for(self, count: int, within: float = 10.0) -> list[Received]:
        """Wait until at least `count` requests arrived."""
        deadline = time.monotonic() + within
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"got {len(self.requests)} requests, wanted {count}")
            await asyncio.sleep(0.02)
        return self.requests


@pytest.fixture
async def make_receiver() -> AsyncIterator[Callable[[], Awaitable[FakeReceiver]]]:
    """Start fake receivers on free loopback ports; all stop after the test."""
    runners: list[web.AppRunner] = []

    async def make() -> FakeReceiver:
        receiver = FakeReceiver()

        async def handle(request: web.Request) -> web.Response:
            raw = await request.read()
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode()
            seen = Received(request.path_qs, dict(request.headers), body, time.time(), raw)
            receiver.requests.append(seen)
            status, headers, text = receiver.answer(seen)
            receiver.in_flight += 1
            receiver.most_in_flight = max(receiver.most_in_flight, receiver.in_flight)
            try:
                if receiver.delay:
                    await asyncio.sleep(receiver.delay)
            finally:
                receiver.in_flight -= 1
            return web.Response(status=status, headers=headers, text=text)

        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        receiver.url = f"http://127.0.0.1:{port}"
        return receiver

    yield make
    for runner in runners:
        await runner.cleanup()


def event(phase: str = "Progressing", message: str = "Advance podinfo.test canary weight 10",
          event_type: str = "Normal", name: str = "podinfo", namespace: str = "test",
          timestamp: int | None = None, **extra: str) -> dict[str, Any]:
    """A payload as Flagger posts it to an event webhook."""
    stamp = timestamp if timestamp is not None else time.time_ns() // 1_000_000
    return {"name": name, "namespace": namespace, "phase": phase, "checksum": "85d557f47b",
            "metadata": {"eventMessage": message, "eventType": event_type,
                         "timestamp": str(stamp), **extra}}
