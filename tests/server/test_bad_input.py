"""Bad input gets a 4xx with a one-line reason and never takes the service down."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest

from tests.support.client import ClientFactory

PAYLOAD_PATHS = [
    "/",
    "/gate/check",
    "/gate/open",
    "/gate/close",
    "/rollback/check",
    "/rollback/open",
    "/rollback/close",
]


async def send(client: Any, path: str, data: bytes | str) -> tuple[int, str]:
    """Status and body of a POST of raw data."""
    raw = data.encode() if isinstance(data, str) else data
    async with client.post(path, data=io.BytesIO(raw) if len(raw) > 65536 else raw) as response:
        return response.status, await response.text()


async def assert_healthy(client: Any) -> None:
    """The service still answers /healthz with 200 OK."""
    async with client.get("/healthz") as response:
        assert (response.status, await response.text()) == (200, "OK")


def one_line(body: str) -> bool:
    """A short, non-empty, single-line reason."""
    return bool(body) and "\n" not in body.strip() and len(body) < 300


@pytest.mark.parametrize("path", PAYLOAD_PATHS)
async def test_body_too_large(make_client: ClientFactory, path: str) -> None:
    """A body over 1 MiB gets 413 with a one-line reason."""
    client = await make_client()
    body = json.dumps(
        {
            "name": "podinfo",
            "namespace": "test",
            "metadata": {"type": "cmd", "cmd": "echo " + "x" * (1024 * 1024)},
        }
    )
    status, text = await send(client, path, body)
    assert status == 413
    assert one_line(text)
    await assert_healthy(client)


async def test_body_at_limit_accepted(make_client: ClientFactory) -> None:
    """A body just under the limit is read normally."""
    client = await make_client(max_body_bytes=4096)
    body = json.dumps({"name": "podinfo", "namespace": "test", "pad": "x" * 3900})
    assert len(body) <= 4096
    assert await send(client, "/gate/check", body) == (403, "Forbidden")


@pytest.mark.parametrize("path", PAYLOAD_PATHS)
# `null` is not here: Go decodes it as an empty payload (tests/server/test_go_replay.py)
@pytest.mark.parametrize("data", [b"not json", b"{", b"", b"\xff\xfe\x00garbage"])
async def test_not_json(make_client: ClientFactory, path: str, data: bytes) -> None:
    """A body that is not a JSON object gets 400 with a one-line reason."""
    client = await make_client()
    status, text = await send(client, path, data)
    assert status == 400
    assert one_line(text)


@pytest.mark.parametrize("data", ["[]", '[{"name": "a", "namespace": "b"}]', '"text"', "42"])
async def test_wrong_json_shape(make_client: ClientFactory, data: str) -> None:
    """JSON that is not an object gets 400."""
    client = await make_client()
    status, text = await send(client, "/gate/check", data)
    assert status == 400
    assert one_line(text)


@pytest.mark.parametrize(
    "body",
    [
        # absent or empty names are Go's (tests/server/test_go_replay.py); wrong types are not
        {"name": 5, "namespace": "test"},
        {"name": "podinfo", "namespace": "test", "metadata": "type=cmd"},
        {"name": "podinfo", "namespace": "test", "metadata": ["a"]},
    ],
)
@pytest.mark.parametrize("path", ["/", "/gate/open"])
async def test_missing_or_wrong_fields(
    make_client: ClientFactory, body: dict[str, Any], path: str
) -> None:
    """A missing or wrongly typed name, namespace or metadata gets 400 naming the problem."""
    client = await make_client()
    status, text = await send(client, path, json.dumps(body))
    assert status == 400
    assert one_line(text)
    assert text.startswith("invalid payload")


async def test_missing_name_is_gos_empty_name(make_client: ClientFactory) -> None:
    """No name is an empty one, as in Go: the gate `.test` is checked (closed: 403)."""
    client = await make_client()
    assert await send(client, "/gate/check", '{"namespace": "test"}') == (403, "Forbidden")


async def test_non_string_metadata_accepted(make_client: ClientFactory) -> None:
    """Metadata with lists, numbers and booleans (the seed-style `alerts:`) is accepted."""
    client = await make_client()
    body = {
        "name": "podinfo",
        "namespace": "test",
        "metadata": {
            "type": "bash",
            "cmd": "echo ok",
            "returnCmdOutput": True,
            "alerts": [{"name": "on-call", "severity": "error"}],
            "retries": 3,
            "empty": None,
        },
    }
    assert await send(client, "/", json.dumps(body)) == (200, "ok\n")
    gate = {**body, "metadata": {"alerts": ["slack"]}}
    assert await send(client, "/gate/open", json.dumps(gate)) == (202, "")


async def test_unknown_fields_ignored(make_client: ClientFactory) -> None:
    """Fields Flagger may add later are ignored."""
    client = await make_client()
    body = {"name": "podinfo", "namespace": "test", "future": {"x": 1}, "phase": "Waiting"}
    assert await send(client, "/gate/check", json.dumps(body)) == (403, "Forbidden")


async def test_unicode_command(make_client: ClientFactory) -> None:
    """Non-ASCII commands and output round-trip."""
    client = await make_client()
    body = {
        "name": "podinfo",
        "namespace": "test",
        "metadata": {"type": "bash", "cmd": "echo héllo ✓", "returnCmdOutput": "true"},
    }
    assert await send(client, "/", json.dumps(body)) == (200, "héllo ✓\n")


async def test_invalid_utf8_output(make_client: ClientFactory) -> None:
    """Output that is not UTF-8 is answered with replacement characters, not a crash."""
    client = await make_client()
    body = {
        "name": "podinfo",
        "namespace": "test",
        "metadata": {"type": "bash", "cmd": "printf 'a\\377b'", "returnCmdOutput": "true"},
    }
    assert await send(client, "/", json.dumps(body)) == (200, "a\ufffdb")


async def test_malformed_http(make_client: ClientFactory) -> None:
    """Garbage on the socket gets a 4xx and the service keeps serving."""
    client = await make_client()
    for garbage in (
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"\x00\x01\x02\r\n\r\n",
    ):
        reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
        writer.write(garbage)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(4096), 5)
        writer.close()
        await writer.wait_closed()
        assert answer == b"" or answer.split(b" ")[1].startswith(b"4"), answer
    await assert_healthy(client)


async def test_no_5xx_from_bad_input(make_client: ClientFactory) -> None:
    """A battery of bad bodies on every path gets only 4xx answers; /healthz stays 200."""
    client = await make_client()
    bad_everywhere: list[bytes] = [
        b"",
        b"[]",
        b'""',
        b"1e999",
        b"{'name': 'a'}",
        b'{"name": "a", "namespace": "b", "phase": 7}',
        b'{"name": "a", "namespace": "b", "checksum": {"x": 1}}',
        b'{"name": "a", "namespace": "b", "metadata": 3}',
        b"[" * 100_000,
        b'{"name": ' + b"[" * 5_000 + b"}",
    ]
    bad_tasks: list[bytes] = [
        b'{"name": "a", "namespace": "b", "metadata": {}}',
        b'{"name": "a", "namespace": "b", "metadata": null}',
        b'{"name": "a", "namespace": "b", "metadata": {"type": ""}}',
        b'{"name": "a", "namespace": "b", "metadata": {"cmd": " "}}',
        b'{"name": "a", "namespace": "b", "metadata": {"type": ["x"]}}',
        b'{"name": "a", "namespace": "b", "metadata": {"type": "load", "url": "http://[::1/"}}',
        b'{"name": "a", "namespace": "b", "metadata": {"type": "load", "url": "http://x/",'
        b' "duration": "10s", "concurrency": "100000000"}}',
        b'{"name": "a", "namespace": "b", "metadata": {"type": "load", "url": "http://x/",'
        b' "rate": "1e999"}}',
    ]
    cases = [
        (path, data) for path in [*PAYLOAD_PATHS, "/metrics/x", "/gate"] for data in bad_everywhere
    ]
    cases += [(path, data) for path in ["/", "/anything"] for data in bad_tasks]
    for path, data in cases:
        status, text = await send(client, path, data)
        assert 400 <= status < 500, (path, data, status, text)
        assert one_line(text), (path, data, text)
    await assert_healthy(client)
