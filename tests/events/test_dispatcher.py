"""The dispatcher on its own (a queue in memory, a fake receiver): nothing stalls a lane."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from loadtester.event import Event
from loadtester.events.config import EventConfig, load_event_config
from loadtester.events.dispatcher import Dispatcher
from loadtester.models import WebhookPayload
from loadtester.settings import Settings
from loadtester.state.base import Delivery
from loadtester.state.sqlite_events import SqliteEventQueue
from tests.support.events import FakeReceiver, event

Make = Callable[[], Awaitable[FakeReceiver]]


def _config(tmp_path: Path, url: str, delivery: str = "", headers: str = "") -> EventConfig:
    path = tmp_path / "events.yaml"
    path.write_text(f"sinks:\n  hook: {{type: webhook, url: '{url}'{headers}}}\n"
                    f"delivery: {{min_backoff: 50ms, max_backoff: 200ms{delivery}}}\n")
    return load_event_config(Settings(config=str(path), state="memory"))


def _event(name: str = "podinfo", message: str = "m", **changes: Any) -> Event:
    payload = WebhookPayload.model_validate(event(name=name, message=message))
    return dataclasses.replace(Event.from_payload(payload), **changes)


class CrashingOnce(SqliteEventQueue):
    """A queue whose first claim fails as a bug would."""

    crashed = False

    async def claim_due(self, sink: str, now: float, limit: int,
                        lease: float) -> list[Delivery]:
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("a bug in the pass")
        return await super().claim_due(sink, now, limit, lease)


@asynccontextmanager
async def _running(config: EventConfig,
                   queue: SqliteEventQueue | None = None) -> AsyncIterator[SqliteEventQueue]:
    queue = queue or SqliteEventQueue(sqlite3.connect(":memory:", isolation_level=None))
    async with aiohttp.ClientSession() as session:
        dispatcher = Dispatcher(queue, config.sinks, config.delivery, session)
        dispatcher.start()
        try:
            yield queue
        finally:
            await dispatcher.close()


async def _put(queue: SqliteEventQueue, item: Event, now: float | None = None) -> None:
    await queue.enqueue(item, ["hook"], item.identity(), 0, time.time() if now is None else now)


async def _settled(queue: SqliteEventQueue, wanted: dict[str, int]) -> None:
    for _ in range(200):
        if await queue.counts() == wanted:
            return
        await asyncio.sleep(0.02)
    assert await queue.counts() == wanted


async def test_unsendable_entries_are_dead_and_the_lane_goes_on(make_receiver: Make,
                                                                tmp_path: Path) -> None:
    """An unreadable event, a timestamp no datetime holds and a failing template are each
    dead-lettered at once with the reason; the entry behind them is delivered."""
    hook = await make_receiver()
    divide = "{{ 1 // (metadata.zero | default(1) | int) }}"
    config = _config(tmp_path, hook.url, headers=f", headers: {{X-N: '{divide}'}}")
    queue = SqliteEventQueue(sqlite3.connect(":memory:", isolation_level=None))
    await _put(queue, _event(message="unreadable"))
    queue._db.execute("UPDATE outbox SET event = '[]'")
    await _put(queue, _event(message="far future", timestamp_ms=10**20))
    await _put(queue, _event(message="divides by zero", metadata={"zero": "0"}))
    await _put(queue, _event(message="fine", metadata={"zero": "1"}))
    with capture_logs() as logs:
        async with _running(config, queue):
            await _settled(queue, {"dead": 3, "delivered": 1})
    assert [request.body["message"] for request in hook.requests] == ["fine"]
    reasons = [line["reason"] for line in logs if line["event"] == "event dead-lettered"]
    assert reasons[0] == "the stored event cannot be read"
    assert reasons[1].startswith("cannot build the message: ")
    assert "ZeroDivisionError" in reasons[2]


async def test_too_old_entries_are_dead_without_sending(make_receiver: Make,
                                                        tmp_path: Path) -> None:
    """An entry older than max_age when claimed is dead-lettered and never sent."""
    hook = await make_receiver()
    config = _config(tmp_path, hook.url, ", max_age: 1m")
    async with _running(config) as queue:
        await _put(queue, _event(), now=time.time() - 3600)
        await _settled(queue, {"dead": 1})
    assert hook.requests == []


async def test_max_attempts_dead_letters(make_receiver: Make, tmp_path: Path) -> None:
    """With max_attempts: 2 a failing delivery is tried twice, then dead-lettered."""
    hook = await make_receiver()
    hook.answer = lambda _r: (503, {}, "down")
    config = _config(tmp_path, hook.url, ", max_attempts: 2")
    with capture_logs() as logs:
        async with _running(config) as queue:
            await _put(queue, _event())
            await _settled(queue, {"dead": 1})
    assert len(hook.requests) == 2
    (line,) = [line for line in logs if line["event"] == "event dead-lettered"]
    assert line["reason"] == "HTTP 503: down; 2 attempts failed"


@pytest.mark.system
async def test_a_crashing_pass_does_not_stop_delivery(make_receiver: Make,
                                                      tmp_path: Path) -> None:
    """A pass that raises is logged; the next pass delivers."""
    hook = await make_receiver()
    queue = CrashingOnce(sqlite3.connect(":memory:", isolation_level=None))
    await _put(queue, _event())
    with capture_logs() as logs:
        async with _running(_config(tmp_path, hook.url), queue):
            await hook.wait_for(1)
    assert any(line["event"] == "event queue pass failed" for line in logs)


@pytest.mark.system
async def test_a_failing_sink_gets_one_probe_at_a_time(make_receiver: Make,
                                                       tmp_path: Path) -> None:
    """Once a sink failed, its lanes are tried one at a time, then all flow when it is back."""
    hook = await make_receiver()
    hook.delay = 0.02
    up = {"now": False}
    hook.answer = lambda _r: (200, {}, "ok") if up["now"] else (500, {}, "down")
    async with _running(_config(tmp_path, hook.url)) as queue:
        await _put(queue, _event("first"))
        await hook.wait_for(1)
        await asyncio.sleep(0.1)
        for index in range(200):
            await _put(queue, _event(f"c{index}"))
        seen = len(hook.requests)
        hook.most_in_flight = 0
        await asyncio.sleep(1.0)
        overlapping = hook.most_in_flight
        tried = len(hook.requests) - seen
        up["now"] = True
        await _settled(queue, {"delivered": 201})
    assert overlapping == 1
    assert 1 <= tried <= 20  # probes every 50-200 ms, not one per lane


class SlowToConfirm(SqliteEventQueue):
    """A queue whose store applies `delivered` at once but whose answer comes late (Redis on
    another connection): a claim in between already sees the lane's next head."""

    async def delivered(self, entry: Delivery, now: float) -> None:
        await super().delivered(entry, now)
        await asyncio.sleep(0.3)


async def test_next_head_claimed_before_the_confirmation_is_sent(make_receiver: Make,
                                                                 tmp_path: Path) -> None:
    """A lane's next head handed out while the previous outcome is still being confirmed is
    delivered at once, not left leased to nobody until the lease lapses."""
    hook = await make_receiver()
    config = _config(tmp_path, hook.url)
    queue = SlowToConfirm(sqlite3.connect(":memory:", isolation_level=None))
    for message in ("first", "second"):
        await _put(queue, _event(message=message))
    async with aiohttp.ClientSession() as session:
        dispatcher = Dispatcher(queue, config.sinks, config.delivery, session)
        dispatcher.start()
        await hook.wait_for(1)
        await asyncio.sleep(0.1)
        dispatcher.wake()  # a pass while "first" is still being confirmed
        await hook.wait_for(2, within=5)  # far below the 20 s lease
        await dispatcher.close()
    assert [request.body["message"] for request in hook.requests] == ["first", "second"]
