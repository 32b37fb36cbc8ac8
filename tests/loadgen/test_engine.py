"""The engine against real servers, through run_load: what it reports is what the server saw."""

from __future__ import annotations

import socket

import pytest

from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.results.details import Details
from loadtester.loadgen.running import connection
from loadtester.loadgen.running.workers import run_load
from tests.support.servers import Reply, ServerFactory


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_counts_match_server(serve: ServerFactory) -> None:
    """Every request the server answered is reported once, with its status."""
    server = await serve(lambda n: Reply())
    result = await run_load(LoadSpec(url=server.url, requests=500, concurrency=8), workers=2)
    assert result.status_counts == {200: 500}
    assert dict(server.answered) == {200: 500}
    assert result.errors == {}
    assert result.histogram.count == 500


async def test_status_codes_and_error_rate(serve: ServerFactory) -> None:
    """5xx answers are counted by code and make up the error rate."""
    server = await serve(lambda n: Reply(status=503 if n % 4 == 0 else 200))
    result = await run_load(LoadSpec(url=server.url, requests=400, concurrency=4), workers=1)
    assert result.status_counts == dict(server.answered)
    assert result.status_counts[503] == 100
    assert result.error_rate == 25.0


async def test_chunked_and_head(serve: ServerFactory) -> None:
    """Chunked bodies and HEAD answers (Content-Length, no body) keep connections in step."""
    server = await serve(lambda n: Reply(chunked=True, body=b"x" * 3000))
    result = await run_load(LoadSpec(url=server.url, requests=300, concurrency=3), workers=1)
    assert result.status_counts == {200: 300}
    head = await serve(lambda n: Reply(body=b"y" * 100))
    spec = LoadSpec(url=head.url, method="HEAD", requests=300, concurrency=3)
    result = await run_load(spec, workers=1)
    assert result.status_counts == {200: 300}
    assert head.connections == 3


@pytest.mark.parametrize("reads_heads", [True, False], ids=["ResponseHead", "httptools"])
async def test_answers_in_pieces_and_changing_framing(
    serve: ServerFactory, monkeypatch: pytest.MonkeyPatch, reads_heads: bool
) -> None:
    """Answers whose heads and bodies come in several reads, and connections whose answers
    turn from Content-Length to chunked, are all counted, with their bodies' sizes, by both
    readers (connections in this process: workers=0)."""
    monkeypatch.setattr(connection, "READS_HEADS", reads_heads)

    def reply(n: int) -> Reply:  # short bodies: the head itself comes in pieces
        return Reply(body=b"z" * (3000 if n % 3 else 10), pieces=1 + n % 4, chunked=n % 10 == 0)

    server = await serve(reply)
    details = Details()
    spec = LoadSpec(url=server.url, requests=120, concurrency=3)
    result = await run_load(spec, workers=0, details=details)
    assert result.errors == {}
    assert result.status_counts == {200: 120} == dict(server.answered)
    sizes = [len(reply(n).body) * (2 if reply(n).chunked else 1) for n in range(1, 121)]
    assert details.size == sum(sizes)  # (a chunked answer here: the body twice)
    assert server.connections == 3


async def test_server_closing_keepalive_connections(serve: ServerFactory) -> None:
    """A server that closes after every third answer costs reconnects, not errors."""
    server = await serve(lambda n: Reply(close_after=n % 3 == 0))
    result = await run_load(LoadSpec(url=server.url, requests=600, concurrency=6), workers=2)
    assert result.errors == {}
    assert result.status_counts == {200: 600}
    assert server.answered[200] == 600
    assert server.connections > 100


async def test_connection_close_and_disable_keepalive(serve: ServerFactory) -> None:
    """'Connection: close' answers and -disable-keepalive use one connection per request."""
    server = await serve(lambda n: Reply(close_header=True))
    result = await run_load(LoadSpec(url=server.url, requests=200, concurrency=4), workers=1)
    assert result.status_counts == {200: 200}
    other = await serve(lambda n: Reply())
    spec = LoadSpec(url=other.url, requests=100, concurrency=4, disable_keepalive=True)
    result = await run_load(spec, workers=1)
    assert result.status_counts == {200: 100}
    assert other.connections == 100


async def test_connection_refused() -> None:
    """Nothing listening: every request is a 'refused' error."""
    spec = LoadSpec(url=f"http://127.0.0.1:{_free_port()}/", requests=50, concurrency=5)
    result = await run_load(spec, workers=1)
    assert result.errors == {"refused": 50}
    assert result.error_rate == 100.0
    assert result.histogram.count == 0


async def test_dropped_requests_are_resets(serve: ServerFactory) -> None:
    """A server closing a fresh connection without an answer yields one 'reset' each."""
    server = await serve(lambda n: Reply(drop=True))
    result = await run_load(LoadSpec(url=server.url, requests=50, concurrency=2), workers=1)
    assert result.errors == {"reset": 50}
    assert server.dropped == 50


async def test_stale_keepalive_is_retried_once(serve: ServerFactory) -> None:
    """A GET dropped on a reused connection is sent again once, as Go's client does."""
    server = await serve(lambda n: Reply(drop=n % 5 == 0))
    result = await run_load(LoadSpec(url=server.url, requests=200, concurrency=1), workers=1)
    assert result.errors == {}
    assert result.status_counts == {200: 200} == dict(server.answered)
    assert server.dropped == 49 == result.retried


@pytest.mark.system
async def test_timeouts(serve: ServerFactory) -> None:
    """Requests slower than the timeout are 'timeout' errors; the others are answers."""
    server = await serve(lambda n: Reply(delay=2.0 if n % 10 == 0 else 0.0))
    spec = LoadSpec(url=server.url, requests=40, concurrency=2, timeout=0.3)
    result = await run_load(spec, workers=1)
    assert result.total == 40
    assert result.errors.get("timeout", 0) == 4
    assert result.status_counts == {200: 36}


@pytest.mark.system
async def test_open_model_rate(serve: ServerFactory) -> None:
    """rate=50 for 1s sends about 50 requests, whatever the concurrency."""
    server = await serve(lambda n: Reply())
    spec = LoadSpec(url=server.url, rate=50, duration=1.0, concurrency=10)
    result = await run_load(spec, workers=2)
    assert 45 <= result.total <= 55
    assert result.total == server.answered[200]
    assert result.target_rate == 50


@pytest.mark.system
async def test_no_coordinated_omission(serve: ServerFactory) -> None:
    """A stall shows up as latency of the queued requests, not as a lower rate."""
    server = await serve(lambda n: Reply(delay=0.5 if n == 10 else 0.0))
    spec = LoadSpec(url=server.url, rate=100, duration=1.5, concurrency=1)
    result = await run_load(spec, workers=1)
    assert result.total + result.unsent >= 140
    # ~50 requests were due during the stall; their latency counts from their schedule
    assert result.histogram.percentile(90) >= 100_000
    assert result.histogram.max >= 450_000


async def test_https_without_verification(serve_tls: ServerFactory) -> None:
    """https URLs work over TLS without certificate checks, as hey does."""
    server = await serve_tls(lambda n: Reply(status=201))
    result = await run_load(LoadSpec(url=server.url, requests=100, concurrency=4), workers=1)
    assert result.status_counts == {201: 100} == dict(server.answered)
    assert server.connections == 4
