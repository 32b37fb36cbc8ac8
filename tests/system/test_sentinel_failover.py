"""The service on Redis Sentinel (real redis-server and redis-sentinel) rides out a failover:
503 while there is no primary, 200 again once the replica is promoted, the gate still there."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.polling import until
from tests.support.redis_sentinel import SentinelGroup
from tests.support.service import GATE, StartService, request

pytestmark = pytest.mark.system


@pytest.fixture
def sentinel_group(tmp_path: Path) -> Iterator[SentinelGroup]:
    """A Sentinel group of this test's own: it fails over, so it is not shared."""
    group = SentinelGroup(tmp_path / "sentinel")
    try:
        yield group.start()
    finally:
        group.stop()


@pytest.mark.timeout(90)
def test_failover_finds_the_promoted_replica(start_service: StartService,
                                             sentinel_group: SentinelGroup) -> None:
    """Primary SIGKILLed: 503, then 200 within 10 s of the promotion, the WAITed gate kept."""
    service = start_service(f"-state={sentinel_group.url()}", "-log-level=info")
    service.open_gate_when_ready()
    assert request(service.port, "/gate/check", GATE) == (200, "Approved")
    acked = subprocess.run(
        ["redis-cli", "-p", str(sentinel_group.primary.port), "WAIT", "1", "1000"],
        capture_output=True, text=True, timeout=10, check=True)
    assert acked.stdout.strip() == "1"  # the replica has the gate

    sentinel_group.primary.kill()  # SIGKILL
    until(lambda: request(service.port, "/readyz", method="GET", timeout=10)[0] == 503, 10,
         "/readyz 503 without a primary")
    status, body = request(service.port, "/gate/check", GATE, timeout=10)
    assert status == 503 and "state store unavailable" in body

    sentinel_group.wait_promoted(within=30)
    until(lambda: request(service.port, "/readyz", method="GET", timeout=10) == (200, "OK"), 10,
         "/readyz 200 after the promotion")
    assert request(service.port, "/gate/check", GATE) == (200, "Approved")
    assert request(service.port, "/gate/close", GATE) == (202, "")  # writes go to the new one
    assert request(service.port, "/gate/check", GATE) == (403, "Forbidden")
