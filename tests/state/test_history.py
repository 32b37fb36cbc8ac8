"""CanaryHistory and AuditLog behaviour, the same on every backend."""

from __future__ import annotations

import dataclasses

from loadtester.state.base import KEEP_HISTORY, AuditEntry, Sighting, State, TaskRecord

NOW = 1_700_000_000.0


def _seen(phase: str = "Progressing", checksum: str = "abc", at: float = NOW,
          name: str = "podinfo", namespace: str = "test", source: str = "gate") -> Sighting:
    return Sighting(name, namespace, phase, checksum, source, at)


def _task(id: str, started_at: float, name: str = "podinfo", namespace: str = "test",
          **changes: object) -> TaskRecord:
    record = TaskRecord(id, name, namespace, "cmd", "sleep 30", "abc", True, started_at, None,
                        "running", replica="host/1")
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


def _audit(at: float, action: str = "gate-open", name: str = "podinfo",
           namespace: str = "test", who: str = "anonymous") -> AuditEntry:
    return AuditEntry(at, who, "10.0.0.1", action, name, namespace, "abc", "")


async def test_first_sighting_creates_the_canary(state: State) -> None:
    """A canary seen once has its phase, checksum and both times set to that sighting."""
    assert await state.history.canary("podinfo", "test") is None
    await state.history.seen(_seen(at=NOW + 0.125))
    record = await state.history.canary("podinfo", "test")
    assert record is not None
    assert (record.name, record.namespace, record.phase, record.checksum) == (
        "podinfo", "test", "Progressing", "abc")
    assert record.phase_at == record.first_seen == record.last_seen == NOW + 0.125


async def test_sightings_update_the_row(state: State) -> None:
    """The phase time moves on a phase change only; last_seen on every later sighting."""
    history = state.history
    await history.seen(_seen(at=NOW))
    await history.seen(_seen(at=NOW + 10))
    record = await history.canary("podinfo", "test")
    assert record is not None and (record.phase_at, record.last_seen) == (NOW, NOW + 10)
    await history.seen(_seen("Promoting", "def", at=NOW + 20))
    record = await history.canary("podinfo", "test")
    assert record is not None
    assert (record.phase, record.phase_at, record.checksum) == ("Promoting", NOW + 20, "def")
    assert (record.first_seen, record.last_seen) == (NOW, NOW + 20)


async def test_empty_phase_and_checksum_keep_the_known_ones(state: State) -> None:
    """A curl without phase or checksum refreshes last_seen and keeps what was known."""
    await state.history.seen(_seen("WaitingPromotion", "abc", at=NOW))
    await state.history.seen(_seen("", "", at=NOW + 5))
    record = await state.history.canary("podinfo", "test")
    assert record is not None
    assert (record.phase, record.phase_at, record.checksum, record.last_seen) == (
        "WaitingPromotion", NOW, "abc", NOW + 5)


async def test_a_late_sighting_does_not_move_last_seen_back(state: State) -> None:
    """Sightings arriving out of order keep the latest last_seen and the earliest first_seen."""
    await state.history.seen(_seen(at=NOW + 10))
    await state.history.seen(_seen(at=NOW))
    record = await state.history.canary("podinfo", "test")
    assert record is not None and (record.first_seen, record.last_seen) == (NOW, NOW + 10)


async def test_canaries_since_newest_first(state: State) -> None:
    """canaries(since) lists those seen at or after `since`, the last seen first."""
    for offset, name in ((0, "old"), (10, "middle"), (20, "new")):
        await state.history.seen(_seen(name=name, at=NOW + offset))
    await state.history.seen(_seen(name="podinfo", namespace="other", at=NOW + 15))
    names = [(c.name, c.namespace) for c in await state.history.canaries(NOW + 10)]
    assert names == [("new", "test"), ("podinfo", "other"), ("middle", "test")]
    assert len(await state.history.canaries(0)) == 4
    assert await state.history.canaries(NOW + 21) == []


async def test_task_record_upserts_by_id(state: State) -> None:
    """A record written at the start is replaced by the one written at the end."""
    started = _task("podinfo.test/k1", NOW)
    await state.history.record_task(started)
    assert await state.history.task("podinfo.test/k1") == started
    ended = dataclasses.replace(started, ended_at=NOW + 3.5, outcome="succeeded",
                                load={"rate": 99.5, "p50": 0.01, "p99": 0.2,
                                      "error_rate": 1.5, "requests": 398.0})
    await state.history.record_task(ended)
    assert await state.history.task("podinfo.test/k1") == ended
    assert await state.history.tasks() == [ended]
    assert await state.history.task("nothing") is None


async def test_tasks_newest_first_with_filters_and_limit(state: State) -> None:
    """tasks() lists the last started first, by canary, namespace, name alone, up to limit."""
    records = [_task("a1", NOW, "a"), _task("b1", NOW + 1, "b"), _task("a2", NOW + 2, "a"),
               _task("a3", NOW + 3, "a", "prod"), _task("b2", NOW + 4, "b", background=False)]
    for record in records:
        await state.history.record_task(record)
    history = state.history
    assert [t.id for t in await history.tasks()] == ["b2", "a3", "a2", "b1", "a1"]
    assert [t.id for t in await history.tasks("a", "test")] == ["a2", "a1"]
    assert [t.id for t in await history.tasks(namespace="test")] == ["b2", "a2", "b1", "a1"]
    assert [t.id for t in await history.tasks(name="a")] == ["a3", "a2", "a1"]
    assert [t.id for t in await history.tasks(limit=2)] == ["b2", "a3"]
    assert [t.id for t in await history.tasks(name="a", limit=1)] == ["a3"]
    assert (await history.tasks("b", "test"))[0].background is False
    assert await history.tasks("c", "test") == []


async def test_history_is_pruned_after_a_week(state: State) -> None:
    """Canaries last seen and tasks started more than KEEP_HISTORY ago are forgotten."""
    await state.history.seen(_seen(name="old", at=NOW))
    await state.history.seen(_seen(name="new", at=NOW + 100))
    await state.history.record_task(_task("old", NOW, "old"))
    await state.history.record_task(_task("new", NOW + 100, "new"))
    await state.history.prune(NOW + KEEP_HISTORY + 50)
    assert [c.name for c in await state.history.canaries(0)] == ["new"]
    assert await state.history.canary("old", "test") is None
    assert [t.id for t in await state.history.tasks()] == ["new"]
    assert [t.id for t in await state.history.tasks("old", "test")] == []
    assert await state.history.task("old") is None


async def test_audit_entries_newest_first_with_filters(state: State) -> None:
    """entries() lists the newest first, by canary, namespace or name, up to limit."""
    entries = [_audit(NOW, "gate-open"), _audit(NOW + 1, "gate-close", "b"),
               _audit(NOW + 2, "rollback-open", namespace="prod"),
               _audit(NOW + 3, "task-cancel", who="alice")]
    for entry in entries:
        await state.audit.append(entry)
    audit = state.audit
    assert await audit.entries() == entries[::-1]
    assert await audit.entries("podinfo", "test") == [entries[3], entries[0]]
    assert await audit.entries(namespace="prod") == [entries[2]]
    assert await audit.entries(name="podinfo") == [entries[3], entries[2], entries[0]]
    assert await audit.entries(limit=1) == [entries[3]]
    assert await audit.entries("nothing", "test") == []


async def test_audit_entries_at_the_same_time_keep_their_order(state: State) -> None:
    """Two entries made in the same instant are listed the later appended first."""
    first, second = _audit(NOW, "gate-open"), _audit(NOW, "gate-close")
    await state.audit.append(first)
    await state.audit.append(second)
    assert await state.audit.entries() == [second, first]


async def test_audit_is_pruned_after_a_week(state: State) -> None:
    """Entries older than KEEP_HISTORY are forgotten, from every filter."""
    await state.audit.append(_audit(NOW, "gate-open"))
    await state.audit.append(_audit(NOW + 100, "gate-close"))
    await state.audit.prune(NOW + KEEP_HISTORY + 50)
    assert [e.action for e in await state.audit.entries()] == ["gate-close"]
    assert [e.action for e in await state.audit.entries("podinfo", "test")] == ["gate-close"]


async def test_a_limit_of_zero_lists_nothing(state: State) -> None:
    """limit=0 is an empty page, not the whole list."""
    await state.history.record_task(_task("a1", NOW))
    await state.audit.append(_audit(NOW))
    assert await state.history.tasks(limit=0) == []
    assert await state.audit.entries(limit=0) == []
    assert await state.events.history("podinfo", "test", 0) == []
