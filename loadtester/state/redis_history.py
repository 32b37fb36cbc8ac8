"""Canary history, task records and the audit log in Redis, shared by every replica.

Keys, under the prefix:

    canary:<namespace>/<name>   one canary (hash of CanaryRecord's fields)
    canaries                    canary keys (<namespace>/<name>) scored by last_seen
    <kind>:data                 task records and audit entries (kind `task`, `audit`): id -> JSON
    <kind>:all                  their ids scored by start (tasks) or time (audit) ...
    <kind>:ns:<namespace>       ... of one namespace ...
    <kind>:c:<namespace>/<name> ... and of one canary: the lists a filter reads
    audit:seq                   the last audit entry id given out

`<namespace>/<name>` is store_keys.canary_id (each part percent-encoded), so it names one
canary whatever the name and namespace are.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import redis.asyncio

from loadtester.state import redis_pages
from loadtester.state.base import (
    KEEP_HISTORY,
    AuditEntry,
    CanaryRecord,
    Sighting,
    TaskRecord,
)
from loadtester.state.pages import CanaryCursor
from loadtester.state.redis import answers_or_unavailable
from loadtester.state.redis_replicas import acknowledged
from loadtester.state.store_keys import canary_id

_PRUNE_BATCH = 500
_SCAN_BATCH = 200  # ids read at a time when a filter by name alone must skip others

# KEYS: the canary's hash, the index; ARGV: name, namespace, phase, checksum, at, member.
# A phase or checksum left out ("") keeps the known one; the phase's time moves only when the
# phase changes; a late sighting never moves last_seen back.
_SEEN = """
local at = tonumber(ARGV[5])
local f = redis.call('HMGET', KEYS[1], 'phase', 'first_seen', 'last_seen')
if not f[2] then
  redis.call('HSET', KEYS[1], 'name', ARGV[1], 'namespace', ARGV[2], 'phase', ARGV[3],
             'phase_at', ARGV[5], 'checksum', ARGV[4], 'first_seen', ARGV[5], 'last_seen', ARGV[5])
  redis.call('ZADD', KEYS[2], at, ARGV[6])
  return 1
end
if ARGV[3] ~= '' and ARGV[3] ~= f[1] then
  redis.call('HSET', KEYS[1], 'phase', ARGV[3], 'phase_at', ARGV[5])
end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'checksum', ARGV[4]) end
if at < tonumber(f[2]) then redis.call('HSET', KEYS[1], 'first_seen', ARGV[5]) end
if at > tonumber(f[3]) then
  redis.call('HSET', KEYS[1], 'last_seen', ARGV[5])
  redis.call('ZADD', KEYS[2], at, ARGV[6])
end
return 0
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _canary_id(name: str, namespace: str) -> str:
    # a Kubernetes name is its own canary_id: the keys earlier releases wrote are these
    return canary_id(name, namespace)


class _Indexed:
    """JSON documents by id, listed newest first overall, by namespace and by canary."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    def _indexes(self, name: str, namespace: str) -> tuple[str, str, str]:
        p = self._prefix
        return f"{p}all", f"{p}ns:{namespace}", f"{p}c:{_canary_id(name, namespace)}"

    async def put(self, id: str, score: float, name: str, namespace: str,
                  document: dict[str, Any]) -> None:
        # acknowledged: WAIT covers what this replica wrote before too (audit:seq's INCR),
        # replication being in order
        async with acknowledged(self._redis) as redis, redis.pipeline(transaction=True) as pipe:
            pipe.hset(f"{self._prefix}data", id, json.dumps(document, separators=(",", ":")))
            for index in self._indexes(name, namespace):
                pipe.zadd(index, {id: score})
            await pipe.execute()

    async def get(self, id: str) -> dict[str, Any] | None:
        stored = await self._redis.hget(f"{self._prefix}data", id)
        return None if stored is None else dict(json.loads(_text(stored)))

    async def newest(self, name: str | None, namespace: str | None,
                     limit: int) -> list[dict[str, Any]]:
        if namespace is None:
            index = f"{self._prefix}all"
        elif name is None:
            index = f"{self._prefix}ns:{namespace}"
        else:
            index = f"{self._prefix}c:{_canary_id(name, namespace)}"
        if limit <= 0:  # a range to -1 would be the whole index
            return []
        only_name = name if namespace is None else None
        found: list[dict[str, Any]] = []
        start = 0
        batch = limit if only_name is None else max(limit, _SCAN_BATCH)
        while len(found) < limit:
            ids = [_text(id_) for id_ in
                   await self._redis.zrevrange(index, start, start + batch - 1)]
            if not ids:
                break
            stored = await self._redis.hmget(f"{self._prefix}data", ids)
            for item in stored:
                if item is None:
                    continue
                document = dict(json.loads(_text(item)))
                if only_name is None or document["name"] == only_name:
                    found.append(document)
            if only_name is None or len(ids) < batch:
                break
            start += batch
        return found[:limit]

    async def prune(self, before: float) -> None:
        """Drop documents scored before `before`, a batch at a time."""
        data = f"{self._prefix}data"
        while True:
            ids = [_text(id_) for id_ in await self._redis.zrangebyscore(
                f"{self._prefix}all", "-inf", f"({before}", start=0, num=_PRUNE_BATCH)]
            if not ids:
                return
            stored = await self._redis.hmget(data, ids)
            async with self._redis.pipeline(transaction=True) as pipe:
                for id_, item in zip(ids, stored, strict=True):
                    if item is not None:
                        document = json.loads(_text(item))
                        _all, *others = self._indexes(document["name"], document["namespace"])
                        for index in others:
                            pipe.zrem(index, id_)
                    pipe.zrem(f"{self._prefix}all", id_)
                    pipe.hdel(data, id_)
                await pipe.execute()
            if len(ids) < _PRUNE_BATCH:
                return


class RedisCanaryHistory:
    """CanaryHistory in Redis; every method raises StoreUnavailable when Redis is away."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._seen = client.register_script(_SEEN)
        self._tasks = _Indexed(client, prefix + "task:")

    def _canary_key(self, member: str) -> str:
        return f"{self._prefix}canary:{member}"

    @answers_or_unavailable
    async def seen(self, sighting: Sighting) -> None:
        member = _canary_id(sighting.name, sighting.namespace)
        await self._seen(keys=[self._canary_key(member), f"{self._prefix}canaries"],
                         args=[sighting.name, sighting.namespace, sighting.phase,
                               sighting.checksum, repr(sighting.at), member])

    @answers_or_unavailable
    async def canaries(self, since: float) -> list[CanaryRecord]:
        members = await self._redis.zrevrangebyscore(f"{self._prefix}canaries", "+inf", since)
        async with self._redis.pipeline(transaction=False) as pipe:
            for member in members:
                pipe.hgetall(self._canary_key(_text(member)))
            rows = await pipe.execute()
        return [_canary(row) for row in rows if row]

    @answers_or_unavailable
    async def canary_page(self, since: float, limit: int, after: CanaryCursor | None = None,
                          namespaces: frozenset[str] | None = None) -> list[CanaryRecord]:
        return await redis_pages.canary_page(
            self._redis, f"{self._prefix}canaries", self._canary_key, _canary_id, _canary,
            since, limit, after, namespaces)

    @answers_or_unavailable
    async def canary(self, name: str, namespace: str) -> CanaryRecord | None:
        row = await self._redis.hgetall(
            self._canary_key(_canary_id(name, namespace)))
        return _canary(row) if row else None

    @answers_or_unavailable
    async def record_task(self, record: TaskRecord) -> None:
        await self._tasks.put(record.id, record.started_at, record.name, record.namespace,
                              asdict(record))

    @answers_or_unavailable
    async def tasks(self, name: str | None = None, namespace: str | None = None,
                    limit: int = 50) -> list[TaskRecord]:
        return [TaskRecord(**document)
                for document in await self._tasks.newest(name, namespace, limit)]

    @answers_or_unavailable
    async def task(self, id: str) -> TaskRecord | None:
        document = await self._tasks.get(id)
        return None if document is None else TaskRecord(**document)

    @answers_or_unavailable
    async def prune(self, now: float) -> None:
        before = now - KEEP_HISTORY
        index = f"{self._prefix}canaries"
        while True:
            members = await self._redis.zrangebyscore(index, "-inf", f"({before}",
                                                      start=0, num=_PRUNE_BATCH)
            if not members:
                break
            async with self._redis.pipeline(transaction=True) as pipe:
                for member in members:
                    pipe.delete(self._canary_key(_text(member)))
                pipe.zrem(index, *members)
                await pipe.execute()
            if len(members) < _PRUNE_BATCH:
                break
        await self._tasks.prune(before)


def _canary(row: dict[Any, Any]) -> CanaryRecord:
    fields = {_text(key): _text(value) for key, value in row.items()}
    return CanaryRecord(fields["name"], fields["namespace"], fields["phase"],
                        float(fields["phase_at"]), fields["checksum"],
                        float(fields["first_seen"]), float(fields["last_seen"]))


class RedisAuditLog:
    """AuditLog in Redis: entries numbered in order, listed newest first."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str) -> None:
        self._redis = client
        self._seq = f"{prefix}audit:seq"
        self._entries = _Indexed(client, prefix + "audit:")

    @answers_or_unavailable
    async def append(self, entry: AuditEntry) -> None:
        number = int(await self._redis.incr(self._seq))
        # ids sort as the entries were made; the time scores them
        await self._entries.put(f"{number:016d}", entry.at, entry.name, entry.namespace,
                                asdict(entry))

    @answers_or_unavailable
    async def entries(self, name: str | None = None, namespace: str | None = None,
                      limit: int = 100) -> list[AuditEntry]:
        return [AuditEntry(**document)
                for document in await self._entries.newest(name, namespace, limit)]

    @answers_or_unavailable
    async def prune(self, now: float) -> None:
        await self._entries.prune(now - KEEP_HISTORY)
