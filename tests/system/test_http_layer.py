"""The HTTP layer of the real service (loadtester/http_protocol.py): malformed requests, HTTP/0.9,
slow headers and bodies, the connection cap and its probe reserve, clients that hang up."""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.service import Service, Services, StartService, fetch, request

pytestmark = pytest.mark.system

TOKEN = "s3cr3t-token-abcdefgh-0123456789"
# a token file with CRLF endings makes a client send the token with a control
# character, on bare-LF lines
MALFORMED = (b"POST /gate/check HTTP/1.1\nHost: loadtester\nAuthorization: Bearer "
             + TOKEN.encode() + b"\x01\nContent-Type: application/json\nContent-Length: 2\n\n{}")
FILE_LIMIT = 256  # RLIMIT_NOFILE of the service in the connection-cap test


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[StartService]:
    """Start `python -m loadtester` on a free port; killed at the end."""
    services = Services(tmp_path)
    yield services.start
    services.close()


def events(service: Service) -> list[dict[str, Any]]:
    """The service's log so far, one JSON object a line (fails on a line that is not JSON)."""
    return [json.loads(line) for line in service.log_lines()]


def wait_for(condition: Callable[[], bool], within: float = 10) -> None:
    """Poll `condition` until it holds; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def connect(port: int) -> socket.socket:
    """A connection to the service, reads time out after 10 s."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the service sends until it closes the connection (fails if it does not
    within the socket's timeout)."""
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def exchange(port: int, data: bytes) -> bytes:
    """Send `data` on a new connection and read until the service closes it."""
    with connect(port) as sock:
        sock.sendall(data)
        return read_all(sock)


def dribble(sock: socket.socket, data: bytes) -> bytes:
    """Send `data` a byte every 0.3 s until the service answers and closes; its answer."""
    sock.settimeout(0.3)
    answer = b""
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            break
        if not chunk:
            break
        answer += chunk
    return answer


def counter(port: int, name: str) -> float:
    """The sum of a metric's samples on /metrics."""
    status, text = request(port, "/metrics", method="GET")
    assert status == 200
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name))


def test_malformed_request_is_one_line_without_the_token(start_service: StartService,
                                                        tmp_path: Path) -> None:
    """A malformed request (token + \\x01, bare LF) answers 400 and logs one JSON line
    with the reason and peer: no token, no traceback, nothing of the request's bytes."""
    tokens = tmp_path / "tokens"
    tokens.write_text(f"* {TOKEN}\n")
    service = start_service("-state=memory", "-log-level=info", f"-token-file={tokens}")
    service.wait_healthy()
    answer = exchange(service.port, MALFORMED)
    assert answer.startswith(b"HTTP/1.0 400 Bad Request\r\n")
    assert TOKEN.encode() not in answer and b"\\x01" not in answer
    wait_for(lambda: any(event["event"] == "bad request" for event in events(service)))
    [line] = [event for event in events(service) if event["event"] == "bad request"]
    assert line["remote"] == "127.0.0.1" and line["status"] == 400
    assert line["reason"] == "Bad status line: Expected CRLF after version"
    log = service.log.read_text()
    assert TOKEN not in log and "Traceback" not in log and "x01" not in log
    # a flood is throttled: 5 lines a 10 s window, the rest counted in one line
    for _ in range(30):
        assert exchange(service.port, MALFORMED).startswith(b"HTTP/1.0 400 ")
    assert counter(service.port, "loadtester_http_rejected_total{") == 31
    lines = [event for event in events(service) if event["event"] == "bad request"]
    assert 5 <= len(lines) <= 7 and TOKEN not in service.log.read_text()


def test_undecodable_body_is_400_without_an_error(start_service: StartService) -> None:
    """A body that is not the gzip its Content-Encoding says answers 400 and logs no error."""
    service = start_service("-state=memory", "-log-level=info")
    service.wait_healthy()
    answer = exchange(service.port, b"POST /gate/check HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Encoding: gzip\r\nContent-Length: 8\r\n\r\nnot gzip")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert answer.endswith(b"malformed request body")
    wait_for(lambda: any(event.get("status") == 400 for event in events(service)))
    assert not [event for event in events(service) if event["level"] == "error"]


@pytest.mark.parametrize("data", [
    b"GET /healthz\r\n\r\n",
    b"GET /healthz\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz\r\n\r\n",  # on a kept connection
])
def test_http09_request_gets_400(start_service: StartService, data: bytes) -> None:
    """`GET /healthz` without an HTTP version answers 400 with an HTTP/1.x status line."""
    service = start_service("-state=memory")
    service.wait_healthy()
    answer = exchange(service.port, data)
    first, _, last = answer.rpartition(b"HTTP/1.0 400 Bad Request\r\n")
    assert first == b"" or first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert last.endswith(b"\r\n\r\nrequest line without an HTTP version (HTTP/0.9)")
    assert first.count(b"HTTP/") == data.count(b"HTTP/1.1")


def test_slow_body_is_cut_at_read_timeout(start_service: StartService) -> None:
    """A body sent a byte at a time is answered 408 and closed once -read-timeout (1s) has
    passed since the request began; one log line says so."""
    service = start_service("-state=memory", "-read-timeout=1s")
    service.wait_healthy()
    with connect(service.port) as sock:
        sock.sendall(b"POST /gate/check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 100\r\n\r\n{")
        answer = dribble(sock, b" " * 40)  # 0.3 s a byte: the 1 s timeout within 10 s
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"Connection: close\r\n" in answer
    wait_for(lambda: any(event["event"] == "request timeout" for event in events(service)))
    [line] = [event for event in events(service) if event["event"] == "request timeout"]
    assert (line["phase"], line["timeout"], line["remote"]) == ("body", 1.0, "127.0.0.1")


def test_header_dribble_is_cut_at_header_timeout(start_service: StartService) -> None:
    """Headers sent a byte at a time are answered 408 and closed once -read-header-timeout
    (1s) has passed, however long -read-timeout is; a connection that sends nothing is closed
    silently."""
    service = start_service("-state=memory", "-read-timeout=5m", "-read-header-timeout=1s")
    service.wait_healthy()
    headers = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    with connect(service.port) as sock:
        answer = dribble(sock, headers)
    assert answer.startswith(b"HTTP/1.0 408 Request Timeout\r\n")
    with connect(service.port) as idle:
        assert read_all(idle) == b""
    def phases() -> list[str]:
        return [event["phase"] for event in events(service)
                if event["event"] == "request timeout"]

    wait_for(lambda: len(phases()) == 2)
    assert phases() == ["headers", "headers"]


def test_client_hanging_up_mid_body_is_499(start_service: StartService) -> None:
    """A client that closes its connection mid-body is counted as 499, logged at info as
    `client disconnected`, and no error is logged."""
    service = start_service("-state=memory", "-log-level=info")
    service.wait_healthy()
    with connect(service.port) as sock:
        sock.sendall(b"POST /gate/check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 100\r\n\r\n{\"name\":")
        time.sleep(0.2)
    wait_for(lambda: any(event["event"] == "client disconnected" for event in events(service)))
    [line] = [event for event in events(service) if event["event"] == "client disconnected"]
    assert (line["level"], line["status"], line["path"]) == ("info", 499, "/gate/check")
    assert not [event for event in events(service) if event["level"] == "error"]
    assert counter(service.port, 'loadtester_http_requests_total{code="499",method="POST",'
                                 'path="/gate/check"}') == 1
    assert counter(service.port, 'loadtester_http_requests_total{code="500"') == 0


def healthy(port: int) -> bool:
    """/healthz answers 200 on a new connection (not refused, not closed)."""
    try:
        return fetch(port, "/healthz", method="GET", timeout=5).status == 200
    except OSError:
        return False


def _limited_python(files: int) -> list[str]:
    """`python -m loadtester` with RLIMIT_NOFILE lowered to `files` before it starts."""
    code = ("import resource, runpy; "
            f"resource.setrlimit(resource.RLIMIT_NOFILE, ({files}, {files})); "
            "runpy.run_module('loadtester', run_name='__main__', alter_sys=True)")
    return [sys.executable, "-c", code]


def test_connections_past_the_cap_are_closed_and_probes_answered(
        start_service: StartService) -> None:
    """With RLIMIT_NOFILE 256 and -max-connections=4: while 4 slow clients hold every slot,
    /healthz, /readyz and /metrics on fresh connections answer 200 and another route 503;
    connections that send nothing cannot keep the probes out, and are closed unanswered;
    refusals are counted and logged once."""
    service = start_service("-state=memory", "-max-connections=4", "-read-header-timeout=1m",
                            command=_limited_python(FILE_LIMIT))
    service.wait_healthy()
    [starting] = [event for event in events(service) if event["event"] == "starting"]
    assert (starting["file_limit"], starting["max_connections"]) == (FILE_LIMIT, 4)
    held = [connect(service.port) for _ in range(4)]
    idle: list[socket.socket] = []
    try:
        for sock in held:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the rest
        time.sleep(0.3)
        for path in ("/healthz", "/readyz", "/metrics"):
            assert fetch(service.port, path, method="GET").status == 200
        busy = fetch(service.port, "/gate/check", {"name": "a", "namespace": "b"})
        assert (busy.status, busy.text, busy.headers["connection"]) == (
            503, "too many connections", "close")
        idle = [connect(service.port) for _ in range(8)]  # the whole probe reserve
        time.sleep(0.1)
        assert fetch(service.port, "/healthz", method="GET").status == 200
        idle += [connect(service.port) for _ in range(12)]
        for sock in idle:
            sock.settimeout(5)
            assert read_all(sock) == b""
    finally:
        for sock in held + idle:
            sock.close()
    wait_for(lambda: healthy(service.port))
    assert counter(service.port, "loadtester_connections_refused_total ") >= 2
    assert counter(service.port, "loadtester_connections_open ") >= 1
    refused = [event for event in events(service)
               if event["event"] == "connection refused: too many connections"]
    assert 1 <= len(refused) <= 2 and refused[0]["max_connections"] == 4
