"""Fixtures for the load generator tests: counting servers on port 0; the CLI as a process."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator

import pytest

from tests.support.servers import Behaviour, CountingServer, Reply, ServerFactory


@pytest.fixture
async def serve() -> AsyncIterator[ServerFactory]:
    """Start CountingServers for a test; all are closed after it."""
    servers: list[CountingServer] = []

    async def start(behaviour: Behaviour = lambda n: Reply()) -> CountingServer:
        server = await CountingServer(behaviour).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture(scope="session")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server TLS context with a throw-away self-signed certificate (made by openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
async def serve_tls(tls_context: ssl.SSLContext) -> AsyncIterator[ServerFactory]:
    """Like ``serve``, over TLS."""
    servers: list[CountingServer] = []

    async def start(behaviour: Behaviour = lambda n: Reply()) -> CountingServer:
        server = await CountingServer(behaviour).start(tls_context)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()
