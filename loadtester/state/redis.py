"""Gates and task leases in Redis (or Valkey), shared by every replica; the client set-up.

A Redis that does not answer turns into StoreUnavailable within a second: short socket
timeouts and one immediate retry (which heals a pooled connection broken by a Redis restart).
Writes that must be atomic are Lua scripts. Keys start with the prefix given to each store.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, ParamSpec, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from loadtester.errors import StoreUnavailable
from loadtester.state.base import KEEP_CLOSED_GATES, Failure, GateChange

PREFIX = "loadtester:"
_CONNECT_TIMEOUT = 0.3
_READ_TIMEOUT = 0.4
_KEEP_FAILURES = 7 * 24 * 3600

P = ParamSpec("P")
R = TypeVar("R")


def connect(url: str) -> aioredis.Redis:
    """A client of the Redis at `url` (redis://, rediss://); connects on first use."""
    return aioredis.Redis.from_url(
        url, socket_connect_timeout=_CONNECT_TIMEOUT, socket_timeout=_READ_TIMEOUT,
        retry=Retry(NoBackoff(), 1), retry_on_timeout=True, decode_responses=True,
    )


def answers_or_unavailable(
    method: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Decorator: any Redis or socket error of the call becomes StoreUnavailable."""

    @functools.wraps(method)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"state store unavailable: {describe(exc)}") from None

    return guarded


def describe(error: BaseException) -> str:
    """The error in one line, without the URL (it may hold the password)."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:200]


class RedisGateStore:
    """Gates as hashes; a closed gate expires after KEEP_CLOSED_GATES; open ones in a set."""

    def __init__(self, client: aioredis.Redis, prefix: str = PREFIX) -> None:
        self._redis = client
        self._prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self._prefix}gate:{key}"

    def _open_set(self, key: str) -> str:
        return f"{self._prefix}gates-open:{'rollback' if key.startswith('rollback.') else 'gate'}"

    @answers_or_unavailable
    async def is_open(self, key: str, checksum: str = "") -> bool:
        is_open, bound, revision = await self._redis.hmget(
            self._key(key), ("is_open", "bound", "checksum"))
        return is_open == "1" and (bound != "1" or revision == checksum)

    @answers_or_unavailable
    async def set(self, key: str, change: GateChange) -> None:
        fields: dict[Any, str | int | float] = {
            "is_open": int(change.is_open), "by": change.by, "checksum": change.checksum,
            "at": change.at, "name": change.name, "namespace": change.namespace,
            "bound": int(change.bound),
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(key), mapping=fields)
            if change.is_open:
                pipe.persist(self._key(key))
                pipe.sadd(self._open_set(key), key)
            else:
                pipe.expire(self._key(key), int(KEEP_CLOSED_GATES))
                pipe.srem(self._open_set(key), key)
            await pipe.execute()

    @answers_or_unavailable
    async def get(self, key: str) -> GateChange | None:
        fields: dict[Any, Any] = await self._redis.hgetall(self._key(key))
        if not fields:
            return None
        return GateChange(fields["is_open"] == "1", fields["by"], fields["checksum"],
                          float(fields["at"]), fields["name"], fields["namespace"],
                          fields.get("bound") == "1")

    @answers_or_unavailable
    async def open_counts(self) -> dict[str, int]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.scard(f"{self._prefix}gates-open:gate")
            pipe.scard(f"{self._prefix}gates-open:rollback")
            gates, rollbacks = await pipe.execute()
        return {"gate": int(gates), "rollback": int(rollbacks)}


# a lease's value is "OWNER\nCANARY"; each canary has a set of its task keys, for revoke()
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1] .. '\\n' .. ARGV[2], 'NX', 'PX', ARGV[3]) then
  redis.call('SADD', KEYS[2], ARGV[4])
  return 1
end
return 0
"""
_RENEW = """
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, #ARGV[1] + 1) == ARGV[1] .. '\\n' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, #ARGV[1] + 1) == ARGV[1] .. '\\n' then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', ARGV[5] .. string.sub(value, #ARGV[1] + 2), ARGV[4])
end
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
end
return 0
"""
_REVOKE = """
local keys = redis.call('SMEMBERS', KEYS[1])
local dropped = 0
for _, key in ipairs(keys) do
  dropped = dropped + redis.call('DEL', ARGV[1] .. key)
end
redis.call('DEL', KEYS[1])
return dropped
"""
_CANCEL = """
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
redis.call('DEL', KEYS[1])
local owner_end = string.find(value, '\\n', 1, true)
if owner_end then
  redis.call('SREM', ARGV[1] .. string.sub(value, owner_end + 1), ARGV[2])
end
return 1
"""


class RedisTaskLedger:
    """Leases that lapse by themselves (PX); failures handed out once (GETDEL)."""

    def __init__(self, client: aioredis.Redis, prefix: str = PREFIX) -> None:
        self._redis = client
        self._prefix = prefix
        self._claim = client.register_script(_CLAIM)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._revoke = client.register_script(_REVOKE)
        self._cancel = client.register_script(_CANCEL)

    def _lease(self, key: str) -> str:
        return f"{self._prefix}lease:{key}"

    def _canary(self, canary: str) -> str:
        return f"{self._prefix}leases:{canary}"

    def _failure(self, key: str) -> str:
        return f"{self._prefix}failure:{key}"

    @answers_or_unavailable
    async def claim(self, key: str, canary: str, owner: str, ttl: float) -> bool:
        claimed = await self._claim(keys=[self._lease(key), self._canary(canary)],
                                    args=[owner, canary, int(ttl * 1000), key])
        return bool(claimed)

    @answers_or_unavailable
    async def renew(self, keys: Iterable[str], owner: str, ttl: float) -> set[str]:
        keys = list(keys)
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                await self._renew(keys=[self._lease(key)], args=[owner, int(ttl * 1000)],
                                  client=pipe)
            held = await pipe.execute()
        return {key for key, kept in zip(keys, held, strict=True) if not kept}

    @answers_or_unavailable
    async def release(self, key: str, owner: str, failure: Failure | None) -> None:
        stored = json.dumps([failure.reason, failure.checksum]) if failure else ""
        await self._release(keys=[self._lease(key), self._failure(key)],
                            args=[owner, stored, _KEEP_FAILURES, key, f"{self._prefix}leases:"])

    @answers_or_unavailable
    async def take_failure(self, key: str) -> Failure | None:
        stored: Any = await self._redis.getdel(self._failure(key))
        if not stored:
            return None
        reason, checksum = json.loads(stored)
        return Failure(str(reason), str(checksum))

    @answers_or_unavailable
    async def revoke(self, canary: str) -> int:
        return int(await self._revoke(keys=[self._canary(canary)], args=[f"{self._prefix}lease:"]))

    @answers_or_unavailable
    async def cancel(self, key: str) -> bool:
        return bool(await self._cancel(keys=[self._lease(key)],
                                       args=[f"{self._prefix}leases:", key]))
