"""A scenario's requests on the engine: pre-built bytes picked by the run's request number,
per-endpoint keep-alive connections, per-request counts and response checks.

Request *g* of the run is ``mix.order[g % len(order)]``; this share sends ``g = base + i *
stride`` for its *i*-th request, so the workers together send the interleaving exactly. The
next request waits for a free connection to its own endpoint (the order is kept). Only
requests with a body check read their answer's body, at most BODY_CHECK_CAP bytes of it.
Sending, scheduling and the end of the pump are Engine's: the mix's pump only picks the
request and hands it to a free connection of its endpoint.
"""

from __future__ import annotations

import re
import ssl
import time
from typing import cast

import httptools

from loadtester.loadgen.input.mix import BODY_CHECK_CAP, Mix, MixRequest
from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.results.details import Details
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.running.connection import Conn, ConnOwner
from loadtester.loadgen.running.engine import Engine
from loadtester.loadgen.running.recorder import Recorder
from loadtester.loadgen.running.shares import WorkerShare
from loadtester.loadgen.running.tlscontext import client_context

__all__ = ["MixConn", "MixEngine", "Sending", "split_connections"]


class Sending:
    """What a connection reads of its mix request on every answer, in fields of their own:
    typed C fields in the compiled build (mixengine.pxd), where a MixRequest's are generic
    attribute reads."""

    __slots__ = ("body", "checked", "data", "early", "head", "idempotent", "literal",
                 "max_latency_us", "status")

    def __init__(self, req: MixRequest) -> None:
        self.data = req.data
        self.checked = bool(req.checks)
        self.status = req.status
        self.body = req.body
        # a body check without regexp syntax, as the text it matches: a substring test
        plain = req.body.pattern if req.body is not None else None
        self.literal = plain if plain and re.escape(plain) == plain else None
        self.early = req.early
        self.max_latency_us = req.max_latency_us
        self.head = req.head
        self.idempotent = req.idempotent


class MixConn(Conn):
    """A connection that carries any request of the mix to its endpoint, and checks answers."""

    __slots__ = ("buf", "matched", "mixer", "req")

    def __init__(self, eng: ConnOwner, idx: int) -> None:
        super().__init__(eng, idx)
        # eng again, as the MixEngine it is: the compiled build then reads its fields and
        # calls its pump directly, where eng (a Conn's Engine) reaches them by name
        self.mixer = cast(MixEngine, eng)
        self.req: Sending = self.mixer.sending[0]
        self.buf = bytearray()  # the body read so far, for a body check
        self.matched = False
        self.reads_body = True

    def adopt(self, old: Conn) -> None:
        super().adopt(old)
        assert isinstance(old, MixConn)
        self.req = old.req

    def recorder(self) -> Recorder:
        return self.mixer.recs[self.ri]

    def may_resend(self) -> bool:
        return self.req.idempotent

    def record(self, status: int, now: int) -> None:
        """Count the answer under its request, with the first check it fails."""
        req = self.req
        rec = self.mixer.recs[self.ri]
        rec.codes[status] += 1
        latency = (now - self.sched) // 1000
        rec.hist.record(latency)
        wrote, first = self.wrote, self.first or now
        rec.details.answered(wrote - self.wstart, first - wrote, now - first)
        if self.dial:
            self.count_dial()
        if not req.checked:
            return
        failed = None
        if req.status is not None and status not in req.status:
            failed = "status"
        elif req.body is not None and not self.matched and (
            req.early or req.body.search(self.buf) is None
        ):
            failed = "body"
        elif req.max_latency_us and latency > req.max_latency_us:
            failed = "maxLatency"
        if req.body is not None:  # the connection's next body check starts afresh
            if self.buf:
                self.buf = bytearray()
            self.matched = False
        if failed is not None:
            rec.checks[failed] = rec.checks.get(failed, 0) + 1
            if status < 500:
                rec.rejected += 1

    # -- httptools callbacks ----------------------------------------------------------------
    def on_body(self, body: bytes) -> None:
        self.eng.rec.details.size += len(body)
        req = self.req
        if req.body is None or self.matched:
            return
        buf = self.buf
        # the whole body in one piece, as usual: tried where it lies, not copied
        if req.early and not buf and len(body) <= BODY_CHECK_CAP and (
            # (find, not `in`: `in` tries the text as an integer first, raising an error)
            body.find(req.literal) >= 0 if req.literal is not None else req.body.search(body)
        ):
            self.matched = True
            return
        room = BODY_CHECK_CAP - len(buf)
        if room <= 0:
            return
        buf += body if len(body) <= room else body[:room]
        if req.early and req.body.search(buf) is not None:
            self.matched = True
            self.buf = bytearray()  # matched: the rest of the body is not kept

    # -- answers ----------------------------------------------------------------------------
    def complete(self, status: int, keep: bool) -> None:
        """Count the answer and give the connection its next request (what Engine.release
        does, inlined: the hot path)."""
        if not self.busy:
            return
        now = self.last
        self.record(status, now)
        self.busy = False
        self.served += 1
        eng = self.mixer
        if not (eng.keepalive and keep):
            self.close()
        eng.in_flight -= 1
        eng.pump(now, self)


class MixHeadConn(MixConn):
    """A MixConn of a mix with a HEAD request: a HEAD answer has no body whatever its
    Content-Length says, so it is complete after its headers."""

    __slots__ = ()

    def __init__(self, eng: ConnOwner, idx: int) -> None:
        super().__init__(eng, idx)
        self.head = None  # (ResponseHead would read a body that is not there)

    def on_headers_complete(self) -> None:
        if self.busy and self.req.head:
            MixConn.on_message_complete(self)
            self.parser = httptools.HttpResponseParser(self)  # the next answer's

    def on_message_complete(self) -> None:
        if not self.req.head:
            MixConn.on_message_complete(self)


class MixEngine(Engine):
    """An Engine for a spec with a mix."""

    def __init__(self, spec: LoadSpec, share: WorkerShare) -> None:
        super().__init__(spec, share)
        assert spec.mix is not None
        mix: Mix = spec.mix
        self.mix = mix
        self.requests = mix.requests
        self.sending = [Sending(r) for r in mix.requests]
        self.order = mix.order
        self.period = len(mix.order)
        self.endpoint_of = [r.endpoint for r in mix.requests]
        self.weights = sum(r.weight for r in mix.requests)
        self.recs = [Recorder() for _ in mix.requests]
        self.frees: list[list[MixConn]] = [[] for _ in mix.endpoints]
        self.addrs = [(e.host, e.port) for e in mix.endpoints]
        self.mix_conn = MixHeadConn if any(r.head for r in mix.requests) else MixConn
        self.conn_class = self.mix_conn
        if not any(e.tls for e in mix.endpoints):
            self.tls = None
        elif self.tls is None:  # like hey: TLS without certificate checks, unless caFile
            self.tls = client_context(spec.tls)
        override = spec.tls.server_name if spec.tls is not None else None
        self.server_names = [override or e.server_name for e in mix.endpoints]
        if share.rate <= 0 and spec.duration is not None:
            # a closed loop bounded by time: workers go at their own pace, so each one goes
            # through the whole order rather than every n-th request of it
            self.stride = 1

    async def prepare(self) -> None:
        """Resolve each endpoint once; open its connections, in proportion to its share of
        the requests (at least one each)."""
        lookup = time.monotonic_ns()
        for k, (host, port) in enumerate(self.addrs):
            self.addrs[k] = await self.resolve(host, port)
        self.rec.details.dns.add(time.monotonic_ns() - lookup)
        shares = [0] * len(self.addrs)
        for req in self.requests:
            shares[req.endpoint] += req.weight
        for endpoint, count in enumerate(split_connections(self.share.concurrency, shares)):
            for _ in range(count):
                self.add_connection(endpoint)
        await self.connected()

    def add_connection(self, endpoint: int) -> None:
        """A new connection to ``endpoint``, free for its requests."""
        conn = self.mix_conn(self, len(self.slots))
        conn.endpoint = endpoint
        self.frees[endpoint].append(conn)
        self.open_slot(conn)

    def endpoint(self, conn: Conn) -> tuple[tuple[str, int], ssl.SSLContext | None, str | None]:
        target = self.mix.endpoints[conn.endpoint]
        name = self.server_names[conn.endpoint]
        return self.addrs[conn.endpoint], self.tls if target.tls else None, name

    def pump(self, now: int, ended: MixConn | None = None) -> None:
        """Send due requests, in order, while their endpoint has a free connection; ``ended``,
        a connection whose request is over, is free too, and taken first for its endpoint (as
        if on top of its free list: it does not go through the list, the hot path)."""
        order, period, frees, endpoint_of = self.order, self.period, self.frees, self.endpoint_of
        sending = self.sending
        while True:
            ri = order[(self.base + self.next_i * self.stride) % period]
            endpoint = endpoint_of[ri]
            free = frees[endpoint]
            taken = ended if ended is not None and ended.endpoint == endpoint else None
            if taken is None and not free:
                break  # one of its connections is busy and calls release()
            sched = self.claim(now)
            if sched < 0:
                break
            if taken is None:
                conn = free.pop()
            else:
                conn, ended = taken, None
            conn.ri = ri  # the request it carries (set here, not in a call: the hot path)
            req = conn.req = sending[ri]
            conn.data = req.data
            self.in_flight += 1  # Engine.dispatch, inlined (the hot path)
            if conn.dead:
                self.reopen(conn.idx, sched, now)
            else:
                conn.send(sched, now)
        if ended is not None:
            frees[ended.endpoint].append(ended)

    def release(self, conn: Conn, now: int) -> None:
        self.in_flight -= 1
        self.pump(now, conn)  # type: ignore[arg-type]  # a MixConn here

    def tick(self) -> None:
        self.timer = None
        self.pump(time.monotonic_ns())

    def keep_samples(self, cap: int) -> None:
        super().keep_samples(cap)
        self.recs = [Recorder(samples=self.samples) for _ in self.requests]

    def take_all(self) -> tuple[LoadResult, Details]:
        recs, self.recs = self.recs, [Recorder(samples=self.samples) for _ in self.requests]
        total, details = super().take_all()
        for req, rec in zip(self.requests, recs, strict=True):
            part = rec.to_result()
            part.elapsed = total.elapsed
            part.target_rate = self.spec.rate * req.weight / self.weights
            total.merge(part)
            part.samples, part.samples_over = None, False  # the whole run's only
            part.check_texts = dict(req.checks)
            total.requests[req.name] = part
        return total, details


def split_connections(total: int, shares: list[int]) -> list[int]:
    """``total`` connections in proportion to ``shares`` (largest remainders), at least one
    each."""
    whole = sum(shares)
    exact = [total * s / whole for s in shares]
    counts = [max(1, int(x)) for x in exact]
    left = total - sum(counts)
    by_remainder = sorted(range(len(shares)), key=lambda k: exact[k] - int(exact[k]),
                          reverse=True)
    for k in by_remainder[:max(left, 0)]:
        counts[k] += 1
    return counts
