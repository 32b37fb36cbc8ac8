"""A redis+sentinel:// -state URL: what it names, and the client the Redis store builds of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis.asyncio.sentinel import (
    SentinelConnectionPool,
    SentinelManagedConnection,
    SentinelManagedSSLConnection,
)

from loadtester.cli import parse_settings
from loadtester.errors import StoreUnavailable
from loadtester.sentinel_url import parse_sentinel_url
from loadtester.state import redis as redis_state
from loadtester.state.base import GateChange
from tests.support.redis_sentinel import SentinelGroup
from tests.support.service import GATE, StartService, request

DATA_PASSWORD = "data-pw"
SENTINEL_PASSWORD = "sentinel+pw/&="  # percent-encoded in the URL


def test_parts_of_a_sentinel_url() -> None:
    """Hosts (26379 by default, IPv6 in brackets), service, database and the data password."""
    parsed = parse_sentinel_url("rediss+sentinel://u:p%40w@s0,s1:26380,[::1]:26381/mymaster/3")
    assert parsed.sentinels == (("s0", 26379), ("s1", 26380), ("::1", 26381))
    assert (parsed.service, parsed.db, parsed.username, parsed.password, parsed.tls) == (
        "mymaster", 3, "u", "p@w", True)
    plain = parse_sentinel_url("redis+sentinel://s0/other")
    assert (plain.db, plain.username, plain.password, plain.tls) == (0, None, None, False)
    assert (plain.sentinel_username, plain.sentinel_password) == (None, None)


def test_sentinel_credentials_are_query_parameters() -> None:
    """sentinel_password (and sentinel_username) are the sentinels' own, apart from the data's."""
    parsed = parse_sentinel_url(
        "redis+sentinel://:data@s0/m/1?sentinel_username=watch&sentinel_password=s%2Bp%26w")
    assert (parsed.password, parsed.db) == ("data", 1)
    assert (parsed.sentinel_username, parsed.sentinel_password) == ("watch", "s+p&w")
    assert parse_sentinel_url("redis+sentinel://s0/m?sentinel_password=").sentinel_password \
        is None


def test_unknown_query_parameter_is_refused_by_name() -> None:
    """Any other parameter is refused, named without its value (it may be a password)."""
    with pytest.raises(ValueError, match="unknown parameter 'password'") as error:
        parse_sentinel_url("redis+sentinel://s0/m?password=hunter2")
    assert "hunter2" not in str(error.value)
    with pytest.raises(ValueError, match="unknown parameter without a value") as error:
        parse_sentinel_url("redis+sentinel://s0/m?sentinel_password=x&hunter2")
    assert "hunter2" not in str(error.value)


def test_sentinel_password_is_masked_in_logs() -> None:
    """The state URL in the logs masks both the data and the sentinels' password."""
    url = "redis+sentinel://:data-secret@h1,h2/m/0?sentinel_password=s-secret"
    logged = parse_settings([f"-state={url}"], {}).state_for_logs
    assert "secret" not in logged
    assert logged == "redis+sentinel://:***@h1,h2/m/0?sentinel_password=***"


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
        assert {s.connection_pool.connection_kwargs["password"]
                for s in pool.sentinel_manager.sentinels} == {None}
    finally:
        await redis_state.close(client)


# --- real password-protected sentinels ------------------------------------------------


@pytest.fixture(scope="module")
def guarded_group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    """Primary, replica and sentinels; the data nodes and the sentinels want other passwords."""
    group = SentinelGroup(tmp_path_factory.mktemp("guarded") / "sentinel",
                          password=DATA_PASSWORD, sentinel_password=SENTINEL_PASSWORD)
    try:
        yield group.start()
    finally:
        group.stop()


async def gate_round_trip(url: str) -> GateChange | None:
    """Open a gate through the store `url` names and read it back."""
    client = redis_state.connect(url)
    try:
        gates = redis_state.RedisGateStore(client, prefix="loadtester-test-auth:")
        await gates.set("gate:test/podinfo", GateChange(True, by="test"))
        return await gates.get("gate:test/podinfo")
    finally:
        await redis_state.close(client)


@pytest.mark.system
async def test_password_protected_sentinels(guarded_group: SentinelGroup) -> None:
    """With the URL's sentinel_password the store finds the primary and keeps a gate there."""
    change = await gate_round_trip(guarded_group.url())
    assert change is not None and change.is_open and change.by == "test"


@pytest.mark.system
@pytest.mark.parametrize("query", ["", "?sentinel_password=wrong-one"])
async def test_sentinels_refusing_the_password(guarded_group: SentinelGroup, query: str) -> None:
    """No or a wrong sentinel password: 503-style StoreUnavailable, neither password in it."""
    url = guarded_group.url().partition("?")[0] + query
    with pytest.raises(StoreUnavailable, match="state store unavailable") as error:
        await gate_round_trip(url)
    assert DATA_PASSWORD not in str(error.value) and "wrong-one" not in str(error.value)


@pytest.mark.system
async def test_sentinel_password_is_not_the_data_password(guarded_group: SentinelGroup) -> None:
    """The data password alone does not open the sentinels: each is given where it belongs."""
    url = guarded_group.url().partition("?")[0] + f"?sentinel_password={DATA_PASSWORD}"
    with pytest.raises(StoreUnavailable):
        await gate_round_trip(url)


@pytest.mark.system
def test_service_on_password_protected_sentinels(start_service: StartService,
                                                 guarded_group: SentinelGroup) -> None:
    """The service is ready, keeps a gate, and logs neither password."""
    service = start_service(f"-state={guarded_group.url()}", "-log-level=debug")
    service.open_gate_when_ready()
    assert request(service.port, "/gate/check", GATE) == (200, "Approved")
    assert service.stop() == 0
    logs = "\n".join(service.log_lines())
    assert "sentinel_password=***" in logs
    assert DATA_PASSWORD not in logs and "sentinel+pw" not in logs and "sentinel%2Bpw" not in logs
