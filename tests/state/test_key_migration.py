"""Stores written by an earlier release (tests/data/state, made by make_old_stores.py with
that release's code) open with every gate, lease, failure, pending event, history and audit
entry where this release's keys find them."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

from loadtester.event import Event
from loadtester.models import WebhookPayload
from loadtester.settings import Settings
from loadtester.state.base import GateChange, State, gate_key, rollback_key
from loadtester.state.open import open_state
from loadtester.state.sqlite_migrate import KEYS_VERSION
from loadtester.state.store_keys import canary_id
from loadtester.tasks.base import Task
from loadtester.tasks.registry import build_task
from loadtester.tasks.runner import stored_key
from tests.support.client import ClientFactory
from tests.support.redis_dump import restore

DATA = Path(__file__).parent.parent / "data" / "state"
AT = 1_760_000_000.0  # make_old_stores.AT: when every change in the fixtures was made


def old_store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A -state value naming a copy of the earlier release's store of `backend`."""
    if backend == "redis":
        url = str(request.getfixturevalue("redis_url"))
        assert restore(url, DATA / "old-redis.json") > 0
        return url
    directory = tmp_path / "state"
    directory.mkdir()
    shutil.copyfile(DATA / "old-sqlite.db", directory / "loadtester.db")
    return str(directory)


@pytest.fixture(params=("sqlite", "redis"))
async def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[State]:
    """The earlier release's store, opened by this release."""
    settings = Settings(state=old_store(request.param, tmp_path, request), load_workers=1)
    async with open_state(settings) as state:
        yield state


def task(cmd: str, **fields: Any) -> Task:
    """A `cmd` task of podinfo.team-b, as make_old_stores.py built it."""
    return build_task(WebhookPayload(name="podinfo", namespace="team-b",
                                     metadata={"type": "cmd", "cmd": cmd}, **fields))


async def test_gates_and_rollbacks_survive(migrated: State) -> None:
    """Open gates and rollbacks stay open (a bound one for its revision only), a closed one
    stays known, and the old row of the gate of `rollback.podinfo` (the key that was also
    podinfo's rollback key) is that gate's, not podinfo's rollback."""
    gates = migrated.gates
    assert await gates.is_open(gate_key("podinfo", "team-b"))
    assert await gates.is_open(gate_key("rollback.podinfo", "team-b"))
    assert not await gates.is_open(rollback_key("podinfo", "team-b"))
    assert await gates.get(rollback_key("podinfo", "team-b")) is None
    assert await gates.is_open(rollback_key("frontend", "team-a"), "abc")
    assert not await gates.is_open(rollback_key("frontend", "team-a"), "def")
    closed = await gates.get(gate_key("backend", "team-a"))
    assert closed is not None and not closed.is_open and closed.by == "10.0.0.4"
    opened = await gates.get(gate_key("rollback.podinfo", "team-b"))
    assert opened == GateChange(True, "10.0.0.2", "", AT, "rollback.podinfo", "team-b")
    counts = await gates.open_counts()
    if migrated.kind == "sqlite":  # Redis: see test_a_change_replaces_the_old_form
        assert counts == {"gate": 2, "rollback": 1}
    assert sum(counts.values()) == 3


async def test_a_change_replaces_the_old_form(migrated: State) -> None:
    """Closing the gate of `rollback.podinfo` closes it, leaves podinfo's rollback closed, and
    counts come out right on every backend from then on."""
    key = gate_key("rollback.podinfo", "team-b")
    await migrated.gates.set(key, GateChange(False, "10.0.0.9", "", AT + 10, "rollback.podinfo",
                                             "team-b"))
    assert not await migrated.gates.is_open(key)
    assert not await migrated.gates.is_open(rollback_key("podinfo", "team-b"))
    assert await migrated.gates.open_counts() == {"gate": 1, "rollback": 1}


async def test_failure_and_lease_survive(migrated: State) -> None:
    """The failure of the last run is handed out once under the task's new key; the lease
    held is still held until the canary's leases are revoked."""
    ledger = migrated.tasks
    failed = stored_key(task("exit 3", checksum="abc"))
    failure = await ledger.take_failure(failed)
    assert failure is not None and (failure.reason, failure.checksum) == ("exit status 3", "abc")
    assert await ledger.take_failure(failed) is None
    held, canary = stored_key(task("sleep 600")), canary_id("podinfo", "team-b")
    assert not await ledger.claim(held, canary, "new-owner", 12)
    assert await ledger.revoke(canary) == 1
    assert await ledger.claim(held, canary, "new-owner", 12)


async def test_pending_event_is_delivered_and_listed(migrated: State) -> None:
    """The event waiting in the outbox is claimed and delivered, and the canary's event history
    lists it with the events stored after the upgrade."""
    events = migrated.events
    assert await events.depth() == {"hook": 1}
    (entry,) = await events.claim_due("hook", AT + 1, 10, 20.0)
    assert entry.event is not None and entry.event.name == "podinfo"
    assert entry.event.message == "Advance podinfo.team-b canary weight 10"
    if migrated.kind == "sqlite":  # rewritten; Redis delivers the old lane as it is
        assert entry.lane == canary_id("podinfo", "team-b")
    await events.delivered(entry, AT + 2)
    later = Event.from_payload(WebhookPayload(
        name="podinfo", namespace="team-b", phase="Succeeded",
        metadata={"eventMessage": "Promotion completed"}), now=AT + 3)
    await events.enqueue(later, ["hook"], later.identity(), 0, AT + 3)
    records = await events.history("podinfo", "team-b", 10)
    assert [(r.message, r.deliveries) for r in records] == [
        ("Promotion completed", {"hook": "pending"}),
        ("Advance podinfo.team-b canary weight 10", {"hook": "delivered"})]
    assert await events.depth() == {"hook": 1}


async def test_history_and_audit_survive(migrated: State) -> None:
    """The canary, its task record and the audit entry are listed as before."""
    canary = await migrated.history.canary("podinfo", "team-b")
    assert canary is not None and (canary.phase, canary.checksum) == ("Progressing", "abc")
    assert [c.name for c in await migrated.history.canaries(0)] == ["podinfo"]
    (record,) = await migrated.history.tasks("podinfo", "team-b")
    assert (record.outcome, record.reason, record.background) == (
        "failed", "exit status 3", True)
    assert await migrated.history.task(record.id) == record
    if migrated.kind == "sqlite":  # a record's id is its ledger key: rewritten with it
        assert record.id == stored_key(task("exit 3", checksum="abc"))
    (entry,) = await migrated.audit.entries("rollback.podinfo", "team-b")
    assert (entry.action, entry.peer) == ("gate-open", "10.0.0.2")


async def test_sqlite_file_is_migrated_once(tmp_path: Path,
                                            request: pytest.FixtureRequest) -> None:
    """The file holds only new keys and the new version after the first open; a second
    open finds nothing to do and changes nothing."""
    directory = old_store("sqlite", tmp_path, request)

    async def open_once() -> None:
        async with open_state(Settings(state=directory, load_workers=1)):
            pass

    await open_once()
    path = Path(directory) / "loadtester.db"
    with sqlite3.connect(path) as db:
        first = db.execute("SELECT key FROM gates ORDER BY key").fetchall()
        assert db.execute("PRAGMA user_version").fetchone() == (KEYS_VERSION,)
        lanes = db.execute("SELECT DISTINCT lane FROM outbox").fetchall()
    db.close()
    assert first == [(gate_key("backend", "team-a"),), (gate_key("podinfo", "team-b"),),
                     (gate_key("rollback.podinfo", "team-b"),),
                     (rollback_key("frontend", "team-a"),)]
    assert lanes == [(canary_id("podinfo", "team-b"),)]
    await open_once()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT key FROM gates ORDER BY key").fetchall() == first
    db.close()


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_old_store_through_http(make_client: ClientFactory, tmp_path: Path,
                                      request: pytest.FixtureRequest, backend: str) -> None:
    """Flagger's checks against the upgraded service answer as before the upgrade, except
    that the gate of `rollback.podinfo` no longer approves podinfo's rollback."""
    client = await make_client(state=old_store(backend, tmp_path, request))

    async def check(path: str, name: str, namespace: str, checksum: str = "") -> int:
        body = {"name": name, "namespace": namespace, "checksum": checksum}
        async with client.post(path, json=body) as response:
            return response.status

    assert await check("/gate/check", "podinfo", "team-b") == 200
    assert await check("/gate/check", "rollback.podinfo", "team-b") == 200
    assert await check("/rollback/check", "podinfo", "team-b") == 403
    assert await check("/rollback/check", "frontend", "team-a", "abc") == 200
    assert await check("/gate/check", "backend", "team-a") == 403


async def test_old_replica_change_wins_when_later(redis_url: str) -> None:
    """During a rolling update, a gate an old replica changes after this release did (its
    form of the key, a later time) is what this release answers; another canary's old row
    under the same old key is not."""
    settings = Settings(state=redis_url, load_workers=1)
    async with open_state(settings) as state, redis.asyncio.Redis.from_url(redis_url) as raw:
        await state.gates.set(gate_key("podinfo", "team-b"),
                              GateChange(True, "new", "", AT, "podinfo", "team-b"))
        await raw.hset("loadtester:gate:podinfo.team-b", mapping={
            "is_open": 0, "by": "old", "checksum": "", "at": AT + 1, "name": "podinfo",
            "namespace": "team-b", "bound": 0})
        assert not await state.gates.is_open(gate_key("podinfo", "team-b"))
        await raw.hset("loadtester:gate:rollback.podinfo.team-b", mapping={
            "is_open": 1, "by": "old", "checksum": "", "at": AT + 1, "name": "rollback.podinfo",
            "namespace": "team-b", "bound": 0})
        assert not await state.gates.is_open(rollback_key("podinfo", "team-b"))
        assert await state.gates.is_open(gate_key("rollback.podinfo", "team-b"))
