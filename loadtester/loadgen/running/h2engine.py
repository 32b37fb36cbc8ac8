"""The engine over HTTP/2 (``h2``: TLS with ALPN, ``h2c``: cleartext, prior knowledge): each
of a share's connections carries ``streams`` slots, so up to ``concurrency * streams``
requests are in flight. Scheduling, counting and the mix are Engine's and MixEngine's; this
module only builds the slots on links (h2conn.py) and reconnects a link's slots together.
"""

from __future__ import annotations

import asyncio
import errno
import ssl
import time

from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.results.details import Details
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.running.engine import Engine
from loadtester.loadgen.running.h2conn import H2Link, H2MixSlot, H2Slot, StreamSlot
from loadtester.loadgen.running.h2wire import H2Request, h2_request
from loadtester.loadgen.running.mixengine import MixEngine
from loadtester.loadgen.running.shares import WorkerShare
from loadtester.loadgen.running.tlserrors import tls_error_kind
from loadtester.loadgen.running.tlssocket import open_tls

__all__ = ["H2Engine", "H2MixEngine", "new_h2_engine"]

_mono = time.monotonic_ns
_SETTLE_SECONDS = 5.0  # at most, for the servers' first SETTINGS before the run starts


def new_h2_engine(spec: LoadSpec, share: WorkerShare) -> Engine:
    """The HTTP/2 engine for ``spec`` (a scenario's, if it has a mix)."""
    return H2MixEngine(spec, share) if spec.mix is not None else H2Engine(spec, share)


class H2Engine(Engine):
    """A plain run over HTTP/2 (and what H2MixEngine adds to MixEngine): links, their slots,
    reconnection."""

    def __init__(self, spec: LoadSpec, share: WorkerShare) -> None:
        super().__init__(spec, share)
        self.streams = spec.streams
        self.refused: str | None = None
        self.links: list[H2Link] = []  # the current link of each connection (group)
        if self.tls is not None:
            # http/1.1 too: a server without HTTP/2 then says so, rather than failing the
            # handshake
            self.tls.set_alpn_protocols(["h2", "http/1.1"])
        self.h2_requests: list[H2Request] = self.h2_forms()

    def h2_forms(self) -> list[H2Request]:
        """The requests in HTTP/2 form, by a slot's ``ri``."""
        return [h2_request(self.request, self.spec.is_https)]

    def new_slot(self, idx: int) -> StreamSlot:
        """Slot number ``idx``."""
        return H2Slot(self, idx)

    def park(self, slot: StreamSlot) -> None:
        """A new slot is free."""
        self.free.append(slot)

    async def prepare(self) -> None:
        lookup = _mono()
        self.addr = await self.resolve(*self.spec.address())
        self.rec.details.dns.add(_mono() - lookup)
        for _ in range(self.share.concurrency):
            self.add_link(0)
        await self.connected()

    def add_link(self, endpoint: int) -> None:
        """A new connection to ``endpoint`` with its ``streams`` slots."""
        link = H2Link(self, len(self.links))
        self.links.append(link)
        slot = None
        for _ in range(self.streams):
            slot = self.new_slot(len(self.slots))
            slot.endpoint = endpoint
            link.attach(slot)
            self.slots.append(slot)
            self.park(slot)
        assert slot is not None
        link.task = self.loop.create_task(self.dial(link, slot))

    async def dial(self, link: H2Link, via: StreamSlot) -> None:
        """Open ``link``'s connection (to ``via``'s endpoint); a failure counts against its
        requests in flight."""
        link.dial_start = _mono()
        addr, tls, server_name = self.endpoint(via)
        link.tls = tls is not None
        try:
            if tls is not None:  # the engine's own TLS transport, as Engine.connect's
                await open_tls(self.loop, link, addr, tls, server_name)
            else:
                await self.loop.create_connection(lambda: link, addr[0], addr[1])
        except asyncio.CancelledError:
            link.close()
        except (OSError, ssl.SSLError) as exc:
            kind = "refused" if exc.errno == errno.ECONNREFUSED else "other"
            if exc.errno == errno.ETIMEDOUT or isinstance(exc, TimeoutError):
                kind = "timeout"
            elif isinstance(exc, ssl.SSLError):
                kind = tls_error_kind(exc)
            link.lost(kind)
        finally:
            link.task = None

    async def connected(self) -> None:
        """Until the links are open and their servers' SETTINGS came (or they failed); a
        server that speaks no HTTP/2 fails the run."""
        wait = min(self.spec.timeout or _SETTLE_SECONDS, _SETTLE_SECONDS)
        deadline = time.monotonic() + wait
        pending = [link.task for link in self.links if link.task is not None]
        if pending:
            await asyncio.wait(pending, timeout=wait)
        while (self.refused is None and time.monotonic() < deadline
               and any(not (link.ready or link.down) for link in self.links)):
            await asyncio.sleep(0.005)
        if self.refused is not None:
            self.shutdown()
            raise LoadSpecError(self.refused)

    def reopen(self, idx: int, sched: int, sent: int, retried: bool = False) -> None:
        """Carry slot ``idx``'s request due at ``sched`` on its connection's next link."""
        slot = self.slots[idx]
        assert isinstance(slot, StreamSlot) and slot.link is not None
        group = slot.link.group
        link = self.links[group]
        if link.closing:
            link = self.links[group] = H2Link(self, group)
            link.attach(slot)
            link.task = self.loop.create_task(self.dial(link, slot))
        else:
            link.attach(slot)
        slot.busy = True
        slot.got = False
        slot.sched = sched
        slot.sent = sent
        slot.retried = retried
        slot.recorder().retried += retried
        if link.ready and len(link.streams) < link.max_streams:
            link.start(slot)
        else:
            link.queue.append(slot)

    def take_all(self) -> tuple[LoadResult, Details]:
        result, details = super().take_all()
        result.protocol = "HTTP/2"
        return result, details


class H2MixEngine(H2Engine, MixEngine):
    """A scenario over HTTP/2: each endpoint's connections carry its requests' streams."""

    def h2_forms(self) -> list[H2Request]:
        assert self.spec.mix is not None
        endpoints = self.spec.mix.endpoints
        return [h2_request(r.data, endpoints[r.endpoint].tls) for r in self.spec.mix.requests]

    def new_slot(self, idx: int) -> StreamSlot:
        return H2MixSlot(self, idx)

    def park(self, slot: StreamSlot) -> None:
        self.frees[slot.endpoint].append(slot)  # type: ignore[arg-type]  # an H2MixSlot

    prepare = MixEngine.prepare  # not H2Engine's, which comes first in the MRO

    def add_connection(self, endpoint: int) -> None:
        self.add_link(endpoint)
