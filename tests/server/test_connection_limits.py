"""The pieces of the HTTP layer's limits: flags, the default cap, reasons without bytes, and the
throttled log line (the real service's behaviour is in tests/system/test_http_layer.py)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from aiohttp.http_exceptions import BadHttpMessage, BadStatusLine, InvalidHeader, LineTooLong
from structlog.testing import capture_logs

from loadtester.cli import parse_settings
from loadtester.connections import (
    Admission,
    ConnectionLimits,
    Connections,
    default_max_connections,
    listen_backlog,
)
from loadtester.http_protocol import protocol_error_reason
from loadtester.log_throttle import LogThrottle

SECRET = "s3cr3t-token-abcdefgh-0123456789"


def test_flags_set_the_limits() -> None:
    """-read-timeout, -read-header-timeout and -max-connections take Go durations and a number;
    a header timeout of 0 is the read timeout, a read timeout of 0 none, as in Go."""
    settings = parse_settings(["-read-timeout=1m30s", "-read-header-timeout=2s",
                               "-max-connections=100"], environ={})
    limits = ConnectionLimits.from_settings(settings)
    assert (limits.read_timeout, limits.read_header_timeout, limits.max_connections) == (
        90.0, 2.0, 100)
    limits = ConnectionLimits.from_settings(parse_settings(
        ["-read-timeout=5s", "-read-header-timeout=0"], environ={}))
    assert (limits.read_timeout, limits.read_header_timeout) == (5.0, 5.0)
    limits = ConnectionLimits.from_settings(parse_settings(["-read-timeout=0"], environ={}))
    assert (limits.read_timeout, limits.read_header_timeout) == (float("inf"), 10.0)
    defaults = parse_settings([], environ={})
    assert (defaults.read_timeout, defaults.read_header_timeout) == (60.0, 10.0)


@pytest.mark.parametrize(("files", "cap"), [(256, 192), (1024, 896), (65536, 57344),
                                            (1048576, 917504)])
def test_default_cap_leaves_headroom(files: int, cap: int) -> None:
    """The default cap is the file limit less max(64, limit/8)."""
    assert default_max_connections(files) == cap


@pytest.mark.parametrize(("text", "backlog"), [("4096\n", 4096), ("65535\n", 65535),
                                              ("", socket.SOMAXCONN), ("0\n", socket.SOMAXCONN)])
def test_listen_backlog_is_somaxconn(tmp_path: Path, text: str, backlog: int) -> None:
    """The listening socket's backlog is the kernel's somaxconn; unreadable, the C constant."""
    somaxconn = tmp_path / "somaxconn"
    somaxconn.write_text(text)
    assert listen_backlog(somaxconn) == backlog
    assert listen_backlog(tmp_path / "missing") == socket.SOMAXCONN


@pytest.mark.parametrize(("error", "reason"), [
    (BadStatusLine(error=f"Bad status line:\n  Expected CRLF after version:\n\n  "
                         f"b'Authorization: Bearer {SECRET}\\x01'\n  ^"),
     "Bad status line: Expected CRLF after version"),
    (BadHttpMessage(f"Invalid header value char:\n\n  b'X: {SECRET}\\x01'\n     ^"),
     "Invalid header value char"),
    (InvalidHeader(SECRET.encode()), "invalid header"),
    (LineTooLong(SECRET.encode(), 8190), "request line or header too long"),
    (BadHttpMessage(f"Duplicate '{SECRET}' header found."), "bad request"),
])
def test_reasons_quote_no_bytes(error: BadHttpMessage, reason: str) -> None:
    """A parser error's reason keeps llhttp's description and drops the request's bytes."""
    assert protocol_error_reason(error) == reason


@pytest.mark.system
async def test_throttle_writes_a_burst_then_one_count_a_window() -> None:
    """Past its burst a throttled event is counted; the window's end writes one line with the
    count, and a steady flood then gets one line a window."""
    throttle = LogThrottle("bad request", burst=2, window=0.2)
    with capture_logs() as logs:
        for number in range(10):
            throttle.log(n=number)
        assert [line.get("n") for line in logs] == [0, 1]
        await asyncio.sleep(0.3)
        assert logs[-1]["suppressed"] == 8
        for number in range(5):
            throttle.log(n=number)
        assert len(logs) == 3  # the window the count opened is still full
        await asyncio.sleep(0.3)
        assert logs[-1]["suppressed"] == 5 and len(logs) == 4
        await asyncio.sleep(0.3)
        throttle.log(n=99)
        assert logs[-1]["n"] == 99
        throttle.close()


class FakeConnection:
    """A connection that has or has not sent something; records being evicted."""

    def __init__(self, remote: str) -> None:
        self.remote = remote
        self.silent = True
        self.evicted = False

    def expire(self, now: float) -> None:
        """Nothing is ever overdue."""

    def evict(self) -> None:
        self.evicted = True


async def test_cap_then_probe_reserve_then_refusal() -> None:
    """Past the cap connections go to the probe reserve; when it is full, the oldest silent one
    is evicted for a newcomer, and when none is silent the newcomer is refused."""
    connections = Connections(ConnectionLimits(60.0, 10.0, max_connections=1, probe_slots=2))
    served, first, second = (FakeConnection(f"10.0.0.{n}") for n in (1, 2, 3))
    with capture_logs() as logs:
        assert connections.admit(served, served.remote) is Admission.SERVE
        assert connections.admit(first, first.remote) is Admission.PROBES_ONLY
        assert connections.admit(second, second.remote) is Admission.PROBES_ONLY
        first.silent = second.silent = False
        assert connections.admit(FakeConnection("10.0.0.4"), "10.0.0.4") is Admission.REFUSE
        second.silent = True
        newcomer = FakeConnection("10.0.0.5")
        assert connections.admit(newcomer, newcomer.remote) is Admission.PROBES_ONLY
        assert (first.evicted, second.evicted, connections.open) == (False, True, 3)
        connections.release(first)
        assert connections.admit(FakeConnection("10.0.0.6"), "10.0.0.6") is Admission.PROBES_ONLY
    assert [line["remote"] for line in logs] == ["10.0.0.4"]  # one line per 10 s
    connections.stop()
