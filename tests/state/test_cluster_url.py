"""A redis+cluster:// -state URL: what it names, the client the Redis store builds of it, and
the one hash tag that keeps every key of the store in one slot."""

from __future__ import annotations

import pytest
import redis
from redis.asyncio.connection import SSLConnection

from loadtester.cli import UsageError, parse_settings
from loadtester.cluster_url import parse_cluster_url
from loadtester.event import Event
from loadtester.models import WebhookPayload
from loadtester.settings import Settings
from loadtester.state import redis as redis_state
from loadtester.state.base import GateChange
from loadtester.state.open import open_state
from loadtester.state.redis_cluster import StoreCluster
from loadtester.state.store_keys import gate_key
from tests.support.events import event
from tests.support.redis_cluster import RedisClusterGroup


def test_parts_of_a_cluster_url() -> None:
    """Nodes (6379 by default, IPv6 in brackets), user and password, TLS for rediss."""
    parsed = parse_cluster_url("rediss+cluster://u:p%40w@n0,n1:7001,[::1]:7002/")
    assert parsed.nodes == (("n0", 6379), ("n1", 7001), ("::1", 7002))
    assert (parsed.username, parsed.password, parsed.tls) == ("u", "p@w", True)
    plain = parse_cluster_url("redis+cluster://n0:7000")
    assert (plain.nodes, plain.username, plain.password, plain.tls) == (
        (("n0", 7000),), None, None, False)
    assert parse_cluster_url("redis+cluster://:pw@n0/0").password == "pw"


@pytest.mark.parametrize("url", ["redis+cluster://", "redis+cluster://:pw@/",
                                 "redis+cluster://n0/1", "redis+cluster://n0/x",
                                 "redis+cluster://n0:0/", "redis+cluster://n0:99999/",
                                 "redis+cluster://n0:port/", "redis+cluster://n0/?db=1"])
def test_bad_cluster_urls(url: str) -> None:
    """No node, a database other than 0, a query or a bad port is refused with one line."""
    with pytest.raises(ValueError, match="invalid Redis Cluster URL"):
        parse_cluster_url(url)


def test_bad_cluster_url_stops_the_settings_without_the_password() -> None:
    """-state with a bad cluster URL is a usage error (exit 2) that never shows the password."""
    with pytest.raises(UsageError, match="invalid Redis Cluster URL") as error:
        parse_settings(["-state=redis+cluster://:hunter2@n0:port/"], {})
    assert "hunter2" not in str(error.value)


def test_cluster_url_is_a_redis_store_masked_in_logs() -> None:
    """The cluster URL selects the Redis store; the logs mask its password."""
    settings = Settings(state="redis+cluster://:secret@n0:7000,n1:7001/")
    assert settings.state_backend == "redis"
    assert settings.state_for_logs == "redis+cluster://:***@n0:7000,n1:7001/"


async def test_client_knows_every_node_and_tags_its_keys() -> None:
    """The store's client is a cluster client of every node named; keys get one hash tag."""
    url = "rediss+cluster://:pw@n0:7000,n1:7001/"
    client = redis_state.connect(url)
    try:
        assert isinstance(client, StoreCluster)
        assert [(node.host, node.port) for node in client.startup_nodes] == [
            ("n0", 7000), ("n1", 7001)]
        connection = client.get_connection_kwargs()
        assert connection["password"] == "pw" and connection["connection_class"] is SSLConnection
    finally:
        await redis_state.close(client)
    assert redis_state.key_prefix(url) == "{loadtester}:"
    assert redis_state.key_prefix("redis://h/0") == redis_state.key_prefix(
        "redis+sentinel://s/m") == "loadtester:"  # stored data keeps its names


# --- a real cluster -------------------------------------------------------------------


@pytest.mark.system
async def test_every_key_lands_in_one_slot(redis_cluster: RedisClusterGroup,
                                           redis_cluster_url: str) -> None:
    """Gates, leases, events and runs written on a cluster all hash to the store's one slot."""
    async with open_state(Settings(state=redis_cluster_url, load_workers=1)) as state:
        await state.gates.set(gate_key("podinfo", "test"), GateChange(True))
        assert await state.tasks.claim("task", "test/podinfo", "me", 10)
        item = Event.from_payload(WebhookPayload.model_validate(event()), now=1000.0)
        await state.events.enqueue(item, ["s"], item.identity(), 0, 1000.0)
    keys: list[str] = []
    slots: set[int] = set()
    for node in redis_cluster.nodes:
        with redis.Redis(port=node.port, decode_responses=True) as client:
            found = list(client.scan_iter(count=1000))
            keys += found
            slots.update(int(client.cluster("KEYSLOT", key)) for key in found)
    assert keys and all(key.startswith("{loadtester}:") for key in keys)
    assert len(slots) == 1


@pytest.mark.system
async def test_scripts_run_on_a_node_that_never_saw_them(redis_cluster: RedisClusterGroup,
                                                         redis_cluster_url: str) -> None:
    """A node with an empty script cache (restarted, promoted) still runs each script, in a
    MULTI too: the cluster pipeline sends the script itself."""
    async with open_state(Settings(state=redis_cluster_url, load_workers=1)) as state:
        key = gate_key("podinfo", "test")
        await state.gates.set(key, GateChange(True))
        for node in redis_cluster.nodes:
            with redis.Redis(port=node.port) as client:
                client.script_flush()
        await state.gates.set(key, GateChange(False))
        assert not await state.gates.is_open(key)
        for node in redis_cluster.nodes:
            with redis.Redis(port=node.port) as client:
                client.script_flush()
        assert await state.tasks.claim("task", "test/podinfo", "me", 10)


def test_min_replicas_is_refused_with_a_cluster() -> None:
    """-state-min-replicas with a cluster URL is a usage error (exit 2): WAIT is not offered."""
    with pytest.raises(UsageError, match="not supported with -state=redis\\+cluster://"):
        parse_settings(["-state=redis+cluster://n0:7000/", "-state-min-replicas=1"], {})
