"""-state-min-replicas on a real primary and replica (Debian redis-server): an acknowledged
write is answered once the replica has it, and refused (StoreUnavailable) when it cannot be."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from loadtester.cli import UsageError, parse_settings
from loadtester.errors import StoreUnavailable
from loadtester.event import Event
from loadtester.models import WebhookPayload
from loadtester.settings import Settings
from loadtester.state.base import AuditEntry, Failure, GateChange, State, gate_key
from loadtester.state.open import open_state
from tests.support.events import event
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.system

GATE = gate_key("podinfo", "test")
Write = Callable[[State, int], Awaitable[object]]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, RedisServer]]:
    """A primary and its replica, in sync."""
    directory = tmp_path_factory.mktemp("min-replicas")
    primary = RedisServer(directory / "primary").start()
    replica = RedisServer(directory / "replica",
                          extra=("--replicaof", "127.0.0.1", str(primary.port))).start()
    try:
        with redis.Redis(port=replica.port, decode_responses=True) as client:
            deadline = time.monotonic() + 10
            while client.info("replication")["master_link_status"] != "up":
                assert time.monotonic() < deadline, "replica not in sync"
                time.sleep(0.05)
        yield primary, replica
    finally:
        replica.kill()
        primary.kill()


@pytest.fixture
async def waiting(pair: tuple[RedisServer, RedisServer]) -> AsyncIterator[State]:
    """The stores on the primary, each acknowledged write waiting for 1 replica."""
    async with open_state(Settings(state=pair[0].url, state_min_replicas=1)) as state:
        yield state


@pytest.fixture
async def on_replica(pair: tuple[RedisServer, RedisServer]) -> AsyncIterator[State]:
    """The stores read from the replica itself."""
    async with open_state(Settings(state=pair[1].url)) as state:
        yield state


@contextmanager
def stopped(server: RedisServer) -> Iterator[None]:
    """The server's process stopped (SIGSTOP): connected, but it acknowledges nothing."""
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


def _event(stamp: int) -> Event:
    payload = WebhookPayload.model_validate(event(message="Halt advancement", timestamp=stamp))
    return Event.from_payload(payload, now=1000.0)


async def _gate(state: State, n: int) -> object:
    return await state.gates.set(gate_key(f"c{n}", "test"), GateChange(True, at=float(n)))


async def _enqueue(state: State, n: int) -> object:
    item = _event(n)
    return await state.events.enqueue(item, ("s",), item.identity(), 0, 1000.0)


async def _task_result(state: State, n: int) -> object:
    return await state.tasks.release(f"task-{n}", "me", Failure("exit 1", "abc"))


async def _audit(state: State, n: int) -> object:
    return await state.audit.append(AuditEntry(float(n), "me", "127.0.0.1", "gate-open",
                                               "podinfo", "test", "abc"))


async def _logout(state: State, n: int) -> object:
    return await state.revocations.revoke(f"session-{n}", time.time() + 60)


WRITES = [_gate, _enqueue, _task_result, _audit, _logout]


@pytest.mark.parametrize("write", WRITES)
async def test_acknowledged_write_is_on_the_replica(waiting: State, write: Write) -> None:
    """With the replica up every acknowledged write succeeds."""
    await write(waiting, 1)


async def test_gate_change_is_read_back_from_the_replica(waiting: State,
                                                         on_replica: State) -> None:
    """Once set() returned, the replica answers with the change: WAIT came first."""
    change = GateChange(True, by="me", checksum="abc", at=5.0, name="podinfo", namespace="test")
    await waiting.gates.set(GATE, change)
    assert await on_replica.gates.get(GATE) == change


@pytest.mark.parametrize("write", WRITES)
async def test_write_the_replica_cannot_take_is_refused(
        pair: tuple[RedisServer, RedisServer], waiting: State, write: Write) -> None:
    """Replica stopped: the write raises StoreUnavailable naming the replicas reached."""
    with stopped(pair[1]), pytest.raises(StoreUnavailable) as raised:
        await write(waiting, 2)
    assert str(raised.value).startswith(
        "state store unavailable: write reached 0 of 1 replicas")
    await write(waiting, 3)  # the replica back: writes go through again


async def test_reads_do_not_wait(pair: tuple[RedisServer, RedisServer], waiting: State) -> None:
    """Reads answer while the replica is away: only writes wait for it."""
    await waiting.gates.set(GATE, GateChange(True, at=7.0))
    with stopped(pair[1]):
        assert await waiting.gates.is_open(GATE)
        assert (await waiting.gates.get(GATE)) is not None
        await waiting.ping()


async def test_default_waits_for_nothing(pair: tuple[RedisServer, RedisServer]) -> None:
    """Without -state-min-replicas a write is answered with the replica stopped (as before)."""
    async with open_state(Settings(state=pair[0].url)) as state:
        with stopped(pair[1]):
            await state.gates.set(GATE, GateChange(False, at=8.0))


@pytest.mark.parametrize("state", ["memory", "/tmp/state", "redis+cluster://h1:6379/"])
def test_needs_a_redis_with_replicas(state: str, tmp_path: Path) -> None:
    """On SQLite, memory (or a cluster) the flag is refused at start-up in one line."""
    with pytest.raises(UsageError, match=r"^invalid value for flag -state-min-replicas: "):
        parse_settings([f"-state={state}", "-state-min-replicas=1"], environ={})
    assert parse_settings([f"-state={state}", "-state-min-replicas=0"], environ={})
