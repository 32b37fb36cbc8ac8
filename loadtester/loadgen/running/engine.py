"""The per-process load engine: raw asyncio protocols, httptools parsing, pre-built requests.

One keep-alive connection per concurrency slot. Closed loop (``rate == 0``): every connection
sends back-to-back. Open loop (``rate > 0``): request *i* is due at ``first + i * interval``;
a due request goes out on a free connection, or waits for one, and its latency is measured from
its scheduled time, so a stalled target shows up as latency (no coordinated omission).
With stages (a ramping rate) request *i* is due when the rate's integral reaches
``index + i * workers`` (see input/stages.py); a scenario's mix runs on MixEngine, a subclass
(mixengine.py; factory.py picks the class for a spec).
"""

from __future__ import annotations

import asyncio
import errno
import math
import socket
import ssl
import time
from typing import TYPE_CHECKING, cast

from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.results.details import Details
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.running.connection import Conn, HeadConn
from loadtester.loadgen.running.recorder import Recorder
from loadtester.loadgen.running.samples import SampleBudget
from loadtester.loadgen.running.shares import WorkerShare
from loadtester.loadgen.running.tlscontext import client_context, server_name
from loadtester.loadgen.running.tlserrors import tls_error_kind
from loadtester.loadgen.running.tlssocket import open_tls

if TYPE_CHECKING:
    from loadtester.loadgen.input.stages import Profile

__all__ = ["Engine"]

_NOT_DUE = -1
_NO_MORE = -2
_SWEEP_SECONDS = 0.05
_STOP_GRACE_NS = 10_000_000_000  # at most 10 s for in-flight requests after the end
# uvloop's timers count whole milliseconds (a shorter delay runs at the next loop iteration,
# so waiting for a request due in 0.3 ms would spin): a request due within one millisecond
# goes at once, and its latency counts from then
_EARLY_NS = 1_000_000


class Engine:
    """Runs one process's share of a LoadSpec on the running event loop (a scenario's mix:
    the MixEngine subclass)."""

    def __init__(self, spec: LoadSpec, share: WorkerShare) -> None:
        self.spec = spec
        self.share = share
        self.request = spec.request_bytes()
        self.profile: Profile | None = spec.stages
        self.stage_count = len(spec.stages.stages) if spec.stages is not None else 0
        self.samples: SampleBudget | None = None  # a compare run's: see keep_samples
        self.rec = Recorder(self.stage_count)
        self.loop = asyncio.get_running_loop()
        self.keepalive = not spec.disable_keepalive
        # like Go's transport: resend an idempotent request once when a reused connection
        # turns out to be closed before any byte of the answer arrived
        self.idempotent = spec.method in ("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE")
        self.conn_class = HeadConn if spec.method == "HEAD" else Conn
        self.slots: list[Conn] = []
        self.free: list[Conn] = []
        self.in_flight = 0
        self.remaining = share.requests if spec.duration is None else None
        self.budget = self.remaining or 0  # the closed loop's request count, for stop()
        self.start_ns = 0
        self.end_ns = 0  # 0: no deadline
        self.first_ns = 0
        self.interval_ns = 1e9 / share.rate if share.rate > 0 else 0.0
        self.next_i = 0
        self.unsent = 0
        self.timer: asyncio.TimerHandle | None = None
        self.sweeper: asyncio.TimerHandle | None = None
        self.done: asyncio.Future[None] = self.loop.create_future()
        self.addr: tuple[str, int] = spec.address()
        self.finished_ns = 0
        # claim() runs a closed loop's claim itself (the hot path: a C call once compiled) and
        # hands a scheduled run's to claim_due
        self.closed_loop = share.rate <= 0 and self.profile is None
        self.claim_due = self.claim_open
        # the run's number of request i of this share is base + i * stride
        self.base = share.index
        self.stride = share.workers
        self.due_ns = 0  # a staged run: when request next_i is due (-1: never)
        self.due_stage = 0  # ... and its stage
        if self.profile is not None:
            self.claim_due = self.claim_staged
            self.arm = self.arm_staged  # type: ignore[method-assign]
        self.tls: ssl.SSLContext | None = None
        self.server_name: str | None = None
        if spec.is_https:  # like hey: TLS without certificate verification, unless caFile
            self.tls = client_context(spec.tls)
            self.server_name = server_name(spec.tls, spec.host, self.addr[0])

    def keep_samples(self, cap: int) -> None:
        """Keep the raw latencies of up to ``cap`` answers too (a compare run's engines:
        paired.py); the results carry them as ``LoadResult.samples``."""
        self.samples = SampleBudget(cap)
        self.rec = Recorder(self.stage_count, self.samples)

    async def prepare(self) -> None:
        """Resolve the host once and open the connections (failures are retried later)."""
        lookup = time.monotonic_ns()
        self.addr = await self.resolve(*self.spec.address())
        # one lookup, counted on the first request
        self.rec.details.dns.add(time.monotonic_ns() - lookup)
        for idx in range(self.share.concurrency):
            conn = self.conn_class(self, idx)
            self.free.append(conn)
            self.open_slot(conn)
        await self.connected()

    async def resolve(self, host: str, port: int) -> tuple[str, int]:
        """The address to connect to for ``host`` (LoadSpecError when it has none)."""
        try:
            infos = await self.loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise LoadSpecError(f"cannot resolve {host}: {exc}") from None
        return str(infos[0][4][0]), int(infos[0][4][1])

    def open_slot(self, conn: Conn) -> None:
        """Add ``conn`` as a slot and start connecting it (without keep-alive: when its first
        request is due)."""
        self.slots.append(conn)
        if self.spec.disable_keepalive:
            conn.dead = True
        else:
            conn.task = self.loop.create_task(self.connect(conn))

    async def connected(self) -> None:
        """Until the slots' connections are open (a few seconds at most; failures are
        retried when their requests are due)."""
        pending = [conn.task for conn in self.slots if conn.task is not None]
        if pending:
            await asyncio.wait(pending, timeout=min(self.spec.timeout or 5.0, 5.0))

    def endpoint(self, conn: Conn) -> tuple[tuple[str, int], ssl.SSLContext | None, str | None]:
        """Address, TLS context and TLS server name of ``conn``'s connection."""
        return self.addr, self.tls, self.server_name

    async def connect(self, conn: Conn) -> None:
        """Open ``conn``'s connection; a failure counts against its request, if any."""
        conn.dial_start = time.monotonic_ns()
        addr, tls, server_name = self.endpoint(conn)
        # Conn has asyncio.Protocol's methods, not its base class (a compiled class cannot
        # derive from a Python one): the event loop only calls the methods
        protocol = cast(asyncio.Protocol, conn)
        try:
            if tls is not None:  # OpenSSL on the socket itself: see tlssocket.py
                await open_tls(self.loop, protocol, addr, tls, server_name)
            else:
                await self.loop.create_connection(lambda: protocol, addr[0], addr[1])
        except asyncio.CancelledError:
            conn.dead = True
        except (OSError, ssl.SSLError) as exc:
            conn.dead = True
            if conn.busy:
                conn.busy = False
                kind = "refused" if exc.errno == errno.ECONNREFUSED else "other"
                if exc.errno == errno.ETIMEDOUT or isinstance(exc, TimeoutError):
                    kind = "timeout"
                elif isinstance(exc, ssl.SSLError):
                    kind = tls_error_kind(exc)
                conn.recorder().error(kind)
                self.release(conn, time.monotonic_ns())
        finally:
            conn.task = None

    def reopen(self, idx: int, sched: int, sent: int, retried: bool = False) -> None:
        """Replace slot ``idx`` with a new connection carrying the request due at ``sched``."""
        old = self.slots[idx]
        conn = self.conn_class(self, idx)
        conn.adopt(old)
        conn.busy = True
        conn.sched = sched
        conn.sent = sent
        conn.retried = retried
        conn.recorder().retried += retried
        self.slots[idx] = conn
        conn.task = self.loop.create_task(self.connect(conn))

    async def run(self, start_ns: int, resume_ns: int = 0, requests: int | None = None,
                  claimed: int = 0) -> None:
        """Send from ``start_ns`` (monotonic ns) until the share is done.

        A run taken over from another process (see workers.run_load) keeps the schedule and
        deadline of ``start_ns`` but sends nothing due before ``resume_ns``; ``requests`` (when
        given) replaces the share's request count, and a closed loop numbers its requests
        (the mix's order) after the ``claimed`` ones the other process sent."""
        spec, share = self.spec, self.share
        delay = (max(start_ns, resume_ns) - time.monotonic_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        if self.done.done():  # stopped before the start: send nothing
            self.shutdown()
            return
        self.start_ns = start_ns
        self.first_ns = start_ns + int(share.offset * 1e9)
        if spec.duration is not None:
            self.end_ns = start_ns + int(spec.duration * 1e9)
        elif requests is not None:
            self.remaining = self.budget = requests
        if not self.interval_ns and self.profile is None:
            self.base += claimed
        if self.profile is not None:
            self.start_staged(resume_ns)
        elif resume_ns > self.first_ns and self.interval_ns:
            self.next_i = math.ceil((resume_ns - self.first_ns) / self.interval_ns)
            if self.remaining is not None:
                self.remaining += self.next_i  # an index bound in the open loop
        self.sweeper = self.loop.call_later(_SWEEP_SECONDS, self.sweep)
        self.tick()
        try:
            await self.done
        finally:
            self.shutdown()

    def stop(self, at_ns: int = 0) -> int:
        """End early: send nothing due from ``at_ns`` (default now), let in-flight requests
        finish. A run bounded by a request count stops claiming at once. Returns how many
        requests were claimed (sent, in flight or failed) until then."""
        now = time.monotonic_ns()
        end = max(at_ns, now)
        if self.end_ns == 0 or self.end_ns > end:
            self.end_ns = end
        claimed = self.next_i if self.share.rate > 0 else self.budget - (self.remaining or 0)
        if self.remaining is not None:
            self.remaining = 0
        if self.in_flight == 0 and end == now:
            self.finish()
        return claimed

    # -- scheduling -------------------------------------------------------------------------
    # claim(now) hands out the next due request: its scheduled time (>= 0), or a negative
    # value after doing what the pump does then: _NOT_DUE once the timer is armed for it,
    # _NO_MORE after finishing the share if nothing is in flight (see exhausted()).
    def claim(self, now: int) -> int:
        """The next due request's scheduled time, or _NOT_DUE/_NO_MORE. Closed loop: due
        right now, if there is one (next_i counts them: a mix picks its request by it)."""
        if not self.closed_loop:
            return self.claim_due(now)
        if self.remaining is not None:
            if self.remaining <= 0:
                return self.exhausted()
            self.remaining -= 1
        elif now >= self.end_ns:
            return self.exhausted()
        self.next_i += 1
        return now

    def claim_open(self, now: int) -> int:
        """Open loop: the scheduled time of the next due request, or _NOT_DUE/_NO_MORE."""
        i = self.next_i
        if self.remaining is not None and i >= self.remaining:
            return self.exhausted()
        sched = self.first_ns + int(i * self.interval_ns)
        end = self.end_ns
        if end:
            if sched >= end:
                return self.exhausted()
            if now >= end:  # due but never sent: all slots were busy until the end
                self.unsent += math.ceil((end - sched) / self.interval_ns)
                self.next_i = i + math.ceil((end - sched) / self.interval_ns)
                return self.exhausted()
        if sched > now:
            sched = self.early(sched, now)
            if sched < 0:
                return _NOT_DUE
        self.next_i = i + 1
        return sched

    def claim_staged(self, now: int) -> int:
        """Open loop with stages: like claim_open, with due times from the profile."""
        i = self.next_i
        sched = self.due_ns
        if sched < 0 or (self.remaining is not None and i >= self.remaining):
            return self.exhausted()
        end = self.end_ns
        if end:
            if sched >= end:
                return self.exhausted()
            if now >= end:  # due but never sent: all slots were busy until the end
                last = max(i, self.staged_before(end))
                self.unsent += last - i
                self.next_i = last
                self.due_ns = -1
                return self.exhausted()
        if sched > now:
            sched = self.early(sched, now)
            if sched < 0:
                return _NOT_DUE
        self.rec.stages[self.due_stage] += 1
        self.next_i = i + 1
        self.due_ns, self.due_stage = self.staged_due(i + 1)
        return sched

    def early(self, sched: int, now: int) -> int:
        """A request due at ``sched``, later than ``now``: ``now`` if it is due within
        _EARLY_NS (it goes at once), else _NOT_DUE with the timer armed for it."""
        if sched - now <= _EARLY_NS:
            return now
        if self.timer is None:
            self.arm(now)
        return _NOT_DUE

    def staged_due(self, i: int) -> tuple[int, int]:
        """When this share's request ``i`` is due (-1: after the last stage), and its stage."""
        assert self.profile is not None
        t, stage = self.profile.due(self.base + i * self.stride, self.due_stage)
        return (-1 if t < 0 else self.start_ns + int(t * 1e9)), stage

    def staged_before(self, at_ns: int) -> int:
        """How many of this share's requests are due before ``at_ns``."""
        assert self.profile is not None
        due = math.ceil(self.profile.integral((at_ns - self.start_ns) / 1e9) - 1e-9)
        return max(0, -(-(due - self.base) // self.stride))

    def start_staged(self, resume_ns: int) -> None:
        """The first due request: the first one, or in a run taken over, the first one due
        from ``resume_ns``."""
        if resume_ns > self.start_ns:
            self.next_i = self.staged_before(resume_ns)
        self.due_ns, self.due_stage = self.staged_due(self.next_i)

    def arm_staged(self, now: int) -> None:
        """Wake up when the next request of a staged run is due."""
        self.timer = self.loop.call_later(max(self.due_ns - now, 0) / 1e9, self.tick)

    def exhausted(self) -> int:
        """No request is left to claim: the share is done once none is in flight."""
        if self.in_flight == 0:
            self.finish()
        return _NO_MORE

    # -- the pump -----------------------------------------------------------------------------
    def dispatch(self, conn: Conn, sched: int, now: int) -> None:
        """Send the request due at ``sched`` on ``conn`` (a new connection if it is closed)."""
        self.in_flight += 1
        if conn.dead:
            self.reopen(conn.idx, sched, now)
        else:
            conn.send(sched, now)

    def release(self, conn: Conn, now: int) -> None:
        """``conn``'s request is over: give it the next due request or park it."""
        self.in_flight -= 1
        sched = self.claim(now)
        if sched >= 0:
            self.dispatch(conn, sched, now)
        else:
            self.free.append(conn)

    def arm(self, now: int) -> None:
        """Wake up when the next request is due."""
        due = self.first_ns + int(self.next_i * self.interval_ns)
        self.timer = self.loop.call_later(max(due - now, 0) / 1e9, self.tick)

    def tick(self) -> None:
        """Hand due requests to free connections."""
        self.timer = None
        now = time.monotonic_ns()
        free = self.free
        while free:
            sched = self.claim(now)
            if sched < 0:
                return
            self.dispatch(free.pop(), sched, now)

    def sweep(self) -> None:
        """Time out slow requests; after the end plus a grace period, abort the rest."""
        now = time.monotonic_ns()
        timeout = int(self.spec.timeout * 1e9)
        hard_stop = self.end_ns and now > self.end_ns + min(
            timeout or _STOP_GRACE_NS, _STOP_GRACE_NS
        )
        for conn in list(self.slots):
            if conn.busy and (hard_stop or (timeout and now - conn.sent > timeout)):
                conn.fail("timeout")
        if self.end_ns and now >= self.end_ns and self.timer is None:
            self.tick()  # drops unsent requests and finishes an idle engine
        self.sweeper = self.loop.call_later(_SWEEP_SECONDS, self.sweep)

    def finish(self) -> None:
        """Mark the share done."""
        if not self.done.done():
            # a run bounded by a duration lasts that long even if its last answer came early
            self.finished_ns = max(time.monotonic_ns(), self.end_ns)
            self.done.set_result(None)

    def shutdown(self) -> None:
        """Cancel timers and close every connection."""
        for handle in (self.timer, self.sweeper):
            if handle is not None:
                handle.cancel()
        self.timer = self.sweeper = None
        for conn in self.slots:
            conn.busy = False
            conn.close()

    def take(self) -> LoadResult:
        """Counts since the previous call, as a LoadResult delta."""
        return self.take_all()[0]

    def take_all(self) -> tuple[LoadResult, Details]:
        """Counts since the previous call, as a LoadResult delta, and their phase details."""
        rec, self.rec = self.rec, Recorder(self.stage_count, self.samples)
        result = rec.to_result()
        if self.profile is not None:
            result.stage_sent = rec.stages
            result.stage_targets = self.profile.stage_targets()
        result.target_rate = self.spec.rate
        end = self.finished_ns or time.monotonic_ns()
        result.elapsed = max(end - self.start_ns, 0) / 1e9 if self.start_ns else 0.0
        result.unsent, self.unsent = self.unsent, 0
        return result, rec.details
