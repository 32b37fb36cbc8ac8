"""Load runs in Redis, shared by every replica.

Keys, under the prefix:

    run:<namespace>/<name>:<id>   one run (JSON), expiring KEEP_HISTORY after its start
    runs:<namespace>/<name>       the canary's run ids scored by start (the last KEEP_RUNS)

`<namespace>/<name>` is store_keys.canary_id (each part percent-encoded).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Any

import redis.asyncio

from loadtester.state.base import KEEP_HISTORY, KEEP_RUNS, LoadRun
from loadtester.state.redis import answers_or_unavailable
from loadtester.state.redis_replicas import acknowledged
from loadtester.state.store_keys import canary_id


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisLoadRuns:
    """LoadRuns in Redis; every method raises StoreUnavailable when Redis is away."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    def _index(self, name: str, namespace: str) -> str:
        return f"{self._prefix}runs:{canary_id(name, namespace)}"

    def _key(self, name: str, namespace: str, id: str) -> str:
        return f"{self._prefix}run:{canary_id(name, namespace)}:{id}"

    @answers_or_unavailable
    async def record(self, run: LoadRun) -> None:
        index = self._index(run.name, run.namespace)
        until = math.ceil((run.started_at + KEEP_HISTORY) * 1000)
        async with acknowledged(self._redis) as redis, redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(run.name, run.namespace, run.id), json.dumps(asdict(run)),
                     pxat=until)
            pipe.zadd(index, {run.id: run.started_at})
            pipe.pexpireat(index, until)
            await pipe.execute()
        extra = await self._redis.zrange(index, 0, -KEEP_RUNS - 1)
        if extra:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zrem(index, *extra)
                pipe.delete(*(self._key(run.name, run.namespace, _text(id_)) for id_ in extra))
                await pipe.execute()

    @answers_or_unavailable
    async def run(self, name: str, namespace: str, id: str) -> LoadRun | None:
        stored = await self._redis.get(self._key(name, namespace, id))
        return None if stored is None else LoadRun(**json.loads(_text(stored)))

    @answers_or_unavailable
    async def ids(self, name: str, namespace: str, limit: int = KEEP_RUNS) -> list[str]:
        if limit <= 0:
            return []
        found = await self._redis.zrevrange(self._index(name, namespace), 0, limit - 1)
        return [_text(id_) for id_ in found]

    @answers_or_unavailable
    async def prune(self, now: float) -> None:
        # runs expire by themselves too: this forgets them on a clock ahead of Redis's
        before = now - KEEP_HISTORY
        head = f"{self._prefix}runs:"
        async for key in self._redis.scan_iter(match=f"{head}*", count=200):
            index = _text(key)
            old = await self._redis.zrangebyscore(index, "-inf", f"({before}")
            if old:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.zrem(index, *old)
                    pipe.delete(*(f"{self._prefix}run:{index[len(head):]}:{_text(id_)}"
                                  for id_ in old))
                    await pipe.execute()
