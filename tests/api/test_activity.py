"""Canary sightings: every task, gate and event call shows the canary; writes are debounced."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from loadtester.activity import Activity, open_activity
from loadtester.keys import STATE
from loadtester.settings import Settings
from loadtester.state.base import KEEP_HISTORY, CanaryRecord, Sighting, State
from loadtester.state.open import open_state
from tests.support.client import ClientFactory
from tests.support.events import event
from tests.support.tasks import payload, post


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[State]:
    """A SQLite state of its own."""
    async with open_state(Settings(state=str(tmp_path / "state"), load_workers=1)) as opened:
        yield opened


async def canary(client: Any, name: str = "podinfo", namespace: str = "test"
                 ) -> CanaryRecord | None:
    """The app's history record of one canary."""
    record: CanaryRecord | None = await client.server.app[STATE].history.canary(name, namespace)
    return record


async def test_task_call_records_the_canary(make_client: ClientFactory) -> None:
    """A POST / task call makes the canary appear with its phase and checksum."""
    client = await make_client()
    assert await canary(client) is None
    assert await post(client, payload({"type": "bash", "cmd": "true"})) == (200, "")
    record = await canary(client)
    assert record is not None
    assert (record.phase, record.checksum) == ("Progressing", "85d557f47b")
    assert record in await client.server.app[STATE].history.canaries(0)


@pytest.mark.parametrize("path", ["/gate/check", "/gate/open", "/rollback/check",
                                  "/rollback/close"])
async def test_gate_call_records_the_canary(make_client: ClientFactory, path: str) -> None:
    """Every gate and rollback call makes the canary appear."""
    client = await make_client()
    body = payload(None, phase="WaitingPromotion", checksum="abc")
    status, _ = await post(client, body, path)
    assert status in (200, 202, 403)
    record = await canary(client)
    assert record is not None and (record.phase, record.checksum) == ("WaitingPromotion", "abc")


async def test_event_records_the_canary(make_client: ClientFactory) -> None:
    """An event (even with no sink configured) makes the canary appear with its phase."""
    client = await make_client()
    assert await post(client, event(phase="Promoting", name="web", namespace="prod"),
                      "/events") == (202, "")
    record = await canary(client, "web", "prod")
    assert record is not None and (record.phase, record.checksum) == ("Promoting", "85d557f47b")


async def test_refused_call_records_nothing(make_client: ClientFactory) -> None:
    """A call refused by -namespace-regexp leaves no trace of its canary."""
    client = await make_client(namespace_regexp="^prod$")
    assert (await post(client, payload(None), "/gate/check"))[0] == 403
    assert await client.server.app[STATE].history.canaries(0) == []


async def test_phase_change_is_written_at_once(make_client: ClientFactory) -> None:
    """Repeated checks in one phase leave the row; a new phase or checksum is written at once."""
    client = await make_client()
    await post(client, payload(None, phase="Progressing"), "/gate/check")
    first = await canary(client)
    await post(client, payload(None, phase="Progressing"), "/gate/check")
    assert await canary(client) == first  # debounced: not written again
    await post(client, payload(None, phase="WaitingPromotion"), "/gate/check")
    moved = await canary(client)
    assert first is not None and moved is not None
    assert moved.phase == "WaitingPromotion" and moved.phase_at > first.phase_at
    await post(client, payload(None, phase="WaitingPromotion", checksum="new"), "/gate/check")
    again = await canary(client)
    assert again is not None and again.checksum == "new"


async def test_debounce_refreshes_after_its_interval(state: State) -> None:
    """With nothing new, a sighting is written again once the refresh interval has passed."""
    activity = Activity(state, refresh=0.0)
    await activity.seen("podinfo", "test", "Progressing", "abc", "gate")
    first = await state.history.canary("podinfo", "test")
    await asyncio.sleep(0.01)
    await activity.seen("podinfo", "test", "Progressing", "abc", "gate")
    second = await state.history.canary("podinfo", "test")
    assert first is not None and second is not None and second.last_seen > first.last_seen


async def test_nameless_calls_are_not_recorded(state: State) -> None:
    """A payload naming no canary (Go's endpoints accept it) records nothing."""
    activity = Activity(state)
    await activity.seen("", "test", "Progressing", "abc", "gate")
    await activity.seen("podinfo", "", "Progressing", "abc", "gate")
    assert await state.history.canaries(0) == []


async def test_opening_prunes_old_history(state: State) -> None:
    """open_activity prunes canaries older than KEEP_HISTORY when it starts."""
    now = time.time()
    await state.history.seen(Sighting("old", "test", "Succeeded", "abc", "gate",
                                      now - KEEP_HISTORY - 60))
    await state.history.seen(Sighting("new", "test", "Progressing", "abc", "gate", now))
    async with open_activity(state):
        for _ in range(500):
            if await state.history.canary("old", "test") is None:
                break
            await asyncio.sleep(0.01)
        assert await state.history.canary("old", "test") is None
    assert await state.history.canary("new", "test") is not None
