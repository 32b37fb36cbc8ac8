"""Gates and task leases in Redis (or Valkey), shared by every replica; the client set-up.

A Redis that does not answer turns into StoreUnavailable within a second: short socket
timeouts and one immediate retry (which heals a pooled connection broken by a Redis restart).
Writes that must be atomic are Lua scripts. Keys start with the prefix given to each store.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, ParamSpec, TypeVar, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError

from loadtester.cluster_url import CLUSTER_SCHEMES
from loadtester.errors import StoreUnavailable
from loadtester.sentinel_url import SENTINEL_SCHEMES, parse_sentinel_url
from loadtester.state.base import KEEP_CLOSED_GATES, Failure, GateChange
from loadtester.state.redis_cluster import CLUSTER_PREFIX, cluster_client
from loadtester.state.redis_replicas import ReplicatedRedis, acknowledged, require_replicas
from loadtester.state.store_keys import is_rollback, legacy_group, legacy_key, parse

PREFIX = "loadtester:"
_CONNECT_TIMEOUT = 0.3
_READ_TIMEOUT = 0.4
_KEEP_FAILURES = 7 * 24 * 3600

P = ParamSpec("P")
R = TypeVar("R")


def key_prefix(url: str) -> str:
    """The prefix of the store's keys at `url`: one hash tag on a Redis Cluster (all keys in
    one slot, see redis_cluster), the untagged names a plain Redis has always held otherwise."""
    return CLUSTER_PREFIX if url.startswith(CLUSTER_SCHEMES) else PREFIX


def connect(url: str, min_replicas: int = 0) -> aioredis.Redis:
    """A client of the Redis at `url` (redis://, rediss://); connects on first use; its
    acknowledged writes reach `min_replicas` replicas first (redis_replicas.py).

    redis+sentinel:// (rediss+sentinel://): a client of the service's primary, asked of the
    sentinels (with the URL's sentinel_password, if any) on every new connection; after a
    failover the next connection (a broken one is retried once) goes to the promoted replica.
    While the sentinels know no primary, a call fails with MasterNotFoundError, a
    ConnectionError: StoreUnavailable as any other.

    redis+cluster:// (rediss+cluster://): a RedisCluster that learns the slots from any
    node the URL names and follows MOVED and failovers; typed as a Redis because it answers
    every command, script and pipeline the stores send (keys under CLUSTER_PREFIX).
    """
    if url.startswith(CLUSTER_SCHEMES):
        return cast(aioredis.Redis, cluster_client(
            url, socket_connect_timeout=_CONNECT_TIMEOUT, socket_timeout=_READ_TIMEOUT,
            retry=Retry(NoBackoff(), 1)))
    if url.startswith(SENTINEL_SCHEMES):
        parsed = parse_sentinel_url(url)
        sentinel = Sentinel(parsed.sentinels, sentinel_kwargs={
            "socket_connect_timeout": _CONNECT_TIMEOUT, "socket_timeout": _READ_TIMEOUT,
            "username": parsed.sentinel_username, "password": parsed.sentinel_password})
        client: aioredis.Redis = sentinel.master_for(
            parsed.service, redis_class=ReplicatedRedis, socket_connect_timeout=_CONNECT_TIMEOUT,
            socket_timeout=_READ_TIMEOUT, db=parsed.db,
            username=parsed.username, password=parsed.password, ssl=parsed.tls,
            retry=Retry(NoBackoff(), 1), retry_on_timeout=True, decode_responses=True,
        )
        return require_replicas(client, min_replicas)
    return require_replicas(ReplicatedRedis.from_url(
        url, socket_connect_timeout=_CONNECT_TIMEOUT, socket_timeout=_READ_TIMEOUT,
        retry=Retry(NoBackoff(), 1), retry_on_timeout=True, decode_responses=True,
    ), min_replicas)


async def ping(client: aioredis.Redis, prefix: str) -> None:
    """Ask the Redis that holds the store's keys whether it answers.

    On a Cluster that is the primary of their one slot, asked with a read of a key there
    (routed, redirected and refreshed as the store's own commands are): a PING goes to the
    client's default node, which need not be the store's.
    """
    if isinstance(client, RedisCluster):
        await client.exists(prefix)
    else:
        await client.ping()


async def close(client: aioredis.Redis) -> None:
    """Close a client of connect(), and the sentinel clients behind it if any."""
    if isinstance(client, RedisCluster):
        await client.aclose()
        return
    pool = client.connection_pool
    await client.aclose()
    if isinstance(pool, SentinelConnectionPool):
        await pool.sentinel_manager.aclose()


def answers_or_unavailable(
    method: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Decorator: any Redis or socket error of the call becomes StoreUnavailable."""

    @functools.wraps(method)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"state store unavailable: {describe(exc)}") from None

    return guarded


def describe(error: BaseException) -> str:
    """The error in one line, without the URL (it may hold the password)."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:200]


def _gate_change(row: list[Any]) -> GateChange | None:
    """A gate's hash (its _GATE_FIELDS) as a GateChange; None when there is none."""
    is_open, by, checksum, at, name, namespace, bound = row
    if is_open is None:
        return None
    return GateChange(is_open == "1", by or "", checksum or "", float(at or 0), name or "",
                      namespace or "", bound == "1")


_GATE_FIELDS = ("is_open", "by", "checksum", "at", "name", "namespace", "bound")
# KEYS: a gate's hash, its hash in an earlier release's form; ARGV: the gate's name and
# namespace, the checksum checked. One call: this is the hot path. See RedisGateStore.
_IS_OPEN = """
local gate = redis.call('HMGET', KEYS[1], 'is_open', 'bound', 'checksum', 'at')
local old = redis.call('HMGET', KEYS[2], 'is_open', 'bound', 'checksum', 'at', 'name',
                       'namespace')
if old[1] and old[5] == ARGV[1] and old[6] == ARGV[2]
    and (not gate[1] or tonumber(old[4]) > tonumber(gate[4])) then
  gate = old
end
if gate[1] == '1' and (gate[2] ~= '1' or gate[3] == ARGV[3]) then return 1 end
return 0
"""
# KEYS: a gate's hash in an earlier release's form, both open sets; ARGV: the name and
# namespace of the gate being set, the legacy key. Drops the legacy hash when it is that
# gate's: the same legacy key may hold the other kind's gate (`rollback.x` vs rollback `x`).
_DROP_LEGACY = """
local f = redis.call('HMGET', KEYS[1], 'name', 'namespace')
if f[1] == ARGV[1] and f[2] == ARGV[2] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[3])
  redis.call('SREM', KEYS[3], ARGV[3])
end
return 0
"""


class RedisGateStore:
    """Gates as hashes; a closed gate expires after KEEP_CLOSED_GATES; open ones in a set.

    A gate an earlier release stored under its legacy key (`gate:<name>.<namespace>`) is read
    too, if the name and namespace stored in it are this gate's, and wins when it changed
    later: replicas of that release may still run during a rolling update. A change made
    here drops it.
    """

    def __init__(self, client: aioredis.Redis, prefix: str = PREFIX) -> None:
        self._redis = client
        self._prefix = prefix
        self._drop_legacy = client.register_script(_DROP_LEGACY)
        self._is_open = client.register_script(_IS_OPEN)

    def _key(self, key: str) -> str:
        return f"{self._prefix}gate:{key}"

    def _open_set(self, key: str) -> str:
        return f"{self._prefix}gates-open:{'rollback' if is_rollback(key) else 'gate'}"

    @answers_or_unavailable
    async def is_open(self, key: str, checksum: str = "") -> bool:
        parsed, legacy = parse(key), legacy_key(key)
        if parsed is None or legacy is None:
            change = _gate_change(await self._redis.hmget(self._key(key), _GATE_FIELDS))
            return change is not None and change.approves(checksum)
        return bool(await self._is_open(keys=[self._key(key), self._key(legacy)],
                                        args=[parsed.name, parsed.namespace, checksum]))

    @answers_or_unavailable
    async def set(self, key: str, change: GateChange) -> None:
        fields: dict[Any, str | int | float] = {
            "is_open": int(change.is_open), "by": change.by, "checksum": change.checksum,
            "at": change.at, "name": change.name, "namespace": change.namespace,
            "bound": int(change.bound),
        }
        parsed, legacy = parse(key), legacy_key(key)
        async with acknowledged(self._redis) as redis, redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(key), mapping=fields)
            if change.is_open:
                pipe.persist(self._key(key))
                pipe.sadd(self._open_set(key), key)
            else:
                pipe.expire(self._key(key), int(KEEP_CLOSED_GATES))
                pipe.srem(self._open_set(key), key)
            if parsed is not None and legacy is not None:
                await self._drop_legacy(
                    keys=[self._key(legacy), f"{self._prefix}gates-open:gate",
                          f"{self._prefix}gates-open:rollback"],
                    args=[parsed.name, parsed.namespace, legacy], client=pipe)
            await pipe.execute()

    @answers_or_unavailable
    async def get(self, key: str) -> GateChange | None:
        return await self._read(key)

    async def _read(self, key: str) -> GateChange | None:
        """The gate's last change, in this release's form or an earlier one's."""
        parsed, legacy = parse(key), legacy_key(key)
        if parsed is None or legacy is None:
            return _gate_change(await self._redis.hmget(self._key(key), _GATE_FIELDS))
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self._key(key), _GATE_FIELDS)
            pipe.hmget(self._key(legacy), _GATE_FIELDS)
            current, old = (_gate_change(row) for row in await pipe.execute())
        if old is not None and (old.name, old.namespace) == (parsed.name, parsed.namespace) and (
                current is None or old.at > current.at):
            return old
        return current

    @answers_or_unavailable
    async def open_counts(self) -> dict[str, int]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.scard(f"{self._prefix}gates-open:gate")
            pipe.scard(f"{self._prefix}gates-open:rollback")
            gates, rollbacks = await pipe.execute()
        return {"gate": int(gates), "rollback": int(rollbacks)}


# a lease's value is "OWNER\nCANARY"; each canary has a set of its task keys, for revoke()
# KEYS[3]: the lease in an earlier release's form, held by a replica of it (a rolling update)
_CLAIM = """
if KEYS[3] ~= KEYS[1] and redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
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
        legacy = self._lease(legacy_key(key) or key)
        async with acknowledged(self._redis) as redis:
            claimed = await self._claim(keys=[self._lease(key), self._canary(canary), legacy],
                                        args=[owner, canary, int(ttl * 1000), key], client=redis)
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
        async with acknowledged(self._redis) as redis:
            await self._release(keys=[self._lease(key), self._failure(key)],
                                args=[owner, stored, _KEEP_FAILURES, key,
                                      f"{self._prefix}leases:"], client=redis)

    @answers_or_unavailable
    async def take_failure(self, key: str) -> Failure | None:
        # an earlier release kept it under its own form of the key: taken either way, once
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.getdel(self._failure(key))
            pipe.getdel(self._failure(legacy_key(key) or key))
            current, earlier = await pipe.execute()
        stored: Any = current or earlier
        if not stored:
            return None
        reason, checksum = json.loads(stored)
        return Failure(str(reason), str(checksum))

    @answers_or_unavailable
    async def revoke(self, canary: str) -> int:
        dropped = 0
        async with acknowledged(self._redis) as redis:
            for group in {canary, legacy_group(canary) or canary}:  # and an earlier release's
                dropped += int(await self._revoke(keys=[self._canary(group)],
                                                  args=[f"{self._prefix}lease:"], client=redis))
        return dropped

    @answers_or_unavailable
    async def cancel(self, key: str) -> bool:
        async with acknowledged(self._redis) as redis:
            return bool(await self._cancel(keys=[self._lease(key)],
                                           args=[f"{self._prefix}leases:", key], client=redis))
