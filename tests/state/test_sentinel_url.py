"""A redis+sentinel:// -state URL: what it names, and the client the Redis store builds of it."""

from __future__ import annotations

import pytest
from redis.asyncio.sentinel import (
    SentinelConnectionPool,
    SentinelManagedConnection,
    SentinelManagedSSLConnection,
)

from loadtester.sentinel_url import parse_sentinel_url
from loadtester.state import redis as redis_state


def test_parts_of_a_sentinel_url() -> None:
    """Hosts (26379 by default, IPv6 in brackets), service, database and the data password."""
    parsed = parse_sentinel_url("rediss+sentinel://u:p%40w@s0,s1:26380,[::1]:26381/mymaster/3")
    assert parsed.sentinels == (("s0", 26379), ("s1", 26380), ("::1", 26381))
    assert (parsed.service, parsed.db, parsed.username, parsed.password, parsed.tls) == (
        "mymaster", 3, "u", "p@w", True)
    plain = parse_sentinel_url("redis+sentinel://s0/other")
    assert (plain.db, plain.username, plain.password, plain.tls) == (0, None, None, False)


@pytest.mark.parametrize("url", ["redis+sentinel://s0/m/x", "redis+sentinel://s0/m/1/2",
                                 "redis+sentinel://s0:0/m", "redis+sentinel://s0:99999/m"])
def test_bad_sentinel_urls(url: str) -> None:
    """A path other than /service[/db] or a bad port is refused with one line."""
    with pytest.raises(ValueError, match="invalid Redis Sentinel URL"):
        parse_sentinel_url(url)


@pytest.mark.parametrize(("scheme", "connection"), [
    ("redis+sentinel", SentinelManagedConnection),
    ("rediss+sentinel", SentinelManagedSSLConnection),
])
async def test_client_asks_the_sentinels(scheme: str, connection: type) -> None:
    """The store's client is the service's primary through the sentinels; TLS for rediss."""
    client = redis_state.connect(f"{scheme}://:pw@s0,s1:26380/mymaster/2")
    try:
        pool = client.connection_pool
        assert isinstance(pool, SentinelConnectionPool)
        assert pool.service_name == "mymaster" and pool.is_master
        assert pool.connection_class is connection
        assert (pool.connection_kwargs["db"], pool.connection_kwargs["password"]) == (2, "pw")
        hosts = [(s.connection_pool.connection_kwargs["host"],
                  s.connection_pool.connection_kwargs["port"])
                 for s in pool.sentinel_manager.sentinels]
        assert hosts == [("s0", 26379), ("s1", 26380)]
    finally:
        await redis_state.close(client)
