"""`concord`: a blocking check that starts a Concord process and polls it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from loadtester.models import WebhookPayload
from loadtester.settings import Settings
from loadtester.tasks.base import TaskEnvironment, TaskResult
from loadtester.tasks.concord import REQUIRED_KEYS, concord_task
from tests.support.client import ClientFactory
from tests.support.fakes.concord import FakeConcord

API_KEY = "s3cr3t-concord-key"
Metadata = Callable[..., dict[str, str]]


@pytest.fixture
def fake() -> FakeConcord:
    return FakeConcord()


@pytest.fixture
async def server_url(aiohttp_server: Any, fake: FakeConcord) -> str:
    server = await aiohttp_server(fake.app())
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
def api_key_path(tmp_path: Path) -> str:
    path = tmp_path / "concord-api-key"
    path.write_text(API_KEY + "\n")
    return str(path)


@pytest.fixture
def metadata(server_url: str, api_key_path: str) -> Metadata:
    def make(**overrides: str) -> dict[str, str]:
        values = {
            "type": "concord",
            "server": server_url,
            "org": "acme",
            "project": "canaries",
            "repo": "checks",
            "entrypoint": "smoke",
            "apiKeyPath": api_key_path,
            "endpoint": "http://podinfo-canary.test:9898",
            "pollInterval": "0.01",
            "pollTimeout": "5",
        }
        values.update(overrides)
        return {key: value for key, value in values.items() if value != "<absent>"}

    return make


@pytest.fixture
async def run(make_settings: Callable[..., Settings]) -> AsyncIterator[Callable[..., Any]]:
    async with aiohttp.ClientSession() as session:

        async def run_task(metadata: dict[str, str], **settings: Any) -> TaskResult:
            payload = WebhookPayload(name="podinfo", namespace="test", metadata=metadata)
            env = TaskEnvironment(make_settings(**settings), session)
            return await concord_task(payload, metadata).run(env)

        yield run_task


@pytest.fixture
async def client(server_url: str, make_client: ClientFactory) -> TestClient[Any, Any]:
    """The service, started after the fake server so that it is closed before it."""
    return await make_client()


def body(metadata: dict[str, str]) -> dict[str, Any]:
    return {
        "name": "podinfo",
        "namespace": "test",
        "phase": "Progressing",
        "checksum": "abc",
        "metadata": metadata,
    }


async def test_success_posts_form_and_polls(
    client: TestClient[Any, Any], fake: FakeConcord, metadata: Metadata
) -> None:
    """A FINISHED process answers 200 after the documented form and polls with the key."""
    response = await client.post(
        "/", json=body(metadata(**{"arguments.users": "10", "arguments.rate": "5"}))
    )
    assert response.status == 200, await response.text()
    assert await response.text() == ""
    [start] = fake.starts
    assert start.content_type == "multipart/form-data"
    assert start.fields == [
        ("org", "acme"),
        ("project", "canaries"),
        ("repo", "checks"),
        ("entryPoint", "smoke"),
        ("arguments.endpoint", "http://podinfo-canary.test:9898"),
        ("arguments.rate", "5"),
        ("arguments.users", "10"),
    ]
    assert start.authorization == API_KEY
    assert fake.polls == [("a1b2c3", API_KEY), ("a1b2c3", API_KEY)]


async def test_failed_process_fails_check(
    client: TestClient[Any, Any], fake: FakeConcord, metadata: Metadata
) -> None:
    """A FAILED process answers 500 with Go's reason naming the instance."""
    fake.statuses = ["RUNNING", "FAILED"]
    response = await client.post("/", json=body(metadata()))
    assert response.status == 500
    assert await response.text() == "concord instanceID: a1b2c3 failed"


async def test_poll_timeout_fails_check(
    client: TestClient[Any, Any], fake: FakeConcord, metadata: Metadata
) -> None:
    """A process still running after pollTimeout fails the check in Go's words."""
    fake.statuses = ["RUNNING"]
    response = await client.post("/", json=body(metadata(pollTimeout="0.2")))
    assert response.status == 500
    assert await response.text() == "concord process timed out, after 0.2 seconds"
    assert len(fake.polls) >= 2


async def test_service_timeout_bounds_the_check(
    run: Callable[..., Any], fake: FakeConcord, metadata: Metadata
) -> None:
    """The service's -timeout ends a check even when pollTimeout is longer."""
    fake.statuses = ["RUNNING"]
    result = await run(metadata(pollTimeout="30"), timeout=0.2)
    assert not result.ok
    assert result.outcome == "timeout"
    assert result.reason == "context timedout"  # Go's words


@pytest.mark.parametrize("key", REQUIRED_KEYS)
async def test_missing_key_is_refused(
    client: TestClient[Any, Any], fake: FakeConcord, metadata: Metadata, key: str
) -> None:
    """Every required key, absent, is refused with Go's 500 naming it; nothing is called."""
    response = await client.post("/", json=body(metadata(**{key: "<absent>"})))
    assert response.status == 500
    assert await response.text() == f"`{key}` is required with type concord"
    assert fake.starts == []


async def test_arguments_endpoint_is_refused(
    client: TestClient[Any, Any], fake: FakeConcord, metadata: Metadata
) -> None:
    """`arguments.endpoint` cannot override `endpoint`: Go's 500."""
    response = await client.post("/", json=body(metadata(**{"arguments.endpoint": "x"})))
    assert response.status == 500
    assert await response.text() == (
        "You cannot override Endpoint through arguments. You must override Endpoint directly")
    assert fake.starts == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"apiKeyPath": "/nonexistent/concord-key"},
         "`apiKeyPath` file doesn't exist /nonexistent/concord-key"),
        ({"pollInterval": "soon"}, "unable to convert `pollInterval` to int"),
        ({"pollTimeout": "1m"}, "unable to convert `pollTimeout` to int"),
        ({"server": "concord.local:8001"},
         'Post "concord.local:///api/v1/process": unsupported protocol scheme "concord.local"'),
        ({"server": "example.org"}, 'Post "/api/v1/process": unsupported protocol scheme ""'),
    ],
)
async def test_bad_metadata_is_refused(
    client: TestClient[Any, Any], metadata: Metadata, overrides: dict[str, str], expected: str
) -> None:
    """A missing key file, a bad number or a server without host: Go's 500 and words."""
    response = await client.post("/", json=body(metadata(**overrides)))
    assert (response.status, await response.text()) == (500, expected)


@pytest.mark.parametrize(
    ("status", "answer", "expected"),
    [
        (
            502,
            "<html>\n  <body>Bad gateway</body>\n</html>",
            "answered 502: <html> <body>Bad gateway</body> </html>",
        ),
        (200, "not json at all", "answered 200 with no JSON: not json at all"),
        (401, "x" * 1000, "answered 401: " + "x" * 200 + "..."),
        (200, '{"ok": false}', 'concord answered no instanceId: {"ok": false}'),
    ],
)
async def test_bad_start_answer_fails_check(
    client: TestClient[Any, Any],
    fake: FakeConcord,
    metadata: Metadata,
    status: int,
    answer: str,
    expected: str,
) -> None:
    """An error or non-JSON answer to the start is a failed check with status and trimmed body."""
    fake.start_status, fake.start_body = status, answer
    response = await client.post("/", json=body(metadata()))
    assert response.status == 500
    text = await response.text()
    assert text.endswith(expected), text
    assert "\n" not in text
    assert fake.polls == []


async def test_bad_poll_answer_fails_check(
    run: Callable[..., Any], fake: FakeConcord, metadata: Metadata
) -> None:
    """A 500 to a status poll fails the check with the status and the body."""
    fake.poll_status, fake.poll_body = 500, "internal trouble"
    result = await run(metadata())
    assert not result.ok
    assert result.reason.startswith("concord GET http://")
    assert result.reason.endswith("/api/v1/process/a1b2c3 answered 500: internal trouble")


async def test_unreachable_server_fails_check(run: Callable[..., Any], metadata: Metadata) -> None:
    """A server nobody listens on is a failed check, not a crash."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await run(metadata(server=f"http://127.0.0.1:{port}"))
    assert not result.ok
    assert result.reason == (f'Post "http://127.0.0.1:{port}/api/v1/process": '
                             f"dial tcp 127.0.0.1:{port}: connect: connection refused")


async def test_api_key_never_logged(
    client: TestClient[Any, Any], fake: FakeConcord, metadata: Metadata
) -> None:
    """The API key reaches Concord but no log event and no answer."""
    fake.statuses = ["FAILED"]
    with capture_logs() as events:
        response = await client.post("/", json=body(metadata()))
    assert response.status == 500
    assert fake.starts[0].authorization == API_KEY
    assert "task ended" in [event["event"] for event in events]
    assert API_KEY not in repr(events)
    assert API_KEY not in await response.text()


async def test_empty_key_file_sends_no_authorization(
    run: Callable[..., Any], fake: FakeConcord, metadata: Metadata, tmp_path: Path
) -> None:
    """An empty key file sends no Authorization header, as the Go service does."""
    empty = tmp_path / "empty-key"
    empty.write_text("")
    result = await run(metadata(apiKeyPath=str(empty)))
    assert result.ok
    assert fake.starts[0].authorization is None


def test_key_names_canary_and_process() -> None:
    """Runs of one canary and one process entry point share a key; another canary does not."""
    meta = {
        "server": "http://concord:8001",
        "org": "o",
        "project": "p",
        "repo": "r",
        "entrypoint": "e",
        "apiKeyPath": __file__,
        "endpoint": "http://x",
    }
    first = concord_task(WebhookPayload(name="a", namespace="n", metadata=meta), meta)
    other = concord_task(WebhookPayload(name="b", namespace="n", metadata=meta), meta)
    assert first.key == concord_task(first.payload, meta).key
    assert first.key != other.key
    assert first.background is False
    assert first.type == "concord"
