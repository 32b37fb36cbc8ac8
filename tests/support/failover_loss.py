"""What a Sentinel failover loses of what the service acknowledged: a real measurement.

A primary, a replica and three sentinels (Debian redis-server and redis-sentinel), two
`python -m loadtester -state=redis+sentinel://…` processes; a loop opens gates, closes gates
(opened and replicated before) and posts events, alternating the two processes, while the
primary is killed with SIGKILL; once the replica is promoted, every change that was answered
2xx is read back through the service. Used by tests/system/test_min_replicas_failover.py and
bench/bench_failover.py.

Lag. Over loopback a replica is about 0.1 ms behind, so a SIGKILL almost never catches an
acknowledged write in flight; a replica in another zone, or one stalled by a fork or a slow
disk, is further behind. With `lag` the primary is reached through a ReplicationLink (a TCP
relay every client, sentinel and the replica use), which, for the last `lag` seconds before
the kill, stops passing what the primary sends down its replication connection: as a slow or
congested link would, and what it holds back dies with the primary, as data in flight does.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.support.events import event
from tests.support.polling import until
from tests.support.redis_sentinel import SentinelGroup
from tests.support.redis_server import RedisServer
from tests.support.service import Service, Services, fetch
from tests.support.webhook_sink import WebhookSink

NAMESPACE = "failover"
KINDS = ("open", "close", "event")


class ReplicationLink:
    """A TCP relay to the primary on its own port (threads). Once `holding` is set, the bytes
    the primary sends down a replication connection (one whose client said REPLCONF) are not
    passed on; everything else still flows. Meant to last until the primary dies."""

    def __init__(self, upstream: int, port: int) -> None:
        self.upstream, self.port = upstream, port
        self.holding = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", port))
        self._sockets: list[socket.socket] = [self._listener]
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> None:
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        """Every connection cut, with what it held back: as the primary's death does."""
        with self._lock:
            self._stopped = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked on it
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _address = self._listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream), timeout=1)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):  # as Redis does: no Nagle delay on small replies
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._stopped:
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            replication = threading.Event()
            for source, target, down in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pump, args=(source, target, down, replication),
                                 daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, down: bool,
              replication: threading.Event) -> None:
        """Bytes from `source` to `target` (down: from the primary) until either end ends."""
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if not down and b"REPLCONF" in data:
                    replication.set()
                if not (down and replication.is_set() and self.holding.is_set()):
                    target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_RDWR)  # the other end ends too


class LinkedPrimary(RedisServer):
    """The primary, which everybody reaches on `port` through a ReplicationLink."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.server = RedisServer(directory / "redis")
        self.link = ReplicationLink(self.server.port, self.port)

    def start(self) -> LinkedPrimary:
        self.server.start()
        self.link.start()
        return self

    def kill(self) -> None:
        self.server.kill()  # SIGKILL
        self.link.stop()


def linked_group(directory: Path) -> SentinelGroup:
    """A SentinelGroup whose primary is a LinkedPrimary (the replica replicates through it)."""
    group = SentinelGroup(directory)
    group.primary = LinkedPrimary(directory / "primary")
    group.replica = RedisServer(directory / "replica",
                                extra=("--replicaof", "127.0.0.1", str(group.primary.port)))
    return group


@dataclass
class Figures:
    """One round: changes answered 2xx, and those of them not there after the failover."""

    acknowledged: Counter[str] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    refused: int = 0  # answered 503 (or no answer): not reported as made
    done: list[tuple[str, str]] = field(default_factory=list)  # (kind, name) answered 2xx
    lost_names: list[str] = field(default_factory=list)

    def line(self) -> str:
        parts = [f"{kind} {self.lost[kind]}/{self.acknowledged[kind]}" for kind in KINDS]
        return "lost/acknowledged: " + ", ".join(parts) + f"; refused {self.refused}"


def _payload(name: str) -> dict[str, object]:
    return {"name": name, "namespace": NAMESPACE, "phase": "Progressing", "checksum": "abc"}


def _post(service: Service, path: str, name: str) -> int:
    body = event(name=name, namespace=NAMESPACE) if path == "/events" else _payload(name)
    try:
        return fetch(service.port, path, body, timeout=10).status
    except OSError:
        return 0


def _replicated(group: SentinelGroup, primary: RedisServer) -> bool:
    """The replica has every byte of the primary's replication stream so far."""
    with redis.Redis(port=primary.port) as p, redis.Redis(port=group.replica.port) as r:
        return bool(p.info("replication")["master_repl_offset"]
                    == r.info("replication")["slave_repl_offset"])


def _present(service: Service, kind: str, name: str) -> bool:
    """Whether the acknowledged change `kind` of `name` is there, asked until not 503."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if kind == "event":
            query = urllib.parse.urlencode({"namespace": NAMESPACE, "name": name})
            reply = fetch(service.port, f"/api/v1/events?{query}", method="GET", timeout=10)
            if reply.status == 200:
                return bool(json.loads(reply.text)["events"])
        else:
            reply = fetch(service.port, "/gate/check", _payload(name), timeout=10)
            if reply.status in (200, 403):
                return (reply.status == 200) == (kind == "open")
        time.sleep(0.1)
    raise RuntimeError(f"{kind} {name}: the service answered 503 for 30 s after the failover")


def measure(directory: Path, min_replicas: int, lag: float = 0.0, closes: int = 400,
            before_kill: float = 1.0, after_promotion: float = 1.0) -> Figures:
    """One round: the loop, the SIGKILL of the primary (the replication held back `lag` s
    before it when lag > 0), the promotion, then every acknowledged change read back."""
    group = linked_group(directory / "sentinel").start()
    primary = group.primary
    assert isinstance(primary, LinkedPrimary)
    sink, services = WebhookSink(), Services(directory)
    sink.refuse.set()  # events stay pending: each one is in the outbox to be read back
    try:
        flags = [f"-state={group.url()}", "-log-level=warning", f"-event-webhook-url={sink.url}"]
        if min_replicas:
            flags.append(f"-state-min-replicas={min_replicas}")
        pair = [services.start(*flags), services.start(*flags)]
        for service in pair:
            service.wait_healthy()
        for k in range(closes):  # gates the loop closes: open, and on the replica, first
            if _post(pair[k % 2], "/gate/open", f"c{k}") != 202:
                raise RuntimeError(f"gate c{k} not opened")
        until(lambda: _replicated(group, primary.server), 10, "replica in sync")
        figures = Figures()
        stop = threading.Event()
        loop = threading.Thread(target=_changes, args=(pair, closes, stop, figures))
        loop.start()
        time.sleep(before_kill)
        if lag:
            primary.link.holding.set()
            time.sleep(lag)
        primary.kill()
        group.wait_promoted(within=30)
        time.sleep(after_promotion)
        stop.set()
        loop.join(60)
        return _read_back(pair[0], figures)
    finally:
        services.close()
        sink.close()
        group.stop()


def _changes(pair: list[Service], closes: int, stop: threading.Event, figures: Figures) -> None:
    """Until `stop`: open a new gate, close a gate opened before, post an event; in turn,
    alternating the two services; what was answered 2xx goes into figures.acknowledged."""
    i = 0
    while not stop.is_set():
        kind = KINDS[i % 3]
        name = {"open": f"o{i}", "close": f"c{i // 3}", "event": f"e{i}"}[kind]
        if kind == "close" and i // 3 >= closes:
            break
        path = {"open": "/gate/open", "close": "/gate/close", "event": "/events"}[kind]
        status = _post(pair[i % 2], path, name)
        if 200 <= status < 300:
            figures.acknowledged[kind] += 1
            figures.done.append((kind, name))
        else:
            figures.refused += 1
        i += 1


def _read_back(service: Service, figures: Figures) -> Figures:
    """Count the acknowledged changes the service no longer shows."""
    for kind, name in figures.done:
        if not _present(service, kind, name):
            figures.lost[kind] += 1
            figures.lost_names.append(f"{kind} {name}")
    return figures
