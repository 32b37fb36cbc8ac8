"""TLS options of the built-in engine against real servers: caFile verification, client
certificates (mTLS), the serverName override, TLS alerts in the error breakdown, and bad files
refused when the run is accepted (400 in the service, exit 2 on the command line)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadtester.loadgen.input.scenario import parse_scenario, scenario_spec
from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.input.tlsoptions import TLSOptions, with_tls
from loadtester.loadgen.running.local import run_local
from loadtester.loadgen.running.tlscontext import read_checked
from loadtester.loadgen.running.tlserrors import tls_error_kind
from tests.support.certs import Pair, make_ca, make_signed
from tests.support.client import ClientFactory
from tests.support.loadgen_cli import run_cli
from tests.support.nginx import NGINX, Nginx
from tests.support.openssl_server import OpensslServer
from tests.support.servers import Reply, ServerFactory
from tests.support.tasks import payload, post

pytestmark = pytest.mark.system


@dataclass(frozen=True)
class Certs:
    """A CA with a server and a client certificate it signed, and a client certificate
    signed by another CA."""

    ca: Pair
    other_ca: Pair
    server: Pair
    client: Pair
    stranger: Pair


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """Throw-away certificates for the module (openssl CLI)."""
    folder = tmp_path_factory.mktemp("certs")
    ca, other = make_ca(folder, "ca"), make_ca(folder, "other-ca")
    return Certs(ca, other, make_signed(folder, "server", ca),
                 make_signed(folder, "client", ca, client=True),
                 make_signed(folder, "stranger", other, client=True))


def _nginx(folder: Path, certs: Certs, mtls: bool = False,
           protocols: str | None = None) -> Iterator[Nginx]:
    if not NGINX.exists():
        pytest.skip("nginx is not installed (Debian nginx-light)")
    folder.mkdir()
    server = Nginx(folder, tls=(certs.server.cert, certs.server.key),
                   client_ca=certs.ca.cert if mtls else None, protocols=protocols)
    yield server
    server.stop()


@pytest.fixture
def nginx_tls(tmp_path: Path, certs: Certs) -> Iterator[Nginx]:
    """nginx with ``ssl`` on a certificate the test CA signed."""
    yield from _nginx(tmp_path / "nginx", certs)


@pytest.fixture
def nginx_mtls(tmp_path: Path, certs: Certs) -> Iterator[Nginx]:
    """nginx requiring a client certificate signed by the test CA (TLS 1.2 only, where the
    certificate is part of the handshake)."""
    yield from _nginx(tmp_path / "nginx", certs, mtls=True, protocols="TLSv1.2")


@pytest.fixture(params=[True, False], ids=["tls1.3", "tls1.2"])
def alerting(request: pytest.FixtureRequest, tmp_path: Path,
             certs: Certs) -> Iterator[OpensslServer]:
    """openssl s_server requiring a client certificate from the test CA (TLS 1.3, 1.2)."""
    server = OpensslServer(tmp_path, certs.server, certs.ca.cert, tls13=request.param)
    yield server
    server.stop()


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


async def _run(url: str, tls: TLSOptions, requests: int = 20) -> tuple[dict[int, int],
                                                                        dict[str, int]]:
    spec = with_tls(LoadSpec(url=url, requests=requests, concurrency=2), read_checked(tls, _read))
    result = await run_local(spec)
    return result.status_counts, result.errors


async def test_ca_file_verifies_the_server(nginx_tls: Nginx, certs: Certs) -> None:
    """With caFile, a server whose certificate that CA signed is verified and answers."""
    codes, errors = await _run(nginx_tls.url, TLSOptions(ca_file=str(certs.ca.cert)))
    assert (codes, errors) == ({200: 20}, {})


async def test_wrong_ca_counts_as_an_error_kind(nginx_tls: Nginx, certs: Certs) -> None:
    """A server certificate another CA signed fails verification: `tls: unknown authority`,
    and nginx answers nothing."""
    codes, errors = await _run(nginx_tls.url, TLSOptions(ca_file=str(certs.other_ca.cert)))
    assert (codes, errors) == ({}, {"tls: unknown authority": 20})
    assert nginx_tls.log() == []


async def test_server_name_override_is_sent_and_verified(nginx_tls: Nginx, certs: Certs) -> None:
    """serverName goes out as SNI (nginx logs it) and is the name verified: a name the
    certificate does not hold is `tls: hostname mismatch`."""
    codes, errors = await _run(nginx_tls.url, TLSOptions(server_name="localhost",
                                                         ca_file=str(certs.ca.cert)))
    assert (codes, errors) == ({200: 20}, {})
    assert {name for name, _, _, _ in nginx_tls.tls_log()} == {"localhost"}
    codes, errors = await _run(nginx_tls.url, TLSOptions(server_name="canary.example",
                                                         ca_file=str(certs.ca.cert)))
    assert (codes, errors) == ({}, {"tls: hostname mismatch": 20})


async def test_without_ca_file_the_server_is_not_verified(nginx_tls: Nginx) -> None:
    """The default stays hey's: no verification; SNI is then the override, unchecked."""
    codes, errors = await _run(nginx_tls.url, TLSOptions(server_name="canary.example"))
    assert (codes, errors) == ({200: 20}, {})
    assert {name for name, _, _, _ in nginx_tls.tls_log()} == {"canary.example"}


async def test_client_certificate_satisfies_mtls(nginx_mtls: Nginx, certs: Certs) -> None:
    """tlsCert/tlsKey present a client certificate nginx verifies (TLS 1.2); without one,
    nginx completes the handshake and answers 400 itself."""
    tls = TLSOptions(ca_file=str(certs.ca.cert), cert_file=str(certs.client.cert),
                     key_file=str(certs.client.key))
    assert await _run(nginx_mtls.url, tls) == ({200: 20}, {})
    assert {(p, v) for _, p, v, _ in nginx_mtls.tls_log()} == {("TLSv1.2", "SUCCESS")}
    assert await _run(nginx_mtls.url, TLSOptions(ca_file=str(certs.ca.cert))) == ({400: 20}, {})


async def test_refused_client_certificate_shows_the_alert(alerting: OpensslServer,
                                                          certs: Certs) -> None:
    """A server that refuses the client's certificate with a TLS alert shows the alert's
    reason as the error kind: none at all, or one from an unknown CA."""
    missing = "tls: certificate required" if alerting.tls13 else "tls: handshake failure"
    assert await _run(alerting.url, TLSOptions(), requests=4) == ({}, {missing: 4})
    stranger = TLSOptions(cert_file=str(certs.stranger.cert), key_file=str(certs.stranger.key))
    assert await _run(alerting.url, stranger, requests=4) == ({}, {"tls: unknown ca": 4})


@pytest.fixture
def pem_files(tmp_path: Path, certs: Certs) -> dict[str, str]:
    """Paths of files that are not what an option needs."""
    text = tmp_path / "notes.pem"
    text.write_text("hello\n")
    return {"text": str(text), "dir": str(tmp_path), "missing": str(tmp_path / "missing.pem")}


@pytest.mark.parametrize(("meta", "message"), [
    ({"caFile": "{missing}"}, "caFile {missing}: No such file or directory"),
    ({"caFile": "{dir}"}, "caFile {dir}: not a regular file (a directory)"),
    ({"tlsCert": "{text}", "tlsKey": "{key}"}, "tlsCert {text}: not a PEM file (no certificate)"),
    ({"tlsCert": "{cert}", "tlsKey": "{text}"}, "tlsKey {text}: not a PEM file (no private key)"),
    ({"tlsCert": "{cert}", "tlsKey": "{other_key}"}, "tlsKey {other_key}: does not match tlsCert "
                                                     "{cert}"),
    ({"tlsKey": "{key}"}, "tlsKey is given without tlsCert"),
    ({"serverName": "a b"}, "serverName 'a b' is not a host name"),
], ids=["missing", "directory", "cert-not-pem", "key-not-pem", "mismatch", "key-alone", "sni"])
async def test_bad_tls_metadata_is_a_400(make_client: ClientFactory, certs: Certs,
                                         pem_files: dict[str, str], meta: dict[str, str],
                                         message: str) -> None:
    """A TLS file that is missing, not a regular file, not PEM, or a key that does not match
    its certificate answers 400 naming the option and the file, before any request."""
    paths = {**pem_files, "cert": str(certs.client.cert), "key": str(certs.client.key),
             "other_key": str(certs.stranger.key)}
    client = await make_client()
    metadata = {"type": "load", "url": "https://127.0.0.1:1/", "requests": "1", "wait": "true",
                **{k: v.format(**paths) for k, v in meta.items()}}
    assert await post(client, payload(metadata)) == (400, message.format(**paths))


async def test_tls_metadata_needs_an_https_url(make_client: ClientFactory,
                                               certs: Certs) -> None:
    """TLS options on an http:// run are a mistake, answered 400."""
    client = await make_client()
    metadata = {"type": "load", "url": "http://127.0.0.1:1/", "caFile": str(certs.ca.cert)}
    assert await post(client, payload(metadata)) == (
        400, "caFile: TLS options need an https:// URL")


async def test_tls_file_outside_allowed_directories_is_refused(
    make_client: ClientFactory, certs: Certs, tmp_path: Path
) -> None:
    """-allow-file-dir applies to caFile as to -D: a file elsewhere is refused (403)."""
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    client = await make_client(allow_file_dir=(str(allowed),))
    metadata = {"type": "load", "url": "https://127.0.0.1:1/", "caFile": str(certs.ca.cert)}
    assert await post(client, payload(metadata)) == (403, f"file not allowed: {certs.ca.cert}")


async def test_service_runs_with_a_client_certificate(
    make_client: ClientFactory, nginx_mtls: Nginx, certs: Certs
) -> None:
    """Through the service, metadata caFile/tlsCert/tlsKey/serverName reach the engine."""
    client = await make_client()
    metadata = {"type": "load", "url": nginx_mtls.url, "requests": "10", "concurrency": "2",
                "wait": "true", "caFile": str(certs.ca.cert), "tlsCert": str(certs.client.cert),
                "tlsKey": str(certs.client.key), "serverName": "localhost"}
    status, body = await post(client, payload(metadata))
    assert status == 200, body
    assert nginx_mtls.tls_log() == [("localhost", "TLSv1.2", "SUCCESS", 200)] * 10


async def test_cli_client_certificate_in_worker_processes(nginx_mtls: Nginx,
                                                          certs: Certs) -> None:
    """-cacert, -cert and -key on the command line, carried to a worker process."""
    code, out, err = await run_cli("-n", "20", "-c", "2", "-workers", "1", "-o", "json",
                                   "-cacert", str(certs.ca.cert), "-cert", str(certs.client.cert),
                                   "-key", str(certs.client.key), nginx_mtls.url)
    assert code == 0, err
    assert '"200": 20' in out
    assert {v for _, _, v, _ in nginx_mtls.tls_log()} == {"SUCCESS"}


async def test_cli_bad_tls_file_exits_2_with_one_line(pem_files: dict[str, str]) -> None:
    """A bad TLS file on the command line: exit status 2 and one line naming the flag."""
    code, out, err = await run_cli("-cert", pem_files["text"], "-key", pem_files["text"],
                                   "https://127.0.0.1:1/")
    assert (code, out) == (2, "")
    assert err == f"loadtester load: -cert {pem_files['text']}: not a PEM file (no certificate)\n"


async def test_large_answers_span_many_tls_records(serve_tls: ServerFactory) -> None:
    """An answer of many TLS records (and answers ending with the connection) is read whole
    on the engine's TLS sockets."""
    body = bytes(range(256)) * 1024  # 256 KiB: 16 records at least
    server = await serve_tls(lambda n: Reply(body=body, close_header=n % 3 == 0))
    result = await run_local(LoadSpec(url=server.url, requests=30, concurrency=3))
    assert (result.status_counts, result.errors) == ({200: 30}, {})
    assert server.answered[200] == 30


async def test_server_closing_kept_alive_connections_over_tls(serve_tls: ServerFactory) -> None:
    """Connections the server closes after an answer are replaced; nothing is lost."""
    server = await serve_tls(lambda n: Reply(close_after=n % 2 == 0))
    result = await run_local(LoadSpec(url=server.url, requests=40, concurrency=4))
    assert (result.total, result.failed) == (40, 0)


def test_tls_error_kinds_are_a_bounded_set() -> None:
    """Alert reasons become `tls: <alert>`; an unknown reason never becomes a new kind."""
    def error(reason: str) -> ssl.SSLError:
        exc = ssl.SSLError(1, reason)
        exc.reason = reason
        return exc

    assert tls_error_kind(error("TLSV13_ALERT_CERTIFICATE_REQUIRED")) == \
        "tls: certificate required"
    assert tls_error_kind(error("SSLV3_ALERT_BAD_CERTIFICATE")) == "tls: bad certificate"
    assert tls_error_kind(error("TLSV1_ALERT_MADE_UP_123")) == "tls: other alert"
    assert tls_error_kind(error("SOMETHING_NEW")) == "tls: other"


async def test_scenario_runs_with_tls_options(nginx_tls: Nginx, certs: Certs) -> None:
    """A scenario's https requests use caFile and serverName too."""
    scenario = parse_scenario("requests:\n  - {url: /}\n  - {url: /api/items}\n", nginx_tls.url)
    base = LoadSpec(url=nginx_tls.url, requests=20, concurrency=2)
    tls = TLSOptions(ca_file=str(certs.ca.cert), server_name="localhost")
    spec = with_tls(scenario_spec(scenario, base), read_checked(tls, _read))
    result = await run_local(spec)
    assert (result.status_counts, result.errors) == ({200: 20}, {})
    assert {name for name, _, _, _ in nginx_tls.tls_log()} == {"localhost"}


async def test_failed_verification_is_named_in_the_answer(
    make_client: ClientFactory, nginx_tls: Nginx, certs: Certs
) -> None:
    """A blocking run whose every handshake fails names the TLS reason, not `other error`."""
    client = await make_client()
    metadata = {"type": "load", "url": nginx_tls.url, "requests": "4", "concurrency": "2",
                "wait": "true", "caFile": str(certs.other_ca.cert)}
    assert await post(client, payload(metadata)) == (
        500, "all 4 requests failed: tls: unknown authority")


async def test_answer_ended_by_a_close_without_close_notify(certs: Certs) -> None:
    """An answer delimited by the end of the connection counts even when the server closes
    without a TLS close_notify (a ragged end, as SSLSocket's suppress_ragged_eofs allows)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server.cert, certs.server.key)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(count: int) -> None:
        for _ in range(count):
            raw, _ = listener.accept()
            with context.wrap_socket(raw, server_side=True) as conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
                conn.shutdown(socket.SHUT_RDWR)  # no close_notify: the socket, not TLS

    thread = threading.Thread(target=serve, args=(4,), daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{listener.getsockname()[1]}/"
    try:
        result = await run_local(LoadSpec(url=url, requests=4, concurrency=1))
    finally:
        await asyncio.to_thread(thread.join, 5)
        listener.close()
    assert (result.status_counts, result.errors) == ({200: 4}, {})
