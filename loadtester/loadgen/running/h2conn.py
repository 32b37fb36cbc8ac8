"""HTTP/2 connections of the load engine: an :class:`H2Link` (the asyncio Protocol of one TCP
or TLS connection) carries the requests of up to ``streams`` slots, each an
:class:`H2Slot` (or :class:`H2MixSlot` for a scenario) that the engine sees as one connection
of a concurrency slot, as it sees an HTTP/1.1 Conn.

A slot is ``dead`` when its link takes no new streams (closed, failed, or told to go away);
the engine then calls ``reopen``, which attaches it to its group's next link (h2engine.py).
Writes made while frames are read, or in one turn of the loop, go out in one write.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
import time
from collections.abc import Callable
from typing import Protocol, cast

from loadtester.loadgen.running.connection import Conn, ConnOwner, hang_up
from loadtester.loadgen.running.h2wire import (
    ACK,
    CANCEL,
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    GOAWAY,
    HEADERS,
    INITIAL_WINDOW_SIZE,
    MAX_CONCURRENT_STREAMS,
    MAX_FRAME_SIZE,
    PADDED,
    PING,
    PREFACE,
    PRIORITY_FLAG,
    PUSH_PROMISE,
    REFUSED_STREAM,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    H2Request,
    StatusDecoder,
    frame,
    settings_frame,
)
from loadtester.loadgen.running.mixengine import MixConn
from loadtester.loadgen.running.tlserrors import tls_error_kind

__all__ = ["H2Link", "H2MixSlot", "H2Slot", "LinkOwner", "StreamSlot"]

_mono = time.monotonic_ns
_HEAD = struct.Struct(">BHBBL")  # a frame header: 24-bit length as 8 + 16 bits
_LAST_STREAM = 2**31 - 64  # a link this far in its stream ids takes no new stream
_WINDOW_STEP = 1 << 30  # answer bytes received before our windows are opened again
_READ_SIZE = 16 * 1024 + 256  # one TLS record's plaintext at most
_DRAIN_READS = 64  # TLS records read at most in one turn


class LinkOwner(ConnOwner, Protocol):
    """What a link needs from the engine that owns it."""

    loop: asyncio.AbstractEventLoop
    h2_requests: list[H2Request]  # by a slot's ``ri``: a scenario's request, else the one
    refused: str | None  # the first "server does not speak HTTP/2" seen


class StreamSlot(Conn):
    """A concurrency slot carried by an H2Link: one stream at a time. (No ``__slots__``
    here: H2MixSlot also derives from MixConn, and both may not add slots to Conn; the
    subclasses declare them.)"""

    link: H2Link | None
    sid: int  # the stream of the request in flight
    status: int
    window: int  # what the stream may still send of its request body
    rest: memoryview | None  # ... and what is left to send
    rbytes: int  # answer bytes received on the stream since its window was last opened

    def fresh(self) -> None:
        """Set the stream fields (from __init__)."""
        self.link = None
        self.sid = self.status = self.window = self.rbytes = 0
        self.rest = None

    def send(self, sched: int, now: int) -> None:
        self.busy = True
        self.got = False
        self.retried = False
        self.sched = sched
        self.sent = now
        link = cast(H2Link, self.link)
        if link.ready and len(link.streams) < link.max_streams:
            link.start(self)
        else:
            link.queue.append(self)

    def unanswered(self, kind: str) -> None:
        """Count the request in flight as a ``kind`` error."""
        self.recorder().error(kind)

    def close(self) -> None:
        self.dead = True
        if self.link is not None:
            self.link.close()

    def fail(self, kind: str) -> None:
        """Give up the request in flight (RST_STREAM) and count it as a ``kind`` error."""
        if not self.busy:
            return
        link = self.link
        if link is not None:
            link.drop(self)
        self.busy = False
        self.unanswered(kind)
        self.eng.release(self, _mono())


class H2Slot(StreamSlot):
    """A slot of a plain run."""

    __slots__ = ("link", "rbytes", "rest", "sid", "status", "window")

    def __init__(self, eng: ConnOwner, idx: int) -> None:
        super().__init__(eng, idx)
        self.fresh()


class H2MixSlot(StreamSlot, MixConn):
    """A slot of a scenario: any request of its endpoint, its answer checked."""

    __slots__ = ("link", "rbytes", "rest", "sid", "status", "window")

    def __init__(self, eng: ConnOwner, idx: int) -> None:
        super().__init__(eng, idx)
        self.fresh()

    def unanswered(self, kind: str) -> None:
        super().unanswered(kind)
        self.buf = bytearray()  # the next answer's body check starts afresh
        self.matched = False


class H2Link(asyncio.Protocol):
    """One HTTP/2 connection and the slots it carries."""

    def __init__(self, eng: LinkOwner, group: int, tls: bool = False) -> None:
        self.eng = eng
        self.group = group  # the slots' connection number (engine.links)
        self.tls = tls
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None
        self.slots: list[StreamSlot] = []
        self.streams: dict[int, StreamSlot] = {}
        self.queue: list[StreamSlot] = []  # waiting for the server's SETTINGS or a stream
        self.blocked: list[StreamSlot] = []  # request bodies waiting for window
        self.next_sid = 1
        self.ready = False  # the server's SETTINGS came
        self.closing = False  # takes no new stream
        self.down = False  # its requests were settled: nothing more to report
        self.max_streams = 100  # until the server says
        self.peer_window = 65_535  # the server's initial stream window
        self.send_window = 65_535  # the connection's
        self.frame_size = 16_384
        self.recv = 0  # answer bytes since the connection window was last opened
        self.buf = b""
        self.out = bytearray()
        self.batch = False
        self.decoder = StatusDecoder()
        self.hblock = bytearray()  # a header block continued in CONTINUATION frames
        self.hsid = 0
        self.hflags = 0
        self.dial_start = 0
        self.started = 0  # streams started while reading the latest data
        self.tls_read: Callable[[int], bytes] | None = None  # the TLS socket's read

    def attach(self, slot: StreamSlot) -> None:
        """Carry ``slot`` from now on."""
        if slot.link is not self:
            slot.link = self
            self.slots.append(slot)
        slot.dead = self.closing

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tr = cast(asyncio.Transport, transport)
        if self.closing:
            tr.abort()
            return
        self.transport = tr
        if self.tls:
            ssl_object = tr.get_extra_info("ssl_object")
            chosen = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
            if chosen != "h2":
                why = f"ALPN offered {chosen}" if chosen else "no ALPN protocol selected"
                self.refuse(f"server does not speak HTTP/2 ({why})")
                return
            if isinstance(ssl_object, ssl.SSLSocket):  # the engine's TLS transport's socket
                self.tls_read = ssl_object.read
        for slot in self.slots:  # counted in Details once, like an HTTP/1.1 connection's
            if slot.link is self:
                slot.dial = _mono() - self.dial_start
                break
        tr.write(PREFACE + settings_frame())

    def refuse(self, why: str) -> None:
        """The server speaks no HTTP/2: the run fails with ``why``."""
        if self.eng.refused is None:
            self.eng.refused = why
        self.lost(why)

    def data_received(self, data: bytes) -> None:
        was = self.batch
        self.batch = True
        self.started = 0
        if not self.feed(data):
            return
        read = self.tls_read
        if read is not None:
            # a TLS transport hands over one record at a time: while answers to requests sent
            # before this turn may be waiting, read them now, so that the requests they free
            # go out together (the server then reads them together too)
            for _ in range(_DRAIN_READS):
                if len(self.streams) <= self.started:
                    break
                try:
                    more = read(_READ_SIZE)
                except (OSError, ValueError):  # SSLWantReadError: nothing yet; else the
                    break  # transport's own next read finds the error
                if not more:
                    break
                self.started = 0
                if not self.feed(more):
                    return
        if not was:
            self.flush()

    def feed(self, data: bytes) -> bool:
        """Read the frames in ``data`` (after what is left of earlier data); False once the
        connection is down."""
        if self.buf:
            data = self.buf + data
        elif not self.ready and data.startswith(b"HTTP/"):
            self.refuse("server does not speak HTTP/2 (it answered the h2c preface with "
                        "HTTP/1)")
            return False
        now = _mono()
        streams = self.streams
        decoder = self.decoder
        cache = decoder.cache
        pos, end = 0, len(data)
        unpack = _HEAD.unpack_from
        try:
            while end - pos >= 9:
                high, low, kind, flags, sid = unpack(data, pos)
                stop = pos + 9 + (high << 16 | low)
                if stop > end:
                    break
                payload = data[pos + 9:stop]
                pos = stop
                sid &= 0x7FFFFFFF
                if kind == DATA:
                    self.recv += len(payload)
                    slot = streams.get(sid)
                    if slot is not None:
                        slot.rbytes += len(payload)
                        if flags & PADDED:
                            payload = payload[1:len(payload) - payload[0]]
                        slot.on_body(payload)
                        if flags & END_STREAM:
                            self.complete(slot, now)
                        elif slot.rbytes >= _WINDOW_STEP:
                            self.open_window(sid, slot.rbytes)
                            slot.rbytes = 0
                    if self.recv >= _WINDOW_STEP:
                        self.open_window(0, self.recv)
                        self.recv = 0
                elif kind == HEADERS:
                    if flags & (PADDED | PRIORITY_FLAG):
                        payload = _unpad(payload, flags)
                    seen = cache.get(payload) if flags & END_HEADERS else None
                    if seen is None:
                        if flags & END_HEADERS:
                            self.headers(sid, flags, payload, now)
                        else:
                            self.hsid, self.hflags, self.hblock = sid, flags, bytearray(payload)
                    else:  # headers() inlined for a block seen before (the hot path)
                        if seen[1]:
                            decoder.pending.extend(seen[1])
                        slot = streams.get(sid)
                        if slot is not None:
                            if not slot.got:
                                slot.got = True
                                slot.first = now
                            if seen[0] >= 200 and not slot.status:
                                slot.status = seen[0]
                            if flags & END_STREAM:
                                self.complete(slot, now)
                elif kind == CONTINUATION:
                    self.hblock += payload
                    if flags & END_HEADERS:
                        self.headers(self.hsid, self.hflags, bytes(self.hblock), now)
                        self.hblock = bytearray()
                else:
                    self.control(kind, flags, sid, payload)
                if self.down:
                    return False
        except ValueError:  # a block HPACK cannot decode, a frame too short for its fields
            self.lost("other")
            return False
        self.buf = data[pos:]
        return True

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        # a TLS alert after the handshake (TLS 1.3 servers refuse a client certificate so)
        self.lost(tls_error_kind(exc) if isinstance(exc, ssl.SSLError) else "reset")

    # -- frames -----------------------------------------------------------------------------
    def headers(self, sid: int, flags: int, block: bytes, now: int) -> None:
        """A response's (or trailers') header block."""
        status = self.decoder.status(block)  # decoded even for a stream given up: the table
        slot = self.streams.get(sid)
        if slot is None:
            return
        if not slot.got:
            slot.got = True
            slot.first = now
        if status >= 200 and not slot.status:  # 1xx answers are interim, trailers have none
            slot.status = status
        if flags & END_STREAM:
            self.complete(slot, now)

    def complete(self, slot: StreamSlot, now: int) -> None:
        """``slot``'s answer is in: count it and give the slot its next request."""
        del self.streams[slot.sid]
        if slot.rest is not None:  # answered before its body was sent: stop sending it
            slot.rest = None
            self.write(frame(RST_STREAM, 0, slot.sid, CANCEL.to_bytes(4, "big")))
        if self.queue and len(self.streams) < self.max_streams:
            self.start(self.queue.pop(0))
        slot.busy = False
        slot.served += 1
        if slot.status:
            slot.record(slot.status, now)
        else:
            slot.unanswered("other")  # an answer without a status
        if self.closing and not self.streams and self.transport is not None:
            self.transport.close()
        slot.eng.release(slot, now)

    def control(self, kind: int, flags: int, sid: int, payload: bytes) -> None:
        """Frames other than DATA, HEADERS and CONTINUATION."""
        if kind == SETTINGS:
            if not flags & ACK:
                self.settings(payload)
        elif kind == WINDOW_UPDATE:
            step = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            if sid == 0:
                self.send_window += step
            else:
                slot = self.streams.get(sid)
                if slot is not None:
                    slot.window += step
            self.unblock()
        elif kind == PING:
            if not flags & ACK:
                self.write(frame(PING, ACK, 0, payload))
        elif kind == RST_STREAM:
            slot = self.streams.pop(sid, None)
            if slot is not None:
                code = int.from_bytes(payload[:4], "big")
                slot.busy = False
                if code == REFUSED_STREAM and not slot.retried:  # not processed: send again
                    slot.eng.reopen(slot.idx, slot.sched, slot.sent, retried=True)
                else:
                    slot.unanswered("reset")
                    slot.eng.release(slot, _mono())
        elif kind == GOAWAY:
            self.go_away(int.from_bytes(payload[:4], "big") & 0x7FFFFFFF)
        elif kind == PUSH_PROMISE:  # refused in our SETTINGS
            raise ValueError("push promise")

    def settings(self, payload: bytes) -> None:
        """The server's SETTINGS: acknowledge; the first ones let queued requests go."""
        for offset in range(0, len(payload) - 5, 6):
            key, value = struct.unpack_from(">HI", payload, offset)
            if key == MAX_CONCURRENT_STREAMS:
                self.max_streams = value
            elif key == INITIAL_WINDOW_SIZE:
                for slot in self.streams.values():
                    slot.window += value - self.peer_window
                self.peer_window = value
            elif key == MAX_FRAME_SIZE:
                self.frame_size = value
        self.write(frame(SETTINGS, ACK, 0))
        self.ready = True
        while self.queue and len(self.streams) < self.max_streams and not self.closing:
            self.start(self.queue.pop(0))
        self.unblock()

    def go_away(self, last: int) -> None:
        """The server takes no new stream: requests after ``last`` (never processed) and the
        queued ones go to a new connection; the others finish here."""
        self.retire()
        for sid in [sid for sid in self.streams if sid > last]:
            slot = self.streams.pop(sid)
            slot.busy = False
            if slot.retried:
                slot.unanswered("reset")
                slot.eng.release(slot, _mono())
            else:
                slot.eng.reopen(slot.idx, slot.sched, slot.sent, retried=True)
        self.requeue()
        if not self.streams and self.transport is not None:
            self.transport.close()

    # -- sending ----------------------------------------------------------------------------
    def start(self, slot: StreamSlot) -> None:
        """Open a stream for ``slot``'s request."""
        sid = self.next_sid
        self.next_sid = sid + 2
        self.started += 1
        slot.sid = sid
        slot.status = 0
        slot.rbytes = 0
        self.streams[sid] = slot
        req = self.eng.h2_requests[slot.ri]
        out = self.out
        out += req.head
        out += sid.to_bytes(4, "big")
        out += req.block
        slot.wstart = slot.wrote = slot.sent
        if req.body:
            slot.window = self.peer_window
            slot.rest = memoryview(req.body)
            self.push(slot)
        else:
            slot.rest = None  # a body left unsent by a request given up is forgotten
        if not self.batch:
            self.batch = True
            self.eng.loop.call_soon(self.flush)
        if sid >= _LAST_STREAM:
            self.retire()

    def push(self, slot: StreamSlot) -> None:
        """Send what the windows allow of ``slot``'s request body; wait for more window."""
        rest = slot.rest
        while rest:
            n = min(len(rest), self.frame_size, self.send_window, slot.window)
            if n <= 0:
                self.blocked.append(slot)
                break
            self.send_window -= n
            slot.window -= n
            self.out += frame(DATA, 0 if n < len(rest) else END_STREAM, slot.sid, rest[:n])
            rest = rest[n:]
        slot.rest = rest or None

    def unblock(self) -> None:
        """Send more of the bodies that waited for window."""
        blocked, self.blocked = self.blocked, []
        for slot in blocked:
            if self.streams.get(slot.sid) is slot:
                self.push(slot)
        self.write(b"")

    def open_window(self, sid: int, amount: int) -> None:
        """Let the server send ``amount`` more bytes on stream ``sid`` (0: the connection)."""
        self.out += frame(WINDOW_UPDATE, 0, sid, amount.to_bytes(4, "big"))

    def write(self, data: bytes) -> None:
        """Send ``data`` with the writes of this turn."""
        self.out += data
        if not self.batch:
            self.batch = True
            self.eng.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what this turn queued."""
        self.batch = False
        if self.out and self.transport is not None:
            self.transport.write(self.out)
        self.out = bytearray()

    # -- ending -----------------------------------------------------------------------------
    def drop(self, slot: StreamSlot) -> None:
        """Stop waiting for ``slot``'s answer (a time-out): cancel its stream."""
        if self.streams.get(slot.sid) is slot:
            del self.streams[slot.sid]
            self.write(frame(RST_STREAM, 0, slot.sid, CANCEL.to_bytes(4, "big")))
        elif slot in self.queue:
            self.queue.remove(slot)

    def retire(self) -> None:
        """Take no new stream: the slots go to a new connection for their next request."""
        if self.closing:
            return
        self.closing = True
        for slot in self.slots:
            if slot.link is self:
                slot.dead = True

    def requeue(self) -> None:
        """Queued requests go to the slots' next connection."""
        queue, self.queue = self.queue, []
        for slot in queue:
            slot.busy = False
            slot.eng.reopen(slot.idx, slot.sched, slot.sent, slot.retried)

    def close(self) -> None:
        """Close without reporting anything."""
        self.retire()
        self.down = True
        hang_up(self)

    def lost(self, kind: str) -> None:
        """The connection is gone: count its requests as ``kind`` errors, except the ones a
        stale connection never answered, which go again on a new one."""
        if self.down:
            return
        self.retire()
        self.down = True
        if self.transport is not None:  # (a failed connect ends its own task)
            self.transport.abort()
            self.transport = None
        busy = list(self.streams.values()) + self.queue
        self.streams.clear()
        self.queue.clear()
        stale = kind == "reset" and any(slot.served for slot in self.slots)
        for slot in busy:
            if not slot.busy or slot.link is not self:
                continue
            slot.busy = False
            if stale and not slot.got and not slot.retried and slot.may_resend():
                slot.eng.reopen(slot.idx, slot.sched, slot.sent, retried=True)
            else:
                slot.unanswered(kind)
                slot.eng.release(slot, _mono())


def _unpad(payload: bytes, flags: int) -> bytes:
    """A HEADERS payload without its padding and priority fields."""
    start, end = 0, len(payload)
    if flags & PADDED:
        start, end = 1, end - payload[0]
    if flags & PRIORITY_FLAG:
        start += 5
    if start > end:
        raise ValueError("padding longer than the frame")
    return payload[start:end]
