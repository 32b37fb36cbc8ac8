"""A real Redis Cluster (Debian's redis-server, `redis-cli --cluster create`): three primaries
(each with `replicas` replicas, none by default) on free loopback ports, each node in a
directory of its own; a replica takes over a killed primary within a few seconds."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

import redis

from tests.support.polling import until
from tests.support.redis_server import RedisServer, free_port

_NODE_ARGUMENTS = ("--cluster-enabled", "yes", "--cluster-node-timeout", "2000")


class RedisClusterGroup:
    """`primaries` cluster nodes sharing the 16384 slots; restartable with their nodes.conf."""

    def __init__(self, directory: Path, primaries: int = 3, replicas: int = 0) -> None:
        # the bus port of its own: the default, port + 10000, may be taken or past 65535
        self.nodes = [RedisServer(directory / f"node-{index}",
                                  extra=(*_NODE_ARGUMENTS, "--cluster-port", str(free_port())))
                      for index in range(primaries * (1 + replicas))]
        self.replicas = replicas
        self.created = False

    def url(self, scheme: str = "redis+cluster") -> str:
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)
        return f"{scheme}://{hosts}/"

    def start(self) -> RedisClusterGroup:
        """Start the nodes; the first start also makes them one cluster."""
        for node in self.nodes:
            node.start()
        if not self.created:  # later starts read the cluster from each node's nodes.conf
            binary = shutil.which("redis-cli") or "/usr/bin/redis-cli"
            subprocess.run(
                [binary, "--cluster", "create",
                 *(f"127.0.0.1:{node.port}" for node in self.nodes),
                 "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
            self.created = True
        self.wait_ok()
        return self

    def wait_ok(self, within: float = 30) -> None:
        """Until every node says the cluster is ok and knows all the others, and every replica
        is in sync with its primary."""
        until(lambda: all(self._ok(node) for node in self.nodes), within,
              "redis cluster fixture: every node ok")

    def _ok(self, node: RedisServer) -> bool:
        """The node answers, sees the cluster ok, knows all its nodes, and is in sync."""
        try:
            with redis.Redis(port=node.port, socket_timeout=1, decode_responses=True) as client:
                info = client.cluster("INFO")
                replication = client.info("replication")
        except redis.RedisError:
            return False
        return bool(info["cluster_state"] == "ok"
                    and int(info["cluster_known_nodes"]) == len(self.nodes)
                    and replication.get("master_link_status", "up") == "up")

    def primary_of(self, key: str) -> RedisServer:
        """The running node that serves `key`'s slot now (the others answer MOVED)."""
        for node in self.nodes:
            if node.process is None:
                continue
            try:
                with redis.Redis(port=node.port, socket_timeout=1) as client:
                    client.exists(key)
                    return node
            except redis.RedisError:
                continue
        raise RuntimeError(f"redis cluster fixture: no node serves {key!r}")

    def flush(self) -> None:
        """Empty every primary (a replica follows its own)."""
        for node in self.nodes:
            with contextlib.suppress(redis.ReadOnlyError):
                node.flush()

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()
