"""Several real service processes on one real Redis agree: gates, background tasks, failures,
and they ride out a Redis restart and the SIGKILL of a replica."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer
from tests.support.service import GATE, Service, StartService, request
from tests.support.webhook_sink import WebhookSink

pytestmark = pytest.mark.system

WATCHED = {"name": "podinfo", "namespace": "test", "checksum": "abc"}


def replicas(start: StartService, url: str, count: int = 2) -> list[Service]:
    """`count` services on the Redis at `url`, healthy."""
    services = [start(f"-state={url}", "-log-level=info") for _ in range(count)]
    for service in services:
        service.wait_healthy()
    return services


def wait_until(condition: object, within: float = 20.0) -> None:
    """Poll `condition()` until it is true."""
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def started_runs(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_gate_change_is_seen_at_once_everywhere(start_service: StartService,
                                                redis_url: str) -> None:
    """A gate opened through one replica is open on the very next check of every replica."""
    a, b, c = replicas(start_service, redis_url, 3)
    assert request(b.port, "/gate/check", GATE) == (403, "Forbidden")
    assert request(a.port, "/gate/open", GATE) == (202, "")
    assert request(b.port, "/gate/check", GATE) == (200, "Approved")
    assert request(c.port, "/gate/check", GATE) == (200, "Approved")
    assert request(c.port, "/rollback/open", GATE) == (202, "")
    assert request(a.port, "/rollback/check", GATE) == (200, "Approved")
    assert request(b.port, "/gate/close", GATE) == (202, "")
    assert request(a.port, "/gate/check", GATE) == (403, "Forbidden")


def test_background_task_runs_once_across_replicas(start_service: StartService,
                                                   redis_url: str, tmp_path: Path) -> None:
    """The same background call on every replica starts one run; its replica's death frees it."""
    runs = tmp_path / "runs"
    body = {**WATCHED, "metadata": {"cmd": f"echo $$ >> {runs}; sleep 120"}}
    a, b = replicas(start_service, redis_url)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda s: request(s.port, "/", body), [a, b, a, b]))
    assert answers == [(202, "")] * 4
    wait_until(lambda: len(started_runs(runs)) == 1)
    time.sleep(0.5)
    assert len(started_runs(runs)) == 1
    holder, other = (a, b) if "task started" in a.log.read_text() else (b, a)
    holder.stop(signal.SIGKILL)
    assert request(other.port, "/", body) == (202, "")  # the lease is still held
    time.sleep(0.3)
    assert len(started_runs(runs)) == 1

    def restarted() -> bool:
        request(other.port, "/", body)
        return len(started_runs(runs)) == 2

    started = time.monotonic()
    wait_until(restarted, within=25)
    assert time.monotonic() - started < 15  # the lease lapses within 12 s


def test_background_failure_is_reported_once(start_service: StartService,
                                             redis_url: str, tmp_path: Path) -> None:
    """A failed run is answered 500 with its reason once, by whichever replica is called."""
    done = tmp_path / "done"
    # fails the first time only; the run started again then holds its lease
    body = {**WATCHED, "metadata": {
        "cmd": f"if [ -e {done} ]; then exec sleep 60; fi; touch {done}; exit 3"}}
    a, b = replicas(start_service, redis_url)
    assert request(a.port, "/", body) == (202, "")
    wait_until(done.exists)
    time.sleep(0.5)  # the run's end is recorded after its process exits
    with ThreadPoolExecutor(2) as pool:
        answers = sorted(pool.map(lambda s: request(s.port, "/", body), [a, b]))
    assert answers[0] == (202, "")
    assert answers[1][0] == 500 and "exit status 3" in answers[1][1]


def test_terminal_phase_on_one_replica_stops_the_run_on_another(
    start_service: StartService, redis_url: str, tmp_path: Path
) -> None:
    """A Succeeded payload sent to one replica ends the canary's load test on the other."""
    runs = tmp_path / "runs"
    body = {**WATCHED, "metadata": {"cmd": f"echo $$ >> {runs}; exec sleep 120"}}
    a, b = replicas(start_service, redis_url)
    assert request(a.port, "/", body) == (202, "")
    wait_until(lambda: len(started_runs(runs)) == 1)
    (pid,) = started_runs(runs)
    done = {**WATCHED, "phase": "Succeeded", "metadata": {"type": "bash", "cmd": "true"}}
    assert request(b.port, "/", done) == (200, "")
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), within=10)


@pytest.fixture
def own_redis(tmp_path: Path) -> RedisServer:
    """A redis-server of this test alone, which it may stop and start."""
    server = RedisServer(tmp_path / "redis").start()
    yield server  # type: ignore[misc]
    server.kill()


def test_redis_outage_answers_503_and_recovers(start_service: StartService,
                                                own_redis: RedisServer) -> None:
    """With Redis down: 503 within 1 s, /healthz 200, /readyz 503; all back once Redis is."""
    a, b = replicas(start_service, own_redis.url)
    assert request(a.port, "/gate/open", GATE) == (202, "")
    assert request(a.port, "/readyz", method="GET") == (200, "OK")
    own_redis.stop()
    for path in ("/gate/check", "/gate/open", "/rollback/check", "/"):
        started = time.monotonic()
        status, body = request(b.port, path, {**GATE, "metadata": {"cmd": "true"}})
        assert time.monotonic() - started < 1.0
        assert status == 503, (path, body)
        assert body.startswith("state store unavailable") and "\n" not in body
    assert request(b.port, "/healthz", method="GET") == (200, "OK")
    assert request(b.port, "/readyz", method="GET")[0] == 503
    own_redis.start()
    wait_until(lambda: request(b.port, "/readyz", method="GET") == (200, "OK"), within=10)
    assert request(b.port, "/gate/check", GATE) == (200, "Approved")  # kept across the restart
    assert request(a.port, "/gate/check", GATE) == (200, "Approved")
    assert "Traceback" not in a.log.read_text() + b.log.read_text()


def test_event_delivery_is_taken_over_after_sigkill(start_service: StartService,
                                                    redis_url: str) -> None:
    """A replica killed mid-delivery: another delivers that event, then the next, within 30 s."""
    sink = WebhookSink(hang_first=True)
    try:
        flags = (f"-state={redis_url}", "-log-level=info", f"-event-webhook-url={sink.url}")
        a = start_service(*flags)
        a.wait_healthy()
        first = {**WATCHED, "phase": "Progressing",
                 "metadata": {"eventMessage": "first", "eventType": "Normal"}}
        second = {**first, "metadata": {"eventMessage": "second", "eventType": "Normal"}}
        assert request(a.port, "/events", first) == (202, "")
        wait_until(lambda: len(sink.bodies) == 1)
        assert request(a.port, "/events", second) == (202, "")
        b = start_service(*flags)
        b.wait_healthy()
        a.stop(signal.SIGKILL)
        killed = time.monotonic()
        wait_until(lambda: len(sink.bodies) >= 3, within=40)
        assert time.monotonic() - killed < 30
        messages = sink.messages
        assert "first" in messages[1] and "second" in messages[2], messages
    finally:
        sink.close()
