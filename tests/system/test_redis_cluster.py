"""The service on a Redis Cluster (real redis-server nodes): a node that is not a cluster node
stops it at start-up; a cluster that goes away is a 503, as a single Redis is, until it is back;
the store's primary killed, a replica takes over and the service follows it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.polling import until
from tests.support.redis_cluster import RedisClusterGroup
from tests.support.redis_server import RedisServer, free_port
from tests.support.service import GATE, StartService, request

pytestmark = pytest.mark.system
PASSWORD = "s3cret-pw"


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[RedisClusterGroup]:
    """Three primaries with a replica each, of this test's own: it is taken down, not shared."""
    group = RedisClusterGroup(tmp_path / "cluster", replicas=1)
    try:
        yield group.start()
    finally:
        group.kill()


@pytest.mark.timeout(60)
def test_a_plain_redis_stops_the_service(start_service: StartService, tmp_path: Path) -> None:
    """A cluster URL naming a plain redis-server: exit 2, one line naming it, no password."""
    plain = RedisServer(tmp_path / "plain", password=PASSWORD).start()
    try:
        service = start_service(f"-state=redis+cluster://:{PASSWORD}@127.0.0.1:{plain.port}/")
        assert service.process.wait(30) == 2
    finally:
        plain.kill()
    log = service.log.read_text()
    named = [line for line in log.splitlines() if "is not a Redis Cluster node" in line]
    assert len(named) == 1 and f"127.0.0.1:{plain.port}" in named[0]
    assert PASSWORD not in log and "Traceback" not in log


@pytest.mark.timeout(60)
def test_no_cluster_yet_is_unavailable(start_service: StartService) -> None:
    """Nothing listening where the cluster should be: the service starts and answers 503."""
    service = start_service(f"-state=redis+cluster://127.0.0.1:{free_port()}/")
    service.wait_healthy()
    assert request(service.port, "/readyz", method="GET")[0] == 503
    status, body = request(service.port, "/gate/check", GATE)
    assert status == 503 and body.startswith("state store unavailable")


@pytest.mark.timeout(90)
def test_cluster_down_then_back(start_service: StartService,
                                own_cluster: RedisClusterGroup) -> None:
    """Every node killed: 503 and /readyz 503; restarted: 200 again, the gate still open."""
    service = start_service(f"-state={own_cluster.url()}", "-log-level=info")
    service.open_gate_when_ready()

    own_cluster.kill()
    until(lambda: request(service.port, "/readyz", method="GET", timeout=10)[0] == 503, 10,
          "/readyz 503 without the cluster")
    status, body = request(service.port, "/gate/check", GATE, timeout=10)
    assert status == 503 and body.startswith("state store unavailable")

    own_cluster.start()  # the same ports, nodes.conf and append-only files
    until(lambda: request(service.port, "/readyz", method="GET", timeout=10) == (200, "OK"),
          20, "/readyz 200 with the cluster back")
    assert request(service.port, "/gate/check", GATE) == (200, "Approved")


@pytest.mark.timeout(90)
def test_failover_to_the_replica_of_the_store_slot(start_service: StartService,
                                                   own_cluster: RedisClusterGroup) -> None:
    """The primary of the store's slot SIGKILLed: 503, then 200 once its replica took over,
    the replicated gate still open and writes going to the promoted node."""
    service = start_service(f"-state={own_cluster.url()}", "-log-level=info")
    service.wait_healthy()
    assert request(service.port, "/gate/open", GATE) == (202, "")
    primary = own_cluster.primary_of("{loadtester}:")
    with redis.Redis(port=primary.port) as client:
        assert client.execute_command("WAIT", 1, 1000) == 1  # the replica has the gate

    primary.kill()  # SIGKILL
    until(lambda: request(service.port, "/readyz", method="GET", timeout=10)[0] == 503, 10,
          "/readyz 503 without the primary")
    status, body = request(service.port, "/gate/check", GATE, timeout=10)
    assert status == 503 and body.startswith("state store unavailable")

    until(lambda: request(service.port, "/readyz", method="GET", timeout=10) == (200, "OK"), 30,
          "/readyz 200 after the replica took over")
    assert own_cluster.primary_of("{loadtester}:") is not primary
    assert request(service.port, "/gate/check", GATE) == (200, "Approved")
    assert request(service.port, "/gate/close", GATE) == (202, "")
    assert request(service.port, "/gate/check", GATE) == (403, "Forbidden")
