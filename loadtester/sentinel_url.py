"""A Redis Sentinel `-state` URL, parsed: the sentinels, the service name, the database.

    redis+sentinel://[:password@]host1:26379,host2:26379/mymaster[/db][?sentinel_password=pw]
    rediss+sentinel://...    the same, TLS to the data nodes (as rediss:// does)

The password (and user) are the data nodes'; the sentinels are asked with the query's
`sentinel_password` (and `sentinel_username`, the names redis-rb and go-redis use), without
one when it is absent: sentinels often need none, or another one than the data nodes. A host
without a port is asked on 26379. A leaf module: Settings checks the URL at start-up with it
and the Redis store builds its client from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

SENTINEL_SCHEMES = ("redis+sentinel://", "rediss+sentinel://")
DEFAULT_PORT = 26379
_SENTINEL_AUTH = ("sentinel_username", "sentinel_password")


@dataclass(frozen=True)
class SentinelUrl:
    """What a redis+sentinel:// URL names."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    username: str | None
    password: str | None
    tls: bool
    sentinel_username: str | None = None
    sentinel_password: str | None = None


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
    auth = _sentinel_auth(parts.query)
    return SentinelUrl(sentinels, unquote(path[0]), int(path[1]) if len(path) == 2 else 0,
                       username, password, url.startswith("rediss+"),
                       auth.get("sentinel_username"), auth.get("sentinel_password"))


def _sentinel_auth(query: str) -> dict[str, str]:
    """The sentinels' credentials of the query; ValueError (names only) on any other key."""
    for part in filter(None, query.split("&")):
        key, equals, _ = part.partition("=")
        if unquote(key) not in _SENTINEL_AUTH:
            # a part without `=` may be a misplaced password: never echoed
            name = repr(unquote(key)) if equals else "without a value"
            raise ValueError(f"invalid Redis Sentinel URL: unknown parameter {name} "
                             "(only sentinel_username and sentinel_password)")
    return {key: value for key, value in parse_qsl(query) if value}


def without_sentinel_password(url: str) -> str:
    """`url` with the value of its sentinel_password parameter masked, for logs."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(key == "sentinel_password" for key, _ in pairs):
        return url
    masked = [(key, "***" if key == "sentinel_password" else value) for key, value in pairs]
    return parts._replace(query=urlencode(masked, safe="*")).geturl()
