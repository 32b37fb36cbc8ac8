"""EventQueue behaviour, the same on every backend: memory, SQLite file, Redis."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio

from loadtester.errors import StoreUnavailable
from loadtester.event import Event
from loadtester.models import WebhookPayload
from loadtester.state import sqlite_events
from loadtester.state.base import KEEP_DEAD_EVENTS, Delivery, EventQueue
from loadtester.state.open import open_database
from loadtester.state.redis_events import RedisEventQueue
from loadtester.state.sqlite_events import SqliteEventQueue
from loadtester.state.store_keys import canary_id
from tests.support.events import event
from tests.support.redis_server import free_port

LEASE = 5.0


@dataclass
class Backend:
    """One backend's queue, a way to open it again, and a way to damage a stored event."""

    queue: EventQueue
    reopen: Callable[[], EventQueue]
    corrupt: Callable[[str], Awaitable[None]]


@pytest.fixture(params=("memory", "sqlite", "redis"))
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """An empty queue on each backend."""
    if request.param == "redis":
        client = redis.asyncio.Redis.from_url(str(request.getfixturevalue("redis_url")))
        prefix = f"test-{uuid.uuid4().hex[:8]}:"

        async def damage_entry(entry_id: str) -> None:
            await client.hset(f"{prefix}events:e:{entry_id}", "event", "{not json")

        yield Backend(RedisEventQueue(client, prefix),
                      lambda: RedisEventQueue(client, prefix), damage_entry)
        await client.aclose()
        return
    if request.param == "memory":
        connection = sqlite3.connect(":memory:", isolation_level=None)
    else:
        connection = open_database(tmp_path / "state" / "loadtester.db")

    async def damage_row(entry_id: str) -> None:
        connection.execute("UPDATE outbox SET event = '{not json' WHERE id = ?", (entry_id,))

    yield Backend(SqliteEventQueue(connection),
                  lambda: SqliteEventQueue(connection), damage_row)
    connection.close()


def _event(message: str = "Halt advancement", stamp: int = 1, name: str = "podinfo") -> Event:
    payload = WebhookPayload.model_validate(event(message=message, timestamp=stamp, name=name))
    return Event.from_payload(payload, now=1000.0)


async def _put(queue: EventQueue, item: Event, sinks: tuple[str, ...] = ("s",),
               window: float = 0, now: float = 1000.0) -> None:
    await queue.enqueue(item, sinks, item.identity(), window, now)


async def _claim(queue: EventQueue, now: float, sink: str = "s",
                 limit: int = 10) -> list[Delivery]:
    return await queue.claim_due(sink, now, limit, LEASE)


async def test_duplicate_identity_is_stored_once(backend: Backend) -> None:
    """The same identity twice stores nothing the second time."""
    queue, first = backend.queue, _event()
    assert (await queue.enqueue(first, ["s"], first.identity(), 0, 1000)).queued == ("s",)
    assert (await queue.enqueue(first, ["s"], first.identity(), 0, 1001)).duplicate
    assert await queue.counts() == {"pending": 1}


async def test_folding_within_and_after_the_window(backend: Backend) -> None:
    """Repeats in the window add to the count; the first repeat after it carries the rest."""
    queue = backend.queue
    for stamp, now in ((1, 1000), (2, 1060)):
        await _put(queue, _event(stamp=stamp), window=300, now=now)
    (entry,) = await _claim(queue, 1060)
    assert entry.count == 2
    late = _event(stamp=3)  # folded into the entry being delivered: sent with the next one
    assert (await queue.enqueue(late, ["s"], late.identity(), 300, 1061)).folded == ("s",)
    await queue.delivered(entry, 1062)
    after = _event(stamp=4)
    assert (await queue.enqueue(after, ["s"], after.identity(), 300, 1400)).queued == ("s",)
    (entry,) = await _claim(queue, 1400)
    assert entry.count == 2  # itself plus the one folded after sending


async def test_dead_entries_are_not_folded_into(backend: Backend) -> None:
    """A repeat of a dead-lettered message is queued again, with a count of one."""
    queue = backend.queue
    await _put(queue, _event(stamp=1), window=300)
    (entry,) = await _claim(queue, 1000)
    await queue.dead(entry, "HTTP 404", 1001)
    await _put(queue, _event(stamp=2), window=300, now=1002)
    (again,) = await _claim(queue, 1002)
    assert again.count == 1 and again.id != entry.id


async def test_lanes_in_order_one_head_at_a_time(backend: Backend) -> None:
    """Each (sink, canary) lane hands out its oldest entry only, the next once it is done."""
    queue = backend.queue
    for stamp, name in enumerate(("a", "b", "a")):
        await _put(queue, _event(f"m{stamp}", stamp, name), sinks=("s", "t"))
    assert await queue.depth() == {"s": 3, "t": 3}
    assert await queue.sinks() == ["s", "t"]
    heads = await _claim(queue, 1000)
    assert {(h.lane, h.event.message if h.event else "") for h in heads} == {
        (canary_id("a", "test"), "m0"), (canary_id("b", "test"), "m1")}
    first_a = next(h for h in heads if h.lane == canary_id("a", "test"))
    await queue.delivered(first_a, 1001)
    (second_a,) = await _claim(queue, 1001)
    assert second_a.event is not None and second_a.event.message == "m2"
    assert await queue.depth() == {"s": 2, "t": 3}


async def test_claim_honours_the_limit(backend: Backend) -> None:
    """No more heads than asked for; the others stay due."""
    queue = backend.queue
    for index in range(5):
        await _put(queue, _event(f"m{index}", index, f"c{index}"))
    assert len(await _claim(queue, 1000, limit=2)) == 2
    assert len(await _claim(queue, 1000, limit=10)) == 3
    assert await _claim(queue, 1000) == []


async def test_claim_leases_the_lane_until_it_lapses(backend: Backend) -> None:
    """A claimed head is not handed out again until its lease lapses (its replica died)."""
    queue = backend.queue
    await _put(queue, _event())
    (entry,) = await _claim(queue, 1000)
    assert await _claim(queue, 1004) == []
    assert await queue.next_due("s") == 1000 + LEASE
    (again,) = await _claim(queue, 1000 + LEASE)
    assert again.id == entry.id and again.attempts == 0
    assert await queue.next_due("nobody") is None


async def test_retry_sets_when_the_head_is_due(backend: Backend) -> None:
    """A retried head comes back at its retry time, with the attempt counted."""
    queue = backend.queue
    await _put(queue, _event())
    (entry,) = await _claim(queue, 1000)
    await queue.retry(entry, 1030, "HTTP 503")
    assert await queue.next_due("s") == 1030
    assert await _claim(queue, 1029) == []
    (again,) = await _claim(queue, 1030)
    assert again.id == entry.id and again.attempts == 1


async def test_a_late_outcome_of_a_lapsed_lease_changes_nothing(backend: Backend) -> None:
    """The replica that lost its lease reports late: the entry taken over stays delivered."""
    queue = backend.queue
    for stamp in (1, 2):
        await _put(queue, _event(f"m{stamp}", stamp))
    (stale,) = await _claim(queue, 1000)
    (taken,) = await _claim(queue, 1000 + LEASE)
    await queue.delivered(taken, 1006)
    await queue.retry(stale, 2000, "too late")
    await queue.dead(stale, "too late", 1007)
    (second,) = await _claim(queue, 1007)
    assert second.event is not None and second.event.message == "m2"
    assert await queue.counts() == {"delivered": 1, "pending": 1}


async def test_done_entries_leave_depth_and_sinks(backend: Backend) -> None:
    """Depth counts pending entries per sink; a sink with none is not listed."""
    queue = backend.queue
    await _put(queue, _event("m1", 1, "a"), sinks=("s", "t"))
    await _put(queue, _event("m2", 2, "b"), sinks=("s",))
    for entry in await _claim(queue, 1000, sink="t"):
        await queue.dead(entry, "HTTP 404", 1001)
    assert await queue.depth() == {"s": 2}
    assert await queue.sinks() == ["s"]
    for entry in await _claim(queue, 1001):
        await queue.delivered(entry, 1002)
    assert await queue.depth() == {}
    assert await queue.sinks() == []
    assert await queue.next_due("s") is None
    assert await queue.counts() == {"delivered": 2, "dead": 1}


async def test_delivered_and_dead_entries_are_pruned(backend: Backend) -> None:
    """Delivered entries go after keep_delivered, dead ones after KEEP_DEAD_EVENTS."""
    queue = backend.queue
    for stamp in (1, 2):
        await _put(queue, _event(f"m{stamp}", stamp, f"c{stamp}"))
    first, second = await _claim(queue, 1000)
    await queue.delivered(first, 1000)
    await queue.dead(second, "HTTP 404", 1000)
    await queue.prune(100, 1050)
    assert await queue.counts() == {"delivered": 1, "dead": 1}
    await queue.prune(100, 1200)
    assert await queue.counts() == {"dead": 1}
    await queue.prune(100, 1001 + KEEP_DEAD_EVENTS)
    assert await queue.counts() == {}


async def test_unreadable_event_comes_back_as_none(backend: Backend) -> None:
    """A stored event that cannot be read is handed out with event=None, and can be dead."""
    queue = backend.queue
    for stamp in (1, 2):
        await _put(queue, _event(f"m{stamp}", stamp))
    (entry,) = await _claim(queue, 1000)
    await backend.corrupt(entry.id)
    (damaged,) = await _claim(queue, 1000 + LEASE)
    assert damaged.id == entry.id and damaged.event is None
    await queue.dead(damaged, "the stored event cannot be read", 1006)
    (second,) = await _claim(queue, 1006)
    assert second.event is not None and second.event.message == "m2"


async def test_pending_entries_survive_reopening(backend: Backend) -> None:
    """A queue opened again on the same store hands out what was pending, in order."""
    for stamp in (1, 2):
        await _put(backend.queue, _event(f"m{stamp}", stamp))
    queue = backend.reopen()
    (head,) = await _claim(queue, 1000)
    assert head.event is not None and head.event.message == "m1"
    assert await queue.depth() == {"s": 2}


async def test_sqlite_opening_voids_old_leases(tmp_path: Path) -> None:
    """After a restart the SQLite queue's previous owner is gone: its leased heads are due."""
    connection = open_database(tmp_path / "loadtester.db")
    await _put(SqliteEventQueue(connection), _event())
    (entry,) = await _claim(SqliteEventQueue(connection), 1000)
    (again,) = await _claim(SqliteEventQueue(connection), 1001)
    assert again.id == entry.id
    connection.close()


async def test_sqlite_files_without_lanes_keep_working(tmp_path: Path) -> None:
    """A database written before the lanes table existed is read as it is, lanes rebuilt."""
    path = tmp_path / "loadtester.db"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute(
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, sink TEXT NOT NULL,"
        " lane TEXT NOT NULL, fold_key TEXT NOT NULL, event TEXT NOT NULL,"
        " received_at REAL NOT NULL, state TEXT NOT NULL DEFAULT 'pending',"
        " count INTEGER NOT NULL DEFAULT 1, sent_count INTEGER NOT NULL DEFAULT 0,"
        " attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL,"
        " last_error TEXT NOT NULL DEFAULT '', done_at REAL)")
    old.execute("CREATE TABLE event_keys (key TEXT PRIMARY KEY, received_at REAL NOT NULL)")
    for index, (state, next_at) in enumerate((("delivered", 900.0), ("pending", 1020.0),
                                              ("pending", 1000.0))):
        item = _event(f"m{index}", index)
        old.execute("INSERT INTO outbox (sink, lane, fold_key, event, received_at, state,"
                    " next_at, attempts) VALUES ('s', ?, ?, ?, 900, ?, ?, 2)",
                    (item.canary, item.fold_key(), item.to_json(), state, next_at))
    old.close()
    queue = SqliteEventQueue(open_database(path))
    assert await queue.depth() == {"s": 2}
    assert await queue.next_due("s") == 1020.0
    (head,) = await _claim(queue, 1020)
    assert head.event is not None and head.event.message == "m1" and head.attempts == 2


async def test_redis_away_is_store_unavailable() -> None:
    """Every call on a Redis that does not answer raises StoreUnavailable (a 503), no more."""
    client = redis.asyncio.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0",
                                          socket_connect_timeout=0.2)
    queue = RedisEventQueue(client, "away:")
    with pytest.raises(StoreUnavailable):
        await _put(queue, _event())
    with pytest.raises(StoreUnavailable):
        await _claim(queue, 1000)
    with pytest.raises(StoreUnavailable):
        await queue.depth()
    await client.aclose()


async def test_sqlite_claims_read_the_lanes_index(tmp_path: Path) -> None:
    """Claims and next_due seek the (sink, next_at) index instead of scanning lanes or rows."""
    connection = open_database(tmp_path / "loadtester.db")
    SqliteEventQueue(connection)
    for query in (sqlite_events.DUE_LANES, sqlite_events.NEXT_DUE):
        plan = " ".join(row[-1] for row in connection.execute(
            "EXPLAIN QUERY PLAN " + query, ("s", 1000.0, 10)[:query.count("?")]))
        assert "USING COVERING INDEX lanes_due" in plan or "USING INDEX lanes_due" in plan, plan
    connection.close()


async def test_history_shows_each_event_with_its_deliveries(backend: Backend) -> None:
    """history() lists a canary's events newest first, each with its state and error per sink."""
    queue = backend.queue
    await _put(queue, _event("m1", 1), sinks=("s", "t"))
    await _put(queue, _event("m2", 2), sinks=("s",), now=1001)
    await _put(queue, _event("other", 3, "b"), sinks=("s",), now=1002)
    first_s = next(h for h in await _claim(queue, 1003) if h.lane == canary_id("podinfo", "test"))
    await queue.delivered(first_s, 1003)
    (first_t,) = await _claim(queue, 1003, sink="t")
    await queue.dead(first_t, "HTTP 404", 1003)
    (second,) = await _claim(queue, 1004)
    await queue.retry(second, 1100, "HTTP 503")
    await _put(queue, _event("m3", 4), sinks=("s",), now=1005)
    records = await queue.history("podinfo", "test", 10)
    assert [r.message for r in records] == ["m3", "m2", "m1"]
    m3, m2, m1 = records
    assert (m1.deliveries, m1.errors) == ({"s": "delivered", "t": "dead"},
                                          {"s": "", "t": "HTTP 404"})
    assert (m2.deliveries, m2.errors) == ({"s": "retrying"}, {"s": "HTTP 503"})
    assert (m3.deliveries, m3.errors) == ({"s": "pending"}, {"s": ""})
    assert (m1.name, m1.namespace, m1.phase, m1.event_type, m1.received_at) == (
        "podinfo", "test", "Progressing", "Normal", 1000.0)
    assert len({m1.id, m2.id, m3.id}) == 3
    assert [r.message for r in await queue.history("b", "test", 10)] == ["other"]
    assert await queue.history("nobody", "test", 10) == []


async def test_history_limit_counts_events_not_sinks(backend: Backend) -> None:
    """The limit is a number of events, each complete with all of its sinks."""
    queue = backend.queue
    for stamp in range(4):
        await _put(queue, _event(f"m{stamp}", stamp), sinks=("a", "b", "c"), now=1000 + stamp)
    records = await queue.history("podinfo", "test", 2)
    assert [r.message for r in records] == ["m3", "m2"]
    assert all(set(r.deliveries) == {"a", "b", "c"} for r in records)


async def test_history_leaves_out_folded_repeats_and_pruned_events(backend: Backend) -> None:
    """A folded repeat is no event of its own; a pruned delivered event leaves the history."""
    queue = backend.queue
    await _put(queue, _event(stamp=1), window=300)
    await _put(queue, _event(stamp=2), window=300, now=1010)
    assert len(await queue.history("podinfo", "test", 10)) == 1
    (entry,) = await _claim(queue, 1010)
    await queue.delivered(entry, 1010)
    await queue.prune(100, 1200)
    assert await queue.history("podinfo", "test", 10) == []
