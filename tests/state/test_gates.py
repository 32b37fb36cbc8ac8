"""GateStore behaviour, the same on every backend."""

from __future__ import annotations

import time

from loadtester.state.base import KEEP_CLOSED_GATES, GateChange, State


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
        await state.gates.set(f"c{index}.test", GateChange(True))
    await state.gates.set("rollback.c0.test", GateChange(True))
    await state.gates.set("c4.test", GateChange(False))
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
    return int(await client.ttl(f"loadtester:gate:{key}"))
