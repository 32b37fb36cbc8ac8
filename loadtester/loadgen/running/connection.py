"""One HTTP/1.1 client connection of a concurrency slot: a raw asyncio protocol.

The hot path (``data_received`` -> ``complete`` -> the next ``claim``) writes pre-built
request bytes and records the status and the latency in integer microseconds. Answers are read
by :class:`ResponseHead` and counted by their length until a head it leaves to httptools; from
there httptools reads the connection. A connection sees its engine through :class:`ConnOwner`
only.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Protocol, cast

import httptools

from loadtester.loadgen.running.recorder import Recorder
from loadtester.loadgen.running.responsehead import READS_HEADS, ResponseHead
from loadtester.loadgen.running.tlserrors import tls_error_kind

__all__ = ["Conn", "ConnOwner", "Dialled", "HeadConn", "hang_up"]


class Dialled(Protocol):
    """A connection's protocol: its transport once connected, its connect task until then."""

    transport: asyncio.Transport | None
    task: asyncio.Task[None] | None


def hang_up(conn: Dialled, abort: bool = False) -> None:
    """Close (``abort``: reset) ``conn``'s connection, or cancel its connect if it is not up."""
    if conn.transport is not None:
        if abort:
            conn.transport.abort()
        else:
            conn.transport.close()
        conn.transport = None
    elif conn.task is not None:
        conn.task.cancel()


class ConnOwner(Protocol):
    """What a connection needs from the engine that owns it."""

    rec: Recorder  # where answers are counted
    request: bytes  # the request a plain run sends
    keepalive: bool
    idempotent: bool  # its request is sent again after a stale keep-alive connection
    in_flight: int  # requests sent and not yet answered
    free: list[Conn]  # parked connections, waiting for a due request

    def claim(self, now: int) -> int:
        """The scheduled time of the next due request (>= 0), or negative when none is due."""
        ...

    def release(self, conn: Conn, now: int) -> None:
        """``conn``'s request is over: give it the next due request or park it."""
        ...

    def reopen(self, idx: int, sched: int, sent: int, retried: bool = False) -> None:
        """Replace slot ``idx`` with a new connection carrying the request due at ``sched``."""
        ...


class Conn:
    """One connection of a slot; replaced by a new Conn when it closes. An asyncio protocol
    by its methods, without asyncio.Protocol as base: the compiled build (connection.pxd)
    makes it a C class, which cannot derive from a Python class."""

    __slots__ = (
        "busy", "data", "dead", "dial", "dial_start", "endpoint", "eng", "first", "got", "head",
        "idx", "last", "need", "parser", "reads_body", "retried", "ri", "sched", "sent", "served",
        "task", "transport", "wrote", "wstart",
    )  # fmt: skip

    def __init__(self, eng: ConnOwner, idx: int) -> None:
        self.eng = eng
        self.idx = idx
        self.data = eng.request  # the bytes of the request in flight
        self.transport: asyncio.Transport | None = None
        # answers are read by head (None: by httptools from the start), until parser is set
        self.head: ResponseHead | None = ResponseHead() if READS_HEADS else None
        self.parser: httptools.HttpResponseParser | None = None
        self.need = -1  # body bytes still to come of the answer being read; -1: its head
        self.reads_body = False  # whether bodies go to on_body (else only their size counts)
        self.task: asyncio.Task[None] | None = None
        self.busy = False
        self.dead = False
        self.got = False
        self.retried = False
        self.served = 0
        self.sched = 0
        self.endpoint = 0  # a scenario's: the index of the endpoint this slot connects to
        self.ri = 0  # ... and of the request in flight
        self.sent = 0
        # phase timestamps (monotonic ns) for hey's Details: connect started, connection's
        # set-up time (counted on its first request), request write started and ended, first
        # and latest bytes of the answer (an answer is complete when its last bytes arrived)
        self.dial_start = 0
        self.dial = 0
        self.wstart = 0
        self.wrote = 0
        self.first = 0
        self.last = 0

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tr = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        if self.dead:
            tr.abort()
            return
        self.transport = tr
        if self.head is None:
            self.parser = httptools.HttpResponseParser(self)
        now = time.monotonic_ns()
        if self.dial_start:
            self.dial = now - self.dial_start
        if self.busy:
            self.wstart = now
            tr.write(self.data)
            self.wrote = time.monotonic_ns()

    def data_received(self, data: bytes) -> None:
        self.last = now = time.monotonic_ns()
        if not self.got:
            self.got = True
            self.first = now
        if self.parser is None:
            self.read(data)
        else:
            self.feed(data)

    def read(self, data: bytes) -> None:
        """Read answers in ``data`` by their heads and lengths; at a head ResponseHead leaves
        to httptools, hand the rest of the connection to httptools."""
        head = self.head
        assert head is not None
        at = 0
        end = len(data)
        while at < end and not self.dead:
            need = self.need
            if need < 0:
                after = head.parse(data, at, end)
                if after < 0:
                    self.parser = httptools.HttpResponseParser(self)
                    self.feed(data[at:])
                    return
                at = after
                need = head.length
            else:
                taken = need if need < end - at else end - at
                if self.reads_body:
                    self.on_body(data[at : at + taken])
                else:
                    self.eng.rec.details.size += taken
                at += taken
                need -= taken
            if need:
                self.need = need
            else:
                self.need = -1
                self.complete(head.status, head.keep)

    def feed(self, data: bytes) -> None:
        """Give ``data`` to httptools; an answer it cannot parse fails the request."""
        try:
            self.parser.feed_data(data)  # type: ignore[union-attr]
        except httptools.HttpParserError:
            if not self.dead:
                self.fail("other")

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.dead:
            return
        self.dead = True
        self.transport = None
        if not self.busy:
            return
        eng = self.eng
        if self.parser is not None:
            status = self.parser.get_status_code() if self.got else 0
        else:  # an answer whose head was read (its body cut short), else none
            status = cast(ResponseHead, self.head).status if self.need >= 0 else 0
        if status and exc is None:  # body delimited by the end of the connection
            now = time.monotonic_ns()
            self.record(status, now)
            self.busy = False
            eng.release(self, now)
        elif not self.got and self.served and not self.retried and self.may_resend():
            self.busy = False  # a stale keep-alive connection: send again on a new one
            eng.reopen(self.idx, self.sched, self.sent, retried=True)
        else:
            self.busy = False
            # a TLS alert after the handshake (TLS 1.3 servers refuse a client certificate so)
            self.recorder().error(tls_error_kind(exc) if isinstance(exc, ssl.SSLError) else "reset")
            eng.release(self, time.monotonic_ns())

    # -- httptools callbacks ----------------------------------------------------------------
    def on_message_complete(self) -> None:
        parser = self.parser
        self.complete(parser.get_status_code(), parser.should_keep_alive())  # type: ignore[union-attr]

    def on_body(self, body: bytes) -> None:
        self.eng.rec.details.size += len(body)

    # -- answers ----------------------------------------------------------------------------
    def complete(self, status: int, keep: bool) -> None:
        """The answer is in, with ``status``; ``keep``: the server keeps the connection."""
        if not self.busy:  # an answer nobody asked for
            return
        now = self.last
        eng = self.eng
        rec = eng.rec
        rec.codes[status] += 1
        rec.hist.record((now - self.sched) // 1000)
        first = self.first
        rec.details.answered(self.wrote - self.wstart, first - self.wrote, now - first)
        if self.dial:
            self.count_dial()
        self.served += 1
        if not (eng.keepalive and keep):
            self.busy = False
            self.close()
            eng.release(self, now)
            return
        # Engine.release and send() inlined for a kept-alive connection (the hot path): the
        # next due request goes out on this connection at once, or the connection is parked
        eng.in_flight -= 1
        sched = eng.claim(now)
        if sched < 0:
            self.busy = False
            eng.free.append(self)
            return
        eng.in_flight += 1
        self.got = False
        self.retried = False
        self.sched = sched
        self.sent = self.wstart = now
        self.transport.write(self.data)  # type: ignore[union-attr]
        self.wrote = time.monotonic_ns()

    def record(self, status: int, now: int) -> None:
        """Count an answer (complete does the same inline: the hot path)."""
        rec = self.eng.rec
        rec.codes[status] += 1
        rec.hist.record((now - self.sched) // 1000)
        self.phases(now)

    def recorder(self) -> Recorder:
        """Where the request in flight is counted."""
        return self.eng.rec

    def may_resend(self) -> bool:
        """Whether the request in flight is sent again after a stale keep-alive connection."""
        return self.eng.idempotent

    def phases(self, now: int) -> None:
        """Count the answered request's phases in hey's Details."""
        wrote, first = self.wrote, self.first or now
        self.eng.rec.details.answered(wrote - self.wstart, first - wrote, now - first)
        if self.dial:
            self.count_dial()

    def count_dial(self) -> None:
        """Count the connection's set-up time, once, on its first answered request."""
        self.eng.rec.details.dial.add(self.dial)
        self.dial = 0

    # -- engine side ------------------------------------------------------------------------
    def send(self, sched: int, now: int) -> None:
        """Send the request now (or as soon as the connection is up)."""
        self.busy = True
        self.got = False
        self.retried = False
        self.sched = sched
        self.sent = now
        if self.transport is not None:
            self.wstart = now
            self.transport.write(self.data)
            self.wrote = time.monotonic_ns()

    def adopt(self, old: Conn) -> None:
        """Carry the request of ``old``, the closed connection this one replaces."""
        self.endpoint = old.endpoint
        self.ri = old.ri
        self.data = old.data

    def close(self) -> None:
        """Close without reporting anything."""
        self.dead = True
        hang_up(self)

    def fail(self, kind: str) -> None:
        """Abort the connection and count the in-flight request as a ``kind`` error."""
        self.dead = True
        hang_up(self, abort=True)
        if self.busy:
            self.busy = False
            self.recorder().error(kind)
            self.eng.release(self, time.monotonic_ns())


class HeadConn(Conn):
    """A HEAD response has no body whatever its Content-Length says: done after the headers."""

    __slots__ = ()

    def __init__(self, eng: ConnOwner, idx: int) -> None:
        super().__init__(eng, idx)
        self.head = None  # (ResponseHead would read a body that is not there)

    def on_headers_complete(self) -> None:
        if not self.busy:
            return
        parser = self.parser
        self.parser = httptools.HttpResponseParser(self)
        now = time.monotonic_ns()
        eng = self.eng
        eng.rec.codes[parser.get_status_code()] += 1  # type: ignore[union-attr]
        eng.rec.hist.record((now - self.sched) // 1000)
        self.phases(now)
        self.busy = False
        self.served += 1
        if not (eng.keepalive and parser.should_keep_alive()):  # type: ignore[union-attr]
            self.close()
        eng.release(self, now)

    def on_message_complete(self) -> None:
        pass
