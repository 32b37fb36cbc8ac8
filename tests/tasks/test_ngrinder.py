"""`ngrinder`: a background task that clones, starts and follows an nGrinder test."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from loadtester.keys import RUNNER
from loadtester.models import WebhookPayload
from loadtester.settings import Settings
from loadtester.tasks.base import TaskEnvironment, TaskResult
from loadtester.tasks.ngrinder import NGrinderTask, ngrinder_task
from tests.support.client import ClientFactory
from tests.support.fakes.ngrinder import FakeNGrinder

PASSWORD = "pa55:w0rd"
BASIC = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
Metadata = Callable[..., dict[str, str]]


@pytest.fixture
def fake() -> FakeNGrinder:
    return FakeNGrinder()


@pytest.fixture
async def server_url(aiohttp_server: Any, fake: FakeNGrinder) -> str:
    server = await aiohttp_server(fake.app())
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
def metadata(server_url: str) -> Metadata:
    def make(**overrides: str) -> dict[str, str]:
        values = {
            "type": "ngrinder",
            "server": server_url,
            "clone": "7",
            "username": "admin",
            "passwd": base64.b64encode(PASSWORD.encode()).decode(),
            "pollInterval": "10ms",
        }
        values.update(overrides)
        return {key: value for key, value in values.items() if value != "<absent>"}

    return make


def build(metadata: dict[str, str], name: str = "podinfo") -> NGrinderTask:
    return ngrinder_task(WebhookPayload(name=name, namespace="test", metadata=metadata), metadata)


@pytest.fixture
async def env(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[..., TaskEnvironment]]:
    async with aiohttp.ClientSession() as session:

        def make(**settings: Any) -> TaskEnvironment:
            return TaskEnvironment(make_settings(**settings), session)

        yield make


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


async def wait_idle(client: TestClient[Any, Any]) -> None:
    runner = client.app[RUNNER]
    async with asyncio.timeout(5):
        while runner.running:
            await asyncio.sleep(0.01)


async def test_finished_test_succeeds(
    client: TestClient[Any, Any], fake: FakeNGrinder, metadata: Metadata
) -> None:
    """202 at once; clone_and_start with basic auth, status polls of the new id, no stop."""
    response = await client.post("/", json=body(metadata()))
    assert response.status == 202
    assert await response.text() == ""
    await wait_idle(client)
    assert fake.starts == [(7, BASIC)]
    assert fake.polls == [42, 42]
    assert fake.stops == []
    again = await client.post("/", json=body(metadata()))
    assert again.status == 202
    await wait_idle(client)
    assert len(fake.starts) == 2


async def test_running_test_is_not_started_twice(
    client: TestClient[Any, Any], fake: FakeNGrinder, metadata: Metadata
) -> None:
    """While a test of the same canary, server and clone runs, a new request starts nothing."""
    fake.statuses = ["TESTING"]
    first = await client.post("/", json=body(metadata()))
    await fake.polled.wait()
    second = await client.post("/", json=body(metadata()))
    assert (first.status, second.status) == (202, 202)
    assert fake.starts == [(7, BASIC)]
    other = await client.post("/", json=body(metadata(clone="8")))
    assert other.status == 202
    async with asyncio.timeout(5):
        while len(fake.starts) < 2:
            await asyncio.sleep(0.01)
    assert sorted(clone for clone, _ in fake.starts) == [7, 8]


def test_key_is_canary_server_and_clone(metadata: Metadata) -> None:
    """The de-duplication key changes with the canary, the server and the clone id only."""
    task = build(metadata())
    assert task.key == build(metadata(pollInterval="2s")).key
    assert task.key != build(metadata(clone="8")).key
    assert task.key != build(metadata(server="http://other:8080")).key
    assert task.key != build(metadata(), name="other").key
    assert task.background is True
    assert PASSWORD not in repr(task)


async def test_stop_by_error_reaches_flagger(
    client: TestClient[Any, Any], fake: FakeNGrinder, metadata: Metadata
) -> None:
    """STOP_BY_ERROR fails the run; Flagger's next call gets 500 with the reason."""
    fake.statuses = ["TESTING", "STOP_BY_ERROR"]
    assert (await client.post("/", json=body(metadata()))).status == 202
    await wait_idle(client)
    response = await client.post("/", json=body(metadata()))
    assert response.status == 500
    assert await response.text() == (
        "background task failed: ngrinder test 42 ended with status STOP_BY_ERROR"
    )
    assert fake.stops == []


@pytest.mark.parametrize("status", ["CANCELED", "UNKNOWN"])
async def test_other_end_states_fail(
    env: Callable[..., TaskEnvironment], fake: FakeNGrinder, metadata: Metadata, status: str
) -> None:
    """CANCELED and UNKNOWN end the run as failed."""
    fake.statuses = ["READY", status]
    result = await build(metadata()).run(env())
    assert not result.ok
    assert result.reason.endswith(f"ended with status {status}")


async def test_success_false_on_start_fails(
    env: Callable[..., TaskEnvironment], fake: FakeNGrinder, metadata: Metadata
) -> None:
    """A clone_and_start answer with success false fails the run without polling."""
    fake.start_answer = {"success": False, "message": "no test 7"}
    result = await build(metadata()).run(env())
    assert not result.ok
    assert result.reason.startswith("background task failed: ngrinder POST http://")
    assert result.reason.endswith(
        'answered success false: {"success": false, "message": "no test 7"}'
    )
    assert fake.polls == []


async def test_success_false_on_status_fails(
    env: Callable[..., TaskEnvironment], fake: FakeNGrinder, metadata: Metadata
) -> None:
    """A status answer with success false fails the run."""
    fake.status_answer = {"success": False, "message": "gone"}
    result = await build(metadata()).run(env())
    assert not result.ok
    assert "answered success false" in result.reason
    assert fake.polls == [42]


async def test_unavailable_status_is_polled_again(
    env: Callable[..., TaskEnvironment], fake: FakeNGrinder, metadata: Metadata
) -> None:
    """A 503 HTML answer to a poll is retried, as the Go service does."""
    fake.status_errors = 2
    result = await build(metadata()).run(env())
    assert result.ok
    assert fake.polls == [42, 42, 42, 42]


async def test_timeout_stops_the_test(
    env: Callable[..., TaskEnvironment], fake: FakeNGrinder, metadata: Metadata
) -> None:
    """When -timeout passes the test is stopped on the server and the run fails."""
    fake.statuses = ["TESTING"]
    result = await build(metadata()).run(env(timeout=0.2))
    assert not result.ok
    assert result.outcome == "timeout"
    assert result.reason == (
        "background task failed: ngrinder test 42 timed out after 200ms; stop requested"
    )
    assert fake.stops == [(42, "stop", BASIC)]


async def test_cancel_stops_the_test(
    env: Callable[..., TaskEnvironment], fake: FakeNGrinder, metadata: Metadata
) -> None:
    """A cancelled run (canary ended, shutdown) stops the test, then stays cancelled."""
    fake.statuses = ["TESTING"]
    running: asyncio.Task[TaskResult] = asyncio.ensure_future(build(metadata()).run(env()))
    await fake.polled.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert fake.stops == [(42, "stop", BASIC)]


async def test_shutdown_stops_running_test(
    client: TestClient[Any, Any], fake: FakeNGrinder, metadata: Metadata
) -> None:
    """Closing the service stops the nGrinder test it started."""
    fake.statuses = ["TESTING"]
    assert (await client.post("/", json=body(metadata()))).status == 202
    await fake.polled.wait()
    await client.close()
    assert fake.stops == [(42, "stop", BASIC)]


async def test_terminal_phase_stops_running_test(
    client: TestClient[Any, Any], fake: FakeNGrinder, metadata: Metadata
) -> None:
    """A call for the canary in a terminal phase cancels the run, which stops the test."""
    fake.statuses = ["TESTING"]
    assert (await client.post("/", json=body(metadata()))).status == 202
    await fake.polled.wait()
    done = {
        "name": "podinfo",
        "namespace": "test",
        "phase": "Succeeded",
        "metadata": {"type": "bash", "cmd": "true"},
    }
    assert (await client.post("/", json=done)).status == 200
    async with asyncio.timeout(5):
        await fake.stopped.wait()
    assert fake.stops == [(42, "stop", BASIC)]


@pytest.mark.parametrize("key", ["server", "clone", "username", "passwd"])
async def test_missing_key_is_refused(
    client: TestClient[Any, Any], fake: FakeNGrinder, metadata: Metadata, key: str
) -> None:
    """Every required key, absent, is refused with Go's 400."""
    response = await client.post("/", json=body(metadata(**{key: "<absent>"})))
    assert response.status == 400
    assert await response.text() == "server, clone, username and passwd are required metadata"
    assert fake.starts == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"clone": "seven"},
         'metadata clone must be integer: strconv.Atoi: parsing "seven": invalid syntax'),
        ({"clone": "7.5"},
         'metadata clone must be integer: strconv.Atoi: parsing "7.5": invalid syntax'),
        ({"passwd": "not base64!"},
         "metadata password is invalid: illegal base64 data at input byte 3"),
        ({"passwd": "YWJj="}, "metadata password is invalid: illegal base64 data at input byte 4"),
        ({"server": "http://ngrinder-server:port"},
         'invalid url: http://ngrinder-server:port: parse "http://ngrinder-server:port": '
         'invalid port ":port" after host'),
    ],
)
async def test_bad_metadata_is_refused(
    client: TestClient[Any, Any],
    fake: FakeNGrinder,
    metadata: Metadata,
    overrides: dict[str, str],
    expected: str,
) -> None:
    """A non-integer clone, invalid base64 or an unparsable URL: Go's 400 and words."""
    response = await client.post("/", json=body(metadata(**overrides)))
    assert (response.status, await response.text()) == (400, expected)
    assert fake.starts == []


@pytest.mark.parametrize(("raw", "seconds"), [("", 1.0), ("2", 2.0), ("500ms", 0.5), ("1m", 60.0),
                                              ("often", 1.0), ("0s", 1.0)])
def test_poll_interval_forms(metadata: Metadata, raw: str, seconds: float) -> None:
    """pollInterval is a Go duration or bare seconds; absent or invalid means 1s, as in Go."""
    assert build(metadata(pollInterval=raw)).poll_interval == seconds


async def test_password_never_logged(
    client: TestClient[Any, Any], fake: FakeNGrinder, metadata: Metadata
) -> None:
    """Neither the password nor the basic auth header reaches a log event."""
    with capture_logs() as events:
        assert (await client.post("/", json=body(metadata()))).status == 202
        await wait_idle(client)
    assert "task ended" in [event["event"] for event in events]
    assert PASSWORD not in repr(events)
    assert BASIC.split()[1] not in repr(events)
