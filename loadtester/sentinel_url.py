"""A Redis Sentinel `-state` URL, parsed: the sentinels, the service name, the database.

    redis+sentinel://[:password@]host1:26379,host2:26379/mymaster[/db]
    rediss+sentinel://...    the same, TLS to the data nodes (as rediss:// does)

The password (and user) are the data nodes'; the sentinels are asked without one. A host
without a port is asked on 26379. A leaf module: Settings checks the URL at start-up with it
and the Redis store builds its client from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

SENTINEL_SCHEMES = ("redis+sentinel://", "rediss+sentinel://")
DEFAULT_PORT = 26379


@dataclass(frozen=True)
class SentinelUrl:
    """What a redis+sentinel:// URL names."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    username: str | None
    password: str | None
    tls: bool


def _host_port(item: str) -> tuple[str, int]:
    """`host[:port]` (or `[v6]:port`) as (host, port); ValueError on a bad port."""
    host, port = item, ""
    if item.startswith("["):
        host, _, rest = item[1:].partition("]")
        port = rest.removeprefix(":")
    elif item.count(":") == 1:
        host, _, port = item.partition(":")
    if not host:
        raise ValueError("invalid Redis Sentinel URL: a host is empty")
    if not port:
        return host, DEFAULT_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("invalid Redis Sentinel URL: bad port")
    return host, int(port)


def parse_sentinel_url(url: str) -> SentinelUrl:
    """The parts of `url`; ValueError (one line, never the password) names what is wrong."""
    parts = urlsplit(url)
    credentials, _, hosts = parts.netloc.rpartition("@")
    items = [item.strip() for item in hosts.split(",") if item.strip()]
    if not items:
        raise ValueError("invalid Redis Sentinel URL: no sentinel hosts "
                         "(redis+sentinel://host1:26379,host2:26379/mymaster)")
    sentinels = tuple(_host_port(item) for item in items)
    path = [segment for segment in parts.path.split("/") if segment]
    if not path:
        raise ValueError("invalid Redis Sentinel URL: no service name "
                         "(redis+sentinel://host1:26379,host2:26379/mymaster)")
    if len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError("invalid Redis Sentinel URL: the path must be /service or /service/db")
    username, password = None, None
    if credentials:
        user, colon, secret = credentials.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    return SentinelUrl(sentinels, unquote(path[0]), int(path[1]) if len(path) == 2 else 0,
                       username, password, url.startswith("rediss+"))
