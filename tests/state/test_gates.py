"""GateStore behaviour, the same on every backend."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from loadtester.state.base import KEEP_CLOSED_GATES, GateChange, State, gate_key, rollback_key
from loadtester.state.open import open_database
from loadtester.state.sqlite import SqliteGateStore


async def test_unknown_gate_is_closed(state: State) -> None:
    """A key never set is closed and has no change."""
    assert not await state.gates.is_open("podinfo.test")
    assert await state.gates.get("podinfo.test") is None


async def test_open_close_and_who(state: State) -> None:
    """Opening then closing is seen at once, with who changed it, when and for which revision."""
    change = GateChange(True, by="10.0.0.1", checksum="abc", at=1000.0, name="podinfo",
                        namespace="test")
    await state.gates.set("podinfo.test", change)
    assert await state.gates.is_open("podinfo.test")
    assert await state.gates.get("podinfo.test") == change
    assert not await state.gates.is_open("rollback.podinfo.test")
    await state.gates.set("podinfo.test", GateChange(False, by="b", at=time.time()))
    assert not await state.gates.is_open("podinfo.test")
    stored = await state.gates.get("podinfo.test")
    assert stored is not None and stored.by == "b"


async def test_open_counts_by_kind(state: State) -> None:
    """open_counts counts open gates and open rollback gates, not closed ones."""
    for index in range(5):
        await state.gates.set(gate_key(f"c{index}", "test"), GateChange(True))
    await state.gates.set(rollback_key("c0", "test"), GateChange(True))
    await state.gates.set(gate_key("c4", "test"), GateChange(False))
    assert await state.gates.open_counts() == {"gate": 4, "rollback": 1}


async def test_closed_gates_are_forgotten(state: State) -> None:
    """A gate closed longer than KEEP_CLOSED_GATES ago does not stay in the store."""
    old = time.time() - KEEP_CLOSED_GATES - 60
    await state.gates.set("old.test", GateChange(False, at=old))
    await state.gates.set("new.test", GateChange(False, at=time.time()))
    if state.kind == "redis":  # Redis expires the key itself; its TTL is what can be checked
        assert await _redis_ttl(state, "old.test") > 0
    else:
        assert await state.gates.get("old.test") is None
    assert await state.gates.get("new.test") is not None


async def _redis_ttl(state: State, key: str) -> int:
    client = state.gates._redis  # type: ignore[attr-defined]
    return int(await client.ttl(f"{state.gates._prefix}gate:{key}"))  # type: ignore[attr-defined]


async def test_bound_gate_approves_its_revision_only(state: State) -> None:
    """A gate opened bound to "abc" approves a check of "abc", not "def" nor one without."""
    await state.gates.set("podinfo.test", GateChange(True, checksum="abc", bound=True))
    assert await state.gates.is_open("podinfo.test", "abc")
    assert not await state.gates.is_open("podinfo.test", "def")
    assert not await state.gates.is_open("podinfo.test")
    stored = await state.gates.get("podinfo.test")
    assert stored is not None and stored.bound and stored.checksum == "abc"


async def test_unbound_gate_approves_any_revision(state: State) -> None:
    """An unbound open gate (Go's /gate/open) approves every checksum, as before."""
    await state.gates.set("podinfo.test", GateChange(True, checksum="abc"))
    for checksum in ("abc", "def", ""):
        assert await state.gates.is_open("podinfo.test", checksum)
    stored = await state.gates.get("podinfo.test")
    assert stored is not None and not stored.bound


async def test_rebinding_and_closing_a_bound_gate(state: State) -> None:
    """Binding to a new revision moves the approval; closing ends it for every revision."""
    await state.gates.set("podinfo.test", GateChange(True, checksum="abc", bound=True))
    await state.gates.set("podinfo.test", GateChange(True, checksum="def", bound=True))
    assert await state.gates.is_open("podinfo.test", "def")
    assert not await state.gates.is_open("podinfo.test", "abc")
    await state.gates.set("podinfo.test", GateChange(False, checksum="def", bound=True))
    assert not await state.gates.is_open("podinfo.test", "def")
    assert await state.gates.open_counts() == {"gate": 0, "rollback": 0}


async def test_sqlite_file_without_bound_column_keeps_its_gates(tmp_path: Path) -> None:
    """A database written before gates could be bound opens with its open gates unbound."""
    path = tmp_path / "loadtester.db"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("CREATE TABLE gates (key TEXT PRIMARY KEY, is_open INTEGER NOT NULL,"
                " changed_by TEXT NOT NULL, checksum TEXT NOT NULL, changed_at REAL NOT NULL,"
                " name TEXT NOT NULL DEFAULT '', namespace TEXT NOT NULL DEFAULT '')")
    old.execute("INSERT INTO gates VALUES ('podinfo.test', 1, '10.0.0.1', 'abc', 1000, '', '')")
    old.close()
    connection = open_database(path)
    store = SqliteGateStore(connection)
    assert await store.is_open("podinfo.test", "def")
    change = await store.get("podinfo.test")
    assert change is not None and not change.bound and change.by == "10.0.0.1"
    await store.set("podinfo.test", GateChange(True, checksum="abc", bound=True))
    assert not await store.is_open("podinfo.test", "def")
    connection.close()


async def test_sqlite_bound_gate_set_by_another_process(tmp_path: Path) -> None:
    """A bound approval written through another connection binds this store's checks too."""
    path = tmp_path / "loadtester.db"
    here, there = SqliteGateStore(open_database(path)), SqliteGateStore(open_database(path))
    assert not await here.is_open("podinfo.test", "abc")
    await there.set("podinfo.test", GateChange(True, checksum="abc", bound=True))
    for _ in range(200):
        if await here.is_open("podinfo.test", "abc"):
            break
        await asyncio.sleep(0.01)
    assert await here.is_open("podinfo.test", "abc")
    assert not await here.is_open("podinfo.test", "def")
