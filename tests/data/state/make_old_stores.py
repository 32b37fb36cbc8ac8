"""Write the stores tests/state/test_key_migration.py opens: state as an earlier release kept it.

Run it with the code of that release (here: commit d1771e7, before keys were namespace-first),
from a checkout of it, so that every key is written by that code:

    git worktree add /tmp/baseline d1771e7
    cd /tmp/baseline && PYTHONPATH=/tmp/baseline /work/main/.venv/bin/python \\
        /work/main/tests/data/state/make_old_stores.py /work/main/tests/data/state

It writes `old-sqlite.db` (the SQLite file, WAL folded in) and `old-redis.json` (every key of a
Redis the old code wrote: type, value and time to live), and refuses to run on newer code.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from loadtester.event import Event
from loadtester.models import WebhookPayload
from loadtester.settings import Settings
from loadtester.state.base import (
    AuditEntry,
    Failure,
    GateChange,
    Sighting,
    State,
    TaskRecord,
    gate_key,
    rollback_key,
)
from loadtester.state.open import open_state
from loadtester.tasks.registry import build_task
from loadtester.tasks.runner import stored_key
from tests.support.redis_server import RedisServer

AT = 1_760_000_000.0  # every change's time (2025-10-09): the fixtures are the same each run
YEARS = 10 * 365 * 24 * 3600.0  # a lease that is still held when the test runs


def payload(name: str, namespace: str, **fields: Any) -> WebhookPayload:
    return WebhookPayload(name=name, namespace=namespace, **fields)


async def write(state: State) -> None:
    """One of every kind of state, as the old code stores it."""
    gates = (
        (gate_key("podinfo", "team-b"), GateChange(True, "10.0.0.1", "", AT, "podinfo", "team-b")),
        # the gate of `rollback.podinfo`: its old key is the rollback key of `podinfo`
        (gate_key("rollback.podinfo", "team-b"),
         GateChange(True, "10.0.0.2", "", AT, "rollback.podinfo", "team-b")),
        (rollback_key("frontend", "team-a"),
         GateChange(True, "10.0.0.3", "abc", AT, "frontend", "team-a", bound=True)),
        (gate_key("backend", "team-a"), GateChange(False, "10.0.0.4", "", AT, "backend", "team-a")),
    )
    for key, change in gates:
        await state.gates.set(key, change)
    failed = build_task(payload("podinfo", "team-b", checksum="abc",
                                metadata={"type": "cmd", "cmd": "exit 3"}))
    await state.tasks.claim(stored_key(failed), failed.payload.canary, "old-owner", 60)
    await state.tasks.release(stored_key(failed), "old-owner", Failure("exit status 3", "abc"))
    held = build_task(payload("podinfo", "team-b", metadata={"type": "cmd", "cmd": "sleep 600"}))
    await state.tasks.claim(stored_key(held), held.payload.canary, "old-owner", YEARS)
    event = Event.from_payload(payload(
        "podinfo", "team-b", phase="Progressing",
        metadata={"eventMessage": "Advance podinfo.team-b canary weight 10"}), now=AT)
    await state.events.enqueue(event, ["hook"], event.identity(), 0, AT)
    await state.history.seen(Sighting("podinfo", "team-b", "Progressing", "abc", "task", AT))
    await state.history.record_task(TaskRecord(
        stored_key(failed), "podinfo", "team-b", "cmd", "exit 3", "abc", True, AT, AT + 1,
        "failed", "exit status 3"))
    await state.audit.append(AuditEntry(AT, "anonymous", "10.0.0.2", "gate-open",
                                        "rollback.podinfo", "team-b", ""))


def dump(url: str) -> list[dict[str, Any]]:
    """Every key of the Redis at `url`: name, type, value, milliseconds to live (-1: none)."""
    client = redis.Redis.from_url(url, decode_responses=True)
    readers: dict[str, Any] = {
        "string": client.get,
        "hash": client.hgetall,
        "set": lambda name: sorted(client.smembers(name)),
        "zset": lambda name: client.zrange(name, 0, -1, withscores=True),
        "list": lambda name: client.lrange(name, 0, -1),
    }
    keys = []
    for name in sorted(client.scan_iter("*")):
        kind = client.type(name)
        value = readers[kind](name)
        keys.append({"key": name, "type": kind, "value": value, "pttl": client.pttl(name)})
    client.close()
    return keys


async def main(out: Path) -> None:
    if gate_key("podinfo", "team-b") != "podinfo.team-b":
        sys.exit("this is not the code of the earlier release: see the docstring")
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch) / "state"
        async with open_state(Settings(state=str(directory), load_workers=1)) as state:
            await write(state)
        database = sqlite3.connect(directory / "loadtester.db")
        database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        database.execute("PRAGMA journal_mode=DELETE")
        database.execute("PRAGMA page_size=512")  # small pages: a small file in git
        database.execute("VACUUM")
        database.close()
        (out / "old-sqlite.db").write_bytes((directory / "loadtester.db").read_bytes())
        server = RedisServer(Path(scratch) / "redis").start()
        try:
            async with open_state(Settings(state=server.url, load_workers=1)) as state:
                await write(state)
            keys = dump(server.url)
        finally:
            server.stop()
    (out / "old-redis.json").write_text(json.dumps(keys, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out / 'old-sqlite.db'} and {out / 'old-redis.json'} ({len(keys)} keys)"
          f" at {time.strftime('%Y-%m-%d')}")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
