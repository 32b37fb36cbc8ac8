"""Fixtures of the event tests: fake chat-tool receivers on loopback port 0."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from tests.support.events import FakeReceiver, Received


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
