"""-state-min-replicas: an acknowledged write reaches that many Redis replicas first.

Redis replicates asynchronously: a write the primary took may not have reached a replica
when the primary dies, and the replica promoted in its place never heard of it. WAIT N T
blocks until N replicas have what the calling *connection* wrote (a pooled client may send
the next command over another connection, and WAIT inside MULTI or a Lua script does not
block), so every command, script and pipeline of one write goes over one pooled connection,
and WAIT follows on that connection:

    async with acknowledged(self._redis) as redis:
        await self._script(keys=..., args=..., client=redis)   # or redis.pipeline(...)

Fewer replicas in time: StoreUnavailable, so that the change is not reported as made. It
may still be there: the caller tries again, and a repeated gate change, event (its identity)
or logout is stored once; a lease claimed that way lapses by itself. With 0 (the default)
`redis` is the client itself: nothing is added to a write.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from loadtester.errors import StoreUnavailable

REPLICA_TIMEOUT = 0.5  # seconds WAIT gives the replicas: a healthy one answers in a round trip


class ReplicatedRedis(aioredis.Redis):
    """The store's client (connect()): its acknowledged writes wait for `min_replicas`."""

    min_replicas = 0


class _PinnedPipeline(Pipeline):
    """A pipeline on its _Pinned client's connection, which it leaves to that client."""

    async def reset(self) -> None:  # type: ignore[override]  # Pipeline's, not RESET's
        self.connection = None  # not handed back to the pool: _Pinned does that
        await super().reset()  # type: ignore[no-untyped-call]


class _Pinned(aioredis.Redis):
    """A client of one connection taken from the pool: its commands, scripts and pipelines
    all go over that connection (execute_command uses `connection` when it is set)."""

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        pipe = _PinnedPipeline(self.connection_pool, self.response_callbacks, transaction,
                               shard_hint)
        pipe.connection = self.connection
        return pipe


@asynccontextmanager
async def acknowledged(client: aioredis.Redis) -> AsyncIterator[aioredis.Redis]:
    """The client to make one acknowledged write with; on leaving, once the body succeeded,
    WAIT for the client's min_replicas; StoreUnavailable when fewer answer in time."""
    replicas = client.min_replicas if isinstance(client, ReplicatedRedis) else 0
    if replicas <= 0:
        yield client
        return
    pool = client.connection_pool
    pinned = _Pinned(connection_pool=pool)
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    pinned.connection = connection
    try:
        yield pinned
        await connection.send_command("WAIT", replicas, int(REPLICA_TIMEOUT * 1000))
        reached = int(await connection.read_response(  # later than a socket timeout
            timeout=REPLICA_TIMEOUT + (connection.socket_timeout or 0)))
    finally:
        await pinned.aclose()  # hands the connection back to the pool
    if reached < replicas:
        raise StoreUnavailable(f"state store unavailable: write reached {reached} of "
                               f"{replicas} replicas within {REPLICA_TIMEOUT:g} s")


def require_replicas(client: aioredis.Redis, replicas: int) -> aioredis.Redis:
    """`client`, a ReplicatedRedis, with its acknowledged writes waiting for `replicas`."""
    if not isinstance(client, ReplicatedRedis):
        raise TypeError(f"not a ReplicatedRedis: {type(client).__name__}")
    client.min_replicas = replicas
    return client
