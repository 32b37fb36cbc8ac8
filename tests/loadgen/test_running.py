"""The engine family: which engine a spec gets, what crosses a worker's pipe, and a scenario's
requests carried across reconnects."""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import AsyncIterator

import pytest

from loadtester.loadgen.input.scenario import parse_scenario, scenario_spec
from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.results.messages import (
    PipeClosed,
    Ready,
    Start,
    Stop,
    WorkerDelta,
    WorkerFailed,
)
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.running.engine import Engine
from loadtester.loadgen.running.factory import new_engine
from loadtester.loadgen.running.local import run_local
from loadtester.loadgen.running.mixengine import MixEngine
from loadtester.loadgen.running.shares import WorkerShare

MIX = """
requests:
  - {name: read, url: /a}
  - {name: write, method: POST, url: /b, body: x}
  - {name: other, url: /c}
"""
LINES = ["GET /a HTTP/1.1", "POST /b HTTP/1.1", "GET /c HTTP/1.1"]


class RecordingServer:
    """Answers 200 to every request but closes the connection on every ``drop_every``-th one
    it receives, unanswered; keeps the request lines of answered and of dropped requests."""

    def __init__(self, drop_every: int = 0) -> None:
        self.drop_every = drop_every
        self.received = 0
        self.lines: list[str] = []
        self.dropped: list[str] = []
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line = head.split(b"\r\n", 1)[0].decode()
                for header in head.split(b"\r\n"):
                    if header.lower().startswith(b"content-length:"):
                        await reader.readexactly(int(header.split(b":", 1)[1]))
                self.received += 1
                if self.drop_every and self.received % self.drop_every == 0:
                    self.dropped.append(line)
                    break
                self.lines.append(line)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def recording() -> AsyncIterator[RecordingServer]:
    """A RecordingServer dropping every fifth request."""
    server = RecordingServer(drop_every=5)
    server.server = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    yield server
    server.server.close()
    await server.server.wait_closed()


async def test_factory_picks_the_engine_by_spec() -> None:
    """A spec with a scenario's mix runs on MixEngine, any other on the plain Engine."""
    share = WorkerShare(concurrency=1)
    plain = LoadSpec(url="http://127.0.0.1:1/")
    mixed = scenario_spec(parse_scenario(MIX, plain.url), plain)
    assert type(new_engine(plain, share)) is Engine
    assert type(new_engine(mixed, share)) is MixEngine


@pytest.mark.parametrize("message", [
    Start(start_ns=1, resume_ns=2, requests=None, claimed=3), Stop(), Ready(), PipeClosed(),
    WorkerDelta(LoadResult(status_counts={200: 4}).to_wire(), {}, done=True),
    WorkerFailed("url 'x' is not an http:// or https:// URL", bad_spec=True),
])
def test_worker_messages_cross_a_pipe(message: object) -> None:
    """Every message between a worker and its parent survives pickling (the pipe's encoding)."""
    assert pickle.loads(pickle.dumps(message)) == message


async def test_mix_requests_survive_reconnects(recording: RecordingServer) -> None:
    """Without keep-alive every request of a mix goes out on a new connection, in the mix's
    order, each with its own method, path and body."""
    recording.drop_every = 0
    base = LoadSpec(url=recording.url, concurrency=1, requests=30, disable_keepalive=True)
    result = await run_local(scenario_spec(parse_scenario(MIX, recording.url), base))
    assert recording.lines == LINES * 10
    for name in ("read", "write", "other"):
        assert result.requests[name].status_counts == {200: 10}


async def test_mix_resends_only_idempotent_requests(recording: RecordingServer) -> None:
    """A request dropped on a reused connection is sent again on a new one if it is a GET,
    counted as a reset error of its own request if it is a POST."""
    base = LoadSpec(url=recording.url, concurrency=1, requests=60)
    result = await run_local(scenario_spec(parse_scenario(MIX, recording.url), base))
    read, write = result.requests["read"], result.requests["write"]
    resent, lost = recording.dropped.count(LINES[0]), recording.dropped.count(LINES[1])
    assert resent > 0 and lost > 0
    assert read.retried == resent and read.errors == {}
    assert write.retried == 0 and write.errors == {"reset": lost}
    assert recording.lines.count(LINES[0]) == read.total == read.status_counts[200] == 20
    assert recording.lines.count(LINES[1]) == write.status_counts[200] == 20 - lost
