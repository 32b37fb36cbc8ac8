"""Small HTTP/1.1 servers on 127.0.0.1 port 0 that count what they answer and misbehave on cue."""

from __future__ import annotations

import asyncio
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    """How to answer the n-th request."""

    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0
    chunked: bool = False
    close_header: bool = False  # answer with "Connection: close" and close
    close_after: bool = False  # answer normally (keep-alive) then close the connection
    drop: bool = False  # close without answering
    pieces: int = 1  # written in this many pieces, 5 ms apart (so read in as many reads)


Behaviour = Callable[[int], Reply]


class CountingServer:
    """Answers requests as ``behaviour`` says and counts the answers by status."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests = 0
        self.answered: Counter[int] = Counter()
        self.dropped = 0
        self.connections = 0
        self.scheme = "http"
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        """The port the server listens on."""
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"{self.scheme}://127.0.0.1:{self.port}/"

    async def start(self, tls: ssl.SSLContext | None = None) -> CountingServer:
        """Listen on 127.0.0.1, port 0 (with TLS when given a context)."""
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, backlog=512, ssl=tls)
        self.scheme = "https" if tls else "http"
        return self

    async def close(self) -> None:
        """Stop listening and close open connections."""
        if self.server is not None:
            self.server.close()
            for writer in list(self.writers):
                writer.close()
            await self.server.wait_closed()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection."""
        self.connections += 1
        self.writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                    break
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                self.requests += 1
                reply = self.behaviour(self.requests)
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                if reply.drop:
                    self.dropped += 1
                    break
                answer = _response(reply, head.startswith(b"HEAD "))
                cuts = [len(answer) * k // reply.pieces for k in range(reply.pieces + 1)]
                for k in range(reply.pieces):
                    if k:
                        await writer.drain()
                        await asyncio.sleep(0.005)
                    writer.write(answer[cuts[k] : cuts[k + 1]])
                self.answered[reply.status] += 1
                if reply.close_header or reply.close_after:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()


def _response(reply: Reply, head_only: bool) -> bytes:
    lines = [f"HTTP/1.1 {reply.status} X".encode()]
    if reply.chunked:
        lines.append(b"Transfer-Encoding: chunked")
        body = b"".join(
            f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (reply.body, reply.body)
        )
        body += b"0\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(reply.body)}".encode())
        body = reply.body
    if reply.close_header:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + (b"" if head_only else body)


# The `serve` fixture of tests/loadgen: starts a CountingServer that answers as the behaviour says.
ServerFactory = Callable[[Behaviour], Awaitable["CountingServer"]]
