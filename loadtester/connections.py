"""The service's client connections: a cap below the file-descriptor limit, a reserve for
probes past it, and the deadlines of requests still arriving (checked by one sweep).

A connection past -max-connections is not served: it takes a slot of the probe reserve, where
it may ask for /healthz, /readyz or /metrics only (anything else gets 503) and must do so within
a second; when the reserve is full, its oldest connection that has sent nothing is closed to
make room, and if every one has sent a request the new connection is closed at once. So the
service keeps file descriptors for its own work (tasks' pipes, the store, the HTTP client) and
the kubelet's probes and Prometheus keep being answered while slow or idle clients hold every
served slot.
"""

from __future__ import annotations

import asyncio
import enum
import resource
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from loadtester import metrics
from loadtester.log_throttle import LogThrottle
from loadtester.settings import Settings

PROBE_SLOTS = 8  # connections past the cap that may ask for /healthz, /readyz or /metrics
PROBE_HEADER_TIMEOUT = 1.0  # a probe sends its request at once; a reserve slot is not held
_UNLIMITED_FILES = 1 << 20  # what an unlimited RLIMIT_NOFILE counts as
_LOG_WINDOW = 10.0  # seconds: at most a few lines of each kind per window (log_throttle.py)
_SOMAXCONN = Path("/proc/sys/net/core/somaxconn")


def file_limit() -> int:
    """The process's soft limit on open file descriptors."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return _UNLIMITED_FILES if soft == resource.RLIM_INFINITY else soft


def listen_backlog(somaxconn: Path = _SOMAXCONN) -> int:
    """The listening socket's backlog: the kernel's somaxconn, as Go's net package takes it.

    aiohttp's default, 128, makes the callers of a larger burst wait for a SYN retransmit (1 s).
    """
    try:
        value = int(somaxconn.read_text())
    except (OSError, ValueError):
        return socket.SOMAXCONN
    return value if value > 0 else socket.SOMAXCONN


def default_max_connections(files: int) -> int:
    """`files - max(64, files // 8)`: at 1024 descriptors 896 connections, at 1 048 576
    917 504; the rest is headroom for the probe reserve, tasks' pipes, the store, the HTTP
    client and the log."""
    return max(1, files - max(64, files // 8))


def _timeout(seconds: float) -> float:
    return seconds if seconds > 0 else float("inf")


@dataclass(frozen=True)
class ConnectionLimits:
    """What one connection may take: time for its headers and for the whole request, and how
    many connections are served at once."""

    read_timeout: float
    read_header_timeout: float
    max_connections: int
    probe_slots: int = PROBE_SLOTS

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        """Go's semantics: 0 is no timeout, a header timeout of 0 is the read timeout."""
        read = _timeout(settings.read_timeout)
        header = _timeout(settings.read_header_timeout) if settings.read_header_timeout else read
        return cls(read_timeout=read, read_header_timeout=min(header, read),
                   max_connections=settings.max_connections
                   or default_max_connections(file_limit()))

    @property
    def sweep_interval(self) -> float:
        """How often deadlines are checked: a timeout fires at most this late."""
        shortest = min(self.read_header_timeout, self.read_timeout, PROBE_HEADER_TIMEOUT)
        return min(1.0, max(0.05, shortest / 4))


class Expiring(Protocol):
    """A connection whose request may be overdue (loadtester.http_protocol's handler)."""

    @property
    def silent(self) -> bool:
        """Nothing received yet."""

    @property
    def remote(self) -> str:
        """The peer's address."""

    def expire(self, now: float) -> None:
        """Act on a deadline passed by `now` (loop time); nothing otherwise."""

    def evict(self) -> None:
        """Close the connection now."""


class Admission(enum.Enum):
    SERVE = "serve"
    PROBES_ONLY = "probes only"
    REFUSE = "refuse"


class Connections:
    """The open connections of one server, the sweep of their deadlines, and the throttled
    log lines of what the HTTP layer refused (at most a few lines per 10 s each)."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._served: set[Expiring] = set()
        self._probes: dict[Expiring, None] = {}  # oldest first
        self._sweep: asyncio.TimerHandle | None = None
        self.refusals = LogThrottle("connection refused: too many connections", burst=1,
                                    window=_LOG_WINDOW)
        self.bad_requests = LogThrottle("bad request", burst=5, window=_LOG_WINDOW)
        self.timeouts = LogThrottle("request timeout", burst=5, window=_LOG_WINDOW)

    @property
    def open(self) -> int:
        """Connections open now, probe-only ones included."""
        return len(self._served) + len(self._probes)

    def admit(self, connection: Expiring, peer: str) -> Admission:
        """Serve the connection, let it ask only for probes, or refuse it (counted, logged)."""
        if len(self._served) < self.limits.max_connections:
            self._served.add(connection)
            return Admission.SERVE
        if len(self._probes) >= self.limits.probe_slots:
            # a probe sends its request as it connects: the oldest reserve connection that
            # has sent nothing yields its slot, so idle connections cannot hold the reserve
            silent = next((probe for probe in self._probes if probe.silent), None)
            if silent is None:
                self.refuse(peer)
                return Admission.REFUSE
            del self._probes[silent]
            silent.evict()
            self.refuse(silent.remote)
        self._probes[connection] = None
        return Admission.PROBES_ONLY

    def refuse(self, peer: str) -> None:
        """Count and log (throttled) a connection closed unserved."""
        metrics.CONNECTIONS_REFUSED.inc()
        self.refusals.log(remote=peer, open=self.open,
                          max_connections=self.limits.max_connections)

    def release(self, connection: Expiring) -> None:
        """The connection closed."""
        self._served.discard(connection)
        self._probes.pop(connection, None)

    def start(self) -> None:
        """Begin sweeping deadlines and publish the open-connection count (in the loop)."""
        metrics.CONNECTIONS_OPEN.set_function(lambda: self.open)
        self._schedule()

    def stop(self) -> None:
        """Stop sweeping; write the throttled lines still pending."""
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for throttle in (self.refusals, self.bad_requests, self.timeouts):
            throttle.close()

    def _schedule(self) -> None:
        self._sweep = asyncio.get_running_loop().call_later(self.limits.sweep_interval,
                                                            self._expire)

    def _expire(self) -> None:
        self._schedule()  # first: one connection's failure must not end the sweep
        now = asyncio.get_running_loop().time()
        for connection in [*self._served, *self._probes]:
            connection.expire(now)
