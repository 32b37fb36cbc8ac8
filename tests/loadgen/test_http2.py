"""HTTP/2 in the built-in engine (h2 over TLS with ALPN, h2c prior knowledge, streams per
connection) against real nginx and an independent HTTP/2 server (python-hyper's h2): counts
match the server's, streams multiplex, the server's limits and GOAWAY are obeyed, and a
server without HTTP/2 fails the run with one line."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hpack import Encoder

from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.input.heyflags import parse_hey_args
from loadtester.loadgen.input.metadata import spec_from_metadata
from loadtester.loadgen.input.scenario import parse_scenario, scenario_spec
from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.running.h2wire import StatusDecoder, h2_request
from loadtester.loadgen.running.local import run_local
from tests.support.client import ClientFactory
from tests.support.h2server import H2Server
from tests.support.loadgen_cli import run_cli
from tests.support.metrics import metrics_text
from tests.support.nginx import NGINX, Nginx
from tests.support.tasks import payload, post

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throw-away self-signed certificate and key (openssl CLI)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("h2cert")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(key),
         "-out", str(cert)], check=True, capture_output=True)  # fmt: skip
    return cert, key


def _nginx(folder: Path, **options: object) -> Iterator[Nginx]:
    if not NGINX.exists():
        pytest.skip("nginx is not installed (Debian nginx-light)")
    folder.mkdir()
    server = Nginx(folder, **options)  # type: ignore[arg-type]
    yield server
    server.stop()


@pytest.fixture
def h2_nginx(tmp_path: Path, cert: tuple[Path, Path]) -> Iterator[Nginx]:
    """nginx with TLS and HTTP/2 (ALPN h2)."""
    yield from _nginx(tmp_path / "h2", tls=cert, http2=True)


@pytest.fixture
def h2c_nginx(tmp_path: Path) -> Iterator[Nginx]:
    """nginx speaking HTTP/2 over cleartext only (prior knowledge)."""
    yield from _nginx(tmp_path / "h2c", http2=True)


async def test_h2_over_tls_answers_match_nginx_log(h2_nginx: Nginx) -> None:
    """Over TLS, with 4 streams on each of 3 connections, every request is answered and
    nginx logged exactly as many; the result names the protocol."""
    spec = LoadSpec(url=h2_nginx.url, h2=True, concurrency=3, streams=4, requests=300)
    result = await run_local(spec)
    assert result.status_counts == {200: 300}
    assert result.errors == {}
    assert h2_nginx.counts(300) == {"GET /": 300}
    assert result.protocol == "HTTP/2"
    assert result.to_json()["protocol"] == "HTTP/2"


async def test_h2c_answers_match_nginx_log(h2c_nginx: Nginx) -> None:
    """Over cleartext with prior knowledge (an h2c-only nginx answers nothing else), status
    codes come through and match nginx's log."""
    url = h2c_nginx.url + "broken"
    result = await run_local(LoadSpec(url=url, h2c=True, concurrency=2, streams=3,
                                      requests=120))
    assert result.status_counts == {503: 120}
    assert h2c_nginx.counts(120) == {"GET /broken": 120}


async def test_server_stream_limit_caps_streams(tmp_path: Path) -> None:
    """With nginx allowing 2 streams per connection, 8 streams per connection queue behind
    the limit: nothing is refused or lost."""
    for server in _nginx(tmp_path / "limited", http2=True, max_streams=2):
        spec = LoadSpec(url=server.url, h2c=True, concurrency=1, streams=8, requests=200)
        result = await run_local(spec)
        assert result.status_counts == {200: 200}
        assert result.errors == {} and result.retried == 0
        assert server.counts(200) == {"GET /": 200}


async def test_streams_multiplex_on_one_connection() -> None:
    """A server that answers only once 5 streams of a connection are open gets them from
    one connection with -streams 5 (one stream at a time would wait forever)."""
    server = await H2Server(hold=5).start()
    try:
        spec = LoadSpec(url=server.url, h2c=True, concurrency=1, streams=5, requests=50,
                        timeout=10)
        result = await run_local(spec)
    finally:
        await server.close()
    assert result.status_counts == {200: 50}
    assert server.counts.connections == 1
    assert server.counts.most_open == 5


async def test_goaway_moves_requests_to_a_new_connection() -> None:
    """A server that says GOAWAY after every 10th answer on a connection: the run goes on
    over new connections and every request is answered."""
    server = await H2Server(goaway_after=10).start()
    try:
        spec = LoadSpec(url=server.url, h2c=True, concurrency=2, streams=3, requests=100)
        result = await run_local(spec)
    finally:
        await server.close()
    assert result.status_counts == {200: 100}
    assert result.errors == {}
    # what was sent after a GOAWAY's last stream went again (the server may not have read it)
    assert server.counts.requests == 100
    assert 0 < sum(server.counts.paths.values()) - 100 <= result.retried
    assert server.counts.connections >= 10


async def test_big_request_bodies_follow_flow_control() -> None:
    """Request bodies far past the server's 64 KiB windows are sent whole, as the server's
    WINDOW_UPDATEs allow."""
    server = await H2Server().start()
    body = b"x" * 300_000
    try:
        spec = LoadSpec(url=server.url, h2c=True, method="POST", body=body, concurrency=2,
                        streams=2, requests=8)
        result = await run_local(spec)
    finally:
        await server.close()
    assert result.status_counts == {200: 8}
    assert server.counts.body_bytes == 8 * len(body)


async def test_server_without_http2_fails_the_run(tmp_path: Path,
                                                 cert: tuple[Path, Path]) -> None:
    """A TLS server that selects http/1.1 in ALPN fails the run with exactly what it said."""
    for server in _nginx(tmp_path / "http1", tls=cert):
        with pytest.raises(LoadSpecError) as caught:
            await run_local(LoadSpec(url=server.url, h2=True, requests=10, concurrency=2))
        assert str(caught.value) == "server does not speak HTTP/2 (ALPN offered http/1.1)"
        assert server.counts(0) == {}


async def test_scenario_over_h2c(h2c_nginx: Nginx) -> None:
    """A scenario's requests (their methods, paths and body checks) go over HTTP/2 in their
    proportions, and nginx answered each as counted."""
    text = """
requests:
  - {name: home, url: /, weight: 2, expect: {body: '"status":"ok"'}}
  - {name: down, url: /down, weight: 1, expect: {body: '"status":"ok"'}}
  - {name: order, url: /api/orders, method: POST, body: '{"n":1}', weight: 1}
"""
    base = LoadSpec(url=h2c_nginx.url, h2c=True, concurrency=2, streams=2, requests=200)
    spec = scenario_spec(parse_scenario(text, h2c_nginx.url), base)
    result = await run_local(spec)
    assert {name: part.total for name, part in result.requests.items()} == {
        "home": 100, "down": 50, "order": 50}
    assert result.requests["down"].checks == {"body": 50}
    assert result.requests["home"].checks == {}
    assert result.requests["order"].status_counts == {201: 50}
    assert h2c_nginx.counts(200) == {"GET /": 100, "GET /down": 50, "POST /api/orders": 50}
    assert result.protocol == "HTTP/2"


async def test_rate_limited_run_over_h2(h2_nginx: Nginx) -> None:
    """An open-loop run at 100/s for 1 s sends its 100 requests over HTTP/2, all answered."""
    spec = LoadSpec(url=h2_nginx.url, h2=True, rate=100, duration=1.0, concurrency=2,
                    streams=4)
    result = await run_local(spec)
    assert result.total == 100 and result.status_counts == {200: 100}
    assert h2_nginx.counts(100) == {"GET /": 100}


async def test_cli_h2_end_to_end(h2_nginx: Nginx) -> None:
    """`loadtester load -h2 -streams N` prints hey's summary with the protocol, and -o json
    carries it."""
    code, out, err = await run_cli("-h2", "-n", "60", "-c", "2", "-streams", "3",
                                   h2_nginx.url)
    assert code == 0, err
    assert "  [200]\t60 responses" in out
    assert "Protocol: HTTP/2" in out
    code, out, err = await run_cli("-h2", "-n", "20", "-c", "2", "-o", "json", h2_nginx.url)
    assert code == 0, err
    assert json.loads(out)["protocol"] == "HTTP/2"


async def test_cli_refusal_is_one_line(tmp_path: Path, cert: tuple[Path, Path]) -> None:
    """Against a TLS server without HTTP/2 the command exits 2 with the one-line reason."""
    for server in _nginx(tmp_path / "http1", tls=cert):
        code, out, err = await run_cli("-h2", "-n", "5", "-c", "1", server.url)
        assert (code, out) == (2, "")
        assert err == ("loadtester load: server does not speak HTTP/2 (ALPN offered "
                       "http/1.1)\n")


def test_flags_and_metadata_read_http2() -> None:
    """-h2/-h2c/-streams and h2/h2c/streams metadata set the spec; bad values are one-line
    LoadSpecErrors (400 in the service)."""
    spec = parse_hey_args(["-h2", "-streams", "8", "-c", "4", "https://x/"])
    assert (spec.h2, spec.h2c, spec.streams, spec.protocol) == (True, False, 8, "HTTP/2")
    spec = spec_from_metadata({"url": "http://x/", "h2c": "true", "streams": "4"})
    assert (spec.h2c, spec.streams) == (True, 4)
    assert LoadSpec(url="http://x/").protocol == "HTTP/1.1"
    for metadata, message in [
        ({"url": "http://x/", "h2": "true"}, "use h2c"),
        ({"url": "https://x/", "h2c": "true"}, "needs http:// URLs"),
        ({"url": "https://x/", "h2": "maybe"}, "metadata h2 'maybe' is not true or false"),
        ({"url": "https://x/", "h2": "true", "streams": "0"}, "metadata streams must be at "
                                                              "least 1"),
        ({"url": "https://x/", "h2": "true", "streams": "5000"}, "streams must be between"),
        ({"url": "https://x/", "h2": "true", "h2c": "true"}, "h2 and h2c are both given"),
        ({"url": "https://x/", "h2": "true", "streams": "1000", "concurrency": "101",
          "duration": "1s"}, "concurrency x streams is at most 100000"),
        ({"url": "https://x/", "h2": "true", "disableKeepalive": "true"}, "keep-alive"),
    ]:
        with pytest.raises(LoadSpecError, match=message):
            spec_from_metadata(metadata)


def test_request_form_drops_hop_by_hop_fields() -> None:
    """The HTTP/2 form of a request keeps method, path, fields and body; Host becomes
    :authority and Connection is dropped."""
    spec = LoadSpec(url="http://x:8080/a?b=1", method="POST", body=b"hi",
                    headers=(("X-Id", "7"), ("Connection", "close")))
    request = h2_request(spec.request_bytes(), tls=False)
    decoded = dict(StatusDecoder().decoder.decode(request.block))
    assert decoded[":method"] == "POST" and decoded[":path"] == "/a?b=1"
    assert decoded[":authority"] == "x:8080" and decoded[":scheme"] == "http"
    assert decoded["x-id"] == "7" and "connection" not in decoded and "host" not in decoded
    assert request.body == b"hi"


def test_status_decoder_keeps_the_table_in_step() -> None:
    """Blocks that add to the dynamic table, seen again from the cache, still add to it: a
    later block referring to those entries decodes right."""
    server = Encoder()
    first = server.encode([(":status", "201"), ("x-a", "1")])  # adds both, indexed
    decoder = StatusDecoder()
    assert decoder.status(first) == 201
    replay = bytes([0x40, 3]) + b"x-b" + bytes([1]) + b"2"  # literal x-b: 2, added
    head = bytes([0x88])  # :status 200 from the static table
    for _ in range(3):
        assert decoder.status(head + replay) == 200
    # newest first: x-b: 2 three times (62-64), then x-a: 1 (65) and :status 201 (66)
    assert decoder.status(bytes([0x80 | 62, 0x80 | 66])) == 201
    table = decoder.decoder.header_table
    assert table.get_by_index(64) == (b"x-b", b"2")
    assert table.get_by_index(65) == (b"x-a", b"1")


async def test_stages_over_h2c(h2c_nginx: Nginx) -> None:
    """Stages ramp a run over HTTP/2 as over HTTP/1.1: the same count in each stage."""
    from loadtester.loadgen.input.scenario import with_stages
    from loadtester.loadgen.input.stages import parse_stages

    spec = with_stages(LoadSpec(url=h2c_nginx.url, h2c=True, concurrency=2, streams=2),
                       parse_stages("500ms:0->100, 500ms:100->0"))
    result = await run_local(spec)
    assert result.stage_sent == [25, 25] and result.status_counts == {200: 50}
    assert h2c_nginx.counts(50) == {"GET /": 50}


async def test_timeouts_cancel_streams_not_the_run() -> None:
    """Answers that never come count as timeouts (their streams are reset) and the run
    ends."""
    server = await H2Server(hold=1000).start()
    try:
        spec = LoadSpec(url=server.url, h2c=True, concurrency=1, streams=4, requests=4,
                        timeout=0.2)
        result = await run_local(spec)
    finally:
        await server.close()
    assert result.errors == {"timeout": 4} and result.status_counts == {}


async def test_service_runs_h2_and_labels_metrics(h2c_nginx: Nginx,
                                                  make_client: ClientFactory) -> None:
    """The webhook's h2c/streams metadata run over HTTP/2, and /metrics names the protocol;
    a bad value answers 400 with one line."""
    client = await make_client()
    meta = {"type": "load", "url": h2c_nginx.url, "h2c": "true", "streams": "3",
            "concurrency": "2", "requests": "30", "wait": "true"}
    status, body = await post(client, payload(meta))
    assert status == 200, body
    assert h2c_nginx.counts(30) == {"GET /": 30}
    text = await metrics_text(client)
    assert (f'loadtester_load_protocol{{canary="podinfo",namespace="test",protocol="HTTP/2",'
            f'target="{h2c_nginx.url}"}} 1.0') in text
    status, body = await post(client, payload({**meta, "streams": "many"}))
    assert (status, body) == (400, "metadata streams 'many' is not an integer")
