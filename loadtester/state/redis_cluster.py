"""The Redis store on a Redis Cluster (-state=redis+cluster://): its client, its key prefix.

Every key of the store carries one hash tag, `{loadtester}`, so all of them live in one slot,
on one primary (and its replicas). Each Lua script and MULTI may then touch any of the store's
keys, as on a single Redis: the scripts also build key names of their own (a canary's leases,
the events' lanes) and read an earlier release's forms of keys, which no per-key tag could
put in the script's slot. One slot is one primary's load: Cluster serves this store for its
availability (a replica takes over a failed primary by itself), not for throughput; the
store's load is a few commands per webhook. Plain Redis and Sentinel keep the untagged
prefix, so data already stored there stays readable.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from loadtester.cluster_url import CLUSTER_SCHEMES, NotACluster, parse_cluster_url

CLUSTER_PREFIX = "{loadtester}:"
_PROBE_TIMEOUT = 0.4  # a node silent for longer at start-up is left to the store's 503s


class StoreCluster(RedisCluster):
    """A RedisCluster whose pipelines send a registered script's text (EVAL), not its SHA.

    A plain pipeline loads its scripts before it runs; a cluster pipeline does not, and the
    node holding the slot may never have seen a script (a new node, a promoted replica, a
    restart): its EVALSHA would fail with NOSCRIPT inside a MULTI whose other commands ran.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.script_texts: dict[str, str] = {}

    def register_script(self, script: Any) -> AsyncScript:  # type: ignore[override]
        registered = super().register_script(script)
        self.script_texts[registered.sha] = script
        return registered

    def pipeline(self, transaction: Any | None = None,
                 shard_hint: Any | None = None) -> ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # which refuses it
        # abstract only to mypy, as ClusterPipeline is: the library instantiates that too
        return _ScriptTextPipeline(self, transaction)  # type: ignore[abstract]


class _ScriptTextPipeline(ClusterPipeline):
    """A pipeline of StoreCluster: EVALSHA of a registered script goes out as EVAL."""

    cluster_client: StoreCluster

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        text = self.cluster_client.script_texts.get(sha)
        if text is None:
            return super().evalsha(sha, numkeys, *keys_and_args)
        return self.eval(text, numkeys, *keys_and_args)


def cluster_client(url: str, **connection: Any) -> StoreCluster:
    """A client of the cluster a redis+cluster:// URL names; `connection`: timeouts, retry."""
    parsed = parse_cluster_url(url)
    return StoreCluster(startup_nodes=[ClusterNode(host, port) for host, port in parsed.nodes],
                        username=parsed.username, password=parsed.password, ssl=parsed.tls,
                        decode_responses=True, **connection)


async def refuse_non_cluster(url: str) -> None:
    """NotACluster when a node a cluster URL names answers but has cluster support disabled.

    Asked once at start-up: such a URL can never work. A node that does not answer is left
    alone; the store answers 503 until the cluster does.
    """
    if not url.startswith(CLUSTER_SCHEMES):
        return
    parsed = parse_cluster_url(url)
    for host, port in parsed.nodes:
        probe = aioredis.Redis(host=host, port=port, username=parsed.username,
                               password=parsed.password, ssl=parsed.tls,
                               socket_connect_timeout=_PROBE_TIMEOUT,
                               socket_timeout=_PROBE_TIMEOUT, decode_responses=True)
        try:
            info = await probe.info("cluster")
        except (RedisError, OSError, TimeoutError):
            continue
        finally:
            await probe.aclose()
        if not info.get("cluster_enabled"):
            raise NotACluster(f"-state: {host}:{port} is not a Redis Cluster node (cluster "
                              "support disabled); use redis:// for a single Redis")
