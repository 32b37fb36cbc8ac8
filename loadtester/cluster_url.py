"""A Redis Cluster `-state` URL, parsed: the nodes to discover the cluster from.

    redis+cluster://[user:password@]host1:6379,host2:6379,.../
    rediss+cluster://...    the same, TLS to every node (as rediss:// does)

Any one reachable node is enough to learn the rest of the cluster; naming more only helps
at start-up while some are down. A host without a port is asked on 6379. A cluster has only
database 0, so the path is empty (or `/0`). A leaf module: Settings checks the URL at
start-up with it and the Redis store builds its client from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")
DEFAULT_PORT = 6379
_EXAMPLE = "(redis+cluster://host1:6379,host2:6379/)"


class NotACluster(ValueError):
    """A node the cluster URL names answers, but is not a Redis Cluster node (one line)."""


@dataclass(frozen=True)
class ClusterUrl:
    """What a redis+cluster:// URL names."""

    nodes: tuple[tuple[str, int], ...]
    username: str | None
    password: str | None
    tls: bool


def _node(item: str) -> tuple[str, int]:
    """`host[:port]` (or `[v6]:port`) as (host, port); ValueError on a bad one."""
    parts = urlsplit(f"//{item}")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if not parts.hostname or port == 0:
        raise ValueError(f"invalid Redis Cluster URL: bad node {item!r} {_EXAMPLE}")
    return parts.hostname, port or DEFAULT_PORT


def parse_cluster_url(url: str) -> ClusterUrl:
    """The parts of `url`; ValueError (one line, never the password) names what is wrong."""
    parts = urlsplit(url)
    credentials, _, hosts = parts.netloc.rpartition("@")
    items = [item.strip() for item in hosts.split(",") if item.strip()]
    if not items:
        raise ValueError(f"invalid Redis Cluster URL: no node {_EXAMPLE}")
    nodes = tuple(_node(item) for item in items)
    if parts.path.strip("/") not in ("", "0") or parts.query or parts.fragment:
        raise ValueError("invalid Redis Cluster URL: a cluster has only database 0, "
                         f"nothing may follow the nodes {_EXAMPLE}")
    username, password = None, None
    if credentials:
        user, colon, secret = credentials.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    return ClusterUrl(nodes, username, password, url.startswith("rediss+"))
