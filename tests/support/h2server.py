"""A cleartext HTTP/2 server (h2c prior knowledge) on port 0, built on python-hyper's ``h2``
(an implementation independent of the engine's): it counts connections, requests and the
most streams open at once, can hold answers until ``hold`` streams of a connection are open
(so only a client that multiplexes gets answers), and can say GOAWAY after ``goaway_after``
requests of a connection."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events


@dataclass
class H2Counts:
    """What the server saw."""

    connections: int = 0
    requests: int = 0
    most_open: int = 0  # streams open at once on one connection
    paths: dict[str, int] = field(default_factory=dict)
    body_bytes: int = 0


class _Conn(asyncio.Protocol):
    def __init__(self, server: H2Server) -> None:
        self.server = server
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, header_encoding="latin-1"))
        self.waiting: list[int] = []  # streams whose request is complete, not answered
        self.open: set[int] = set()
        self.served = 0
        self.closed = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.counts.connections += 1
        self.h2.initiate_connection()
        self.flush()

    def data_received(self, data: bytes) -> None:
        counts = self.server.counts
        for event in self.h2.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                self.open.add(event.stream_id)
                counts.most_open = max(counts.most_open, len(self.open))
                path = dict(event.headers).get(":path", "")
                counts.paths[path] = counts.paths.get(path, 0) + 1
            elif isinstance(event, h2.events.DataReceived):
                counts.body_bytes += len(event.data)
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self.waiting.append(event.stream_id)
        if len(self.waiting) >= self.server.hold:
            for stream in self.waiting:
                if self.closed:  # after its GOAWAY: the client sends these again elsewhere
                    break
                self.answer(stream)
            self.waiting.clear()
        self.flush()

    def answer(self, stream: int) -> None:
        self.server.counts.requests += 1
        self.served += 1
        self.open.discard(stream)
        body = b'{"status":"ok"}'
        self.h2.send_headers(stream, [(":status", "200"), ("content-length", str(len(body)))])
        self.h2.send_data(stream, body, end_stream=True)
        if self.served == self.server.goaway_after:
            self.closed = True
            self.h2.close_connection(last_stream_id=stream)
            self.flush()
            assert self.transport is not None
            self.transport.close()

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)


class H2Server:
    """The server; ``url`` once started."""

    def __init__(self, hold: int = 1, goaway_after: int = 0) -> None:
        self.hold = hold
        self.goaway_after = goaway_after
        self.counts = H2Counts()
        self.server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> H2Server:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _Conn(self), "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/"
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
