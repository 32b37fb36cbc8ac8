"""Blocking checks are bounded (-max-checks) and owned by their caller."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from loadtester.cli import parse_settings
from loadtester.keys import RUNNER
from tests.support.client import ClientFactory
from tests.support.service import StartService, request
from tests.support.tasks import payload, post


def check(cmd: str) -> dict[str, Any]:
    """A blocking `bash` check."""
    return payload({"type": "bash", "cmd": cmd})


def pid_alive(pid: int) -> bool:
    """True while a process with this pid exists (and is not a zombie of ours)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rpartition(")")[2].split()[0] != "Z"


async def wait_for_pid(path: Path, within: float = 10) -> int:
    """The pid a check wrote into `path`, once it has."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        await asyncio.sleep(0.05)
    raise AssertionError(f"no pid in {path}")


def test_max_checks_flag_and_default() -> None:
    """-max-checks defaults to 256 and is set by the flag or LOADTESTER_MAX_CHECKS."""
    assert parse_settings([], {}).max_checks == 256
    assert parse_settings(["-max-checks=3"], {}).max_checks == 3
    assert parse_settings([], {"LOADTESTER_MAX_CHECKS": "7"}).max_checks == 7


@pytest.mark.system
async def test_checks_past_the_limit_answer_429(make_client: ClientFactory) -> None:
    """With -max-checks=2 running, a third check answers 429 with the reason; later ones run."""
    client = await make_client(max_checks=2)
    running = [asyncio.ensure_future(post(client, check("sleep 1; echo done"))) for _ in range(2)]
    while len(client.server.app[RUNNER]._blocking) < 2:
        await asyncio.sleep(0.01)
    assert await post(client, check("true")) == (
        429, "too many checks running (2); try again later")
    assert [status for status, _ in await asyncio.gather(*running)] == [200, 200]
    assert await post(client, check("true")) == (200, "")


async def test_background_tasks_do_not_count_as_checks(make_client: ClientFactory) -> None:
    """-max-checks bounds blocking checks only; `cmd` keeps its own -max-background-tasks."""
    client = await make_client(max_checks=1)
    blocking = asyncio.ensure_future(post(client, check("sleep 0.5")))
    while not client.server.app[RUNNER]._blocking:
        await asyncio.sleep(0.01)
    assert (await post(client, payload({"cmd": "true"})))[0] == 202
    assert (await blocking)[0] == 200


@pytest.mark.system
async def test_disconnected_caller_cancels_the_check(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    """A caller that gives up (client timeout) ends the check's process group, logged as
    `task cancelled` with the reason."""
    client = await make_client(kill_grace=1.0)
    pid_file = tmp_path / "pid"
    body = json.dumps(check(f"echo $$ > {pid_file}; exec sleep 30"))
    with capture_logs() as logs:
        with pytest.raises(asyncio.TimeoutError):
            async with client.post("/", data=body, timeout=aiohttp.ClientTimeout(total=1)):
                pass
        pid = await wait_for_pid(pid_file)
        deadline = time.monotonic() + 1.0 + 3.0  # poll interval + kill grace + a little
        while pid_alive(pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not pid_alive(pid), "the check's process outlived its caller"
        while client.server.app[RUNNER]._blocking:
            await asyncio.sleep(0.01)
    cancelled = [entry for entry in logs if entry["event"] == "task cancelled"]
    assert cancelled and cancelled[0]["why"] == "the caller disconnected"
    assert any(entry["event"] == "task ended" and entry.get("outcome") == "cancelled"
               for entry in logs)


@pytest.mark.system
async def test_check_still_answers_when_caller_stays(make_client: ClientFactory) -> None:
    """A caller that waits gets the answer of a check longer than the disconnect poll."""
    client = await make_client()
    assert await post(client, payload({"type": "bash", "cmd": "sleep 1.2; echo ok",
                                       "returnCmdOutput": "true"})) == (200, "ok\n")


@pytest.mark.system
def test_real_service_cancels_check_of_gone_caller(
    start_service: StartService, tmp_path: Path
) -> None:
    """`curl -m 2` on a `sleep 30` check, against the real process: the sleep is gone within
    -kill-grace and a little once the caller disconnects, and the log says why."""
    service = start_service("-state=memory", "-kill-grace=1s", "-log-level=info")
    service.wait_healthy()
    pid_file = tmp_path / "pid"
    with pytest.raises(TimeoutError):
        request(service.port, "/", check(f"echo $$ > {pid_file}; exec sleep 30"), timeout=1)
    pid = asyncio.run(wait_for_pid(pid_file))
    deadline = time.monotonic() + 0.5 + 1.0 + 2.0  # poll + kill grace + a little
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid), "the check's process outlived its caller"
    assert request(service.port, "/healthz", method="GET") == (200, "OK")
    assert service.stop() == 0
    events = [json.loads(line) for line in service.log_lines()]
    assert any(event["event"] == "task cancelled" and event["why"] == "the caller disconnected"
               for event in events)


@pytest.mark.system
def test_real_service_healthz_during_check_burst(
    start_service: StartService,
) -> None:
    """200 `sleep 2` checks sent at once: every one answers 200 and /healthz keeps answering.

    How fast /healthz answers meanwhile (the target is 100 ms) is measured by
    bench/bench_checks.py, not asserted here: tests pin behaviour, benches measure speed.
    """
    service = start_service("-state=memory", "-log-level=info")
    service.wait_healthy()
    latencies: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            assert request(service.port, "/healthz", method="GET", timeout=10) == (200, "OK")
            latencies.append(time.perf_counter() - started)
            time.sleep(0.005)

    prober = threading.Thread(target=probe)
    prober.start()
    body = json.dumps(check("sleep 2")).encode()
    head = (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    try:
        sockets = [socket.create_connection(("127.0.0.1", service.port)) for _ in range(200)]
        for sock in sockets:
            sock.sendall(head + body)
        statuses = []
        for sock in sockets:
            sock.settimeout(30)
            statuses.append(sock.recv(64).split(b" ")[1])
            sock.close()
    finally:
        stop.set()
        prober.join()
    assert statuses == [b"200"] * 200
    assert len(latencies) > 10  # /healthz answered all along
