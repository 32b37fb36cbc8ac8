"""Through the service: hostile scenarios and long values answer a short 400,
and scenario parsing (and any large payload) runs in a parser thread, not on the event loop."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, MutableMapping
from typing import Any

import pytest
from structlog.testing import capture_logs

import loadtester.events.service
import loadtester.routes
import loadtester.routes.tasks
import loadtester.tasks.load
from loadtester.loadgen.input.scenario import MAX_REQUESTS, MAX_SCENARIO_BYTES
from loadtester.offloop import INLINE_LIMIT, PARSER_THREAD_PREFIX
from tests.support.client import ClientFactory
from tests.support.hostile_input import HUGE_LIST, alias_bomb, flow_list

SHORT = 300  # bytes: 200 characters of the input at most, and the reason


def load(**metadata: str) -> dict[str, Any]:
    """A `type: load` payload for podinfo.test."""
    return {"name": "podinfo", "namespace": "test", "metadata": {"type": "load", **metadata}}


async def post(client: Any, body: dict[str, Any], path: str = "/") -> tuple[int, str]:
    """Status and text of one POST of ``body`` as JSON."""
    async with client.post(path, data=json.dumps(body)) as response:
        return response.status, await response.text()


def request_logs(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    """The service's one log line per request."""
    return [line for line in logs if line["event"] == "request"]


async def test_500_kb_list_refused_by_size(make_client: ClientFactory) -> None:
    """A 500 KB `requests: [1,1,...]` is refused for its size before it is parsed."""
    client = await make_client()
    assert len(HUGE_LIST.encode()) > MAX_SCENARIO_BYTES
    status, body = await post(client, load(scenario=HUGE_LIST))
    assert (status, body) == (400, f"scenario is {len(HUGE_LIST)} bytes: at most 262144 "
                                   "(256 KiB)")


async def test_alias_bomb_refused(make_client: ClientFactory) -> None:
    """A 496-byte alias bomb in `url` is a one-line 400 about aliases, not 80 MB;
    so is its log line."""
    client = await make_client()
    bomb = alias_bomb()
    assert len(bomb.encode()) == 496
    with capture_logs() as logs:
        status, body = await post(client, load(scenario=bomb))
    assert (status, body) == (400, "scenario: YAML anchors and aliases are not allowed "
                                   "(line 4)")
    (line,) = request_logs(logs)
    assert line["reason"] == body


@pytest.mark.parametrize("kind", ["yaml", "json"])
async def test_too_many_requests_just_under_the_size_limit(
    make_client: ClientFactory, kind: str
) -> None:
    """A scenario a little under 256 KiB with 131 000 requests is refused naming the
    request limit."""
    client = await make_client()
    if kind == "yaml":
        text = flow_list("requests", MAX_SCENARIO_BYTES - 16)
    else:
        text = '{"requests": [' + "1," * 131_060 + "1]}"
    assert MAX_SCENARIO_BYTES - 16 <= len(text) <= MAX_SCENARIO_BYTES
    status, body = await post(client, load(scenario=text))
    assert status == 400
    assert f"at most {MAX_REQUESTS}" in body and "requests" in body and len(body) < SHORT


@pytest.mark.parametrize(("metadata", "filler"), [
    ({"url": "x" * 100_000}, "x"),
    ({"url": "http://x:" + "1y" * 50_000 + "/"}, "1y"),
    ({"scenario": "requests: [{url: " + "z" * 100_000 + "}]"}, "z"),
    ({"scenario": json.dumps({"requests": [{"url": [1] * 50_000}]})}, "1, "),
    ({"scenario": json.dumps({"requests": [{"url": "http://x/", "k" * 100_000: 1}]})}, "k"),
    ({"url": "http://x/", "duration": "9" * 100_000 + "parsecs"}, "9"),
    ({"cmd": "hey -n " + "1y" * 50_000 + " http://x/"}, "1y"),
    ({"url": "http://x/", "stages": "1" * 100_000 + "s:5"}, "1"),
])  # fmt: skip
async def test_error_quotes_at_most_200_characters(
    make_client: ClientFactory, metadata: dict[str, str], filler: str
) -> None:
    """A 400 about a 100 KB value quotes at most 200 characters of it in a row, in a
    one-line body of a few hundred bytes, and its log line says the same."""
    client = await make_client()
    with capture_logs() as logs:
        status, body = await post(client, load(**metadata))
    runs = re.findall(f"(?:{re.escape(filler)})+", body) or [""]
    assert status == 400 and "..." in body, body[:500]
    assert 20 < max(len(run) for run in runs) <= 200 + len(filler), body[:500]
    assert len(body) <= 400 and "\n" not in body
    (line,) = request_logs(logs)
    assert line["reason"] == body


async def test_unknown_task_type_is_cut(make_client: ClientFactory) -> None:
    """Go's `unknown task type <type>` keeps its words, with at most 200 characters of it."""
    client = await make_client()
    status, body = await post(client, {"name": "podinfo", "namespace": "test",
                                       "metadata": {"type": "t" * 100_000, "cmd": "true"}})
    assert (status, body) == (400, "unknown task type " + "t" * 200 + "...")


def spy(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[str]:
    """Replace ``module.name`` with a wrapper recording the thread each call ran on."""
    threads: list[str] = []
    real: Callable[..., Any] = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return threads


async def test_scenario_is_parsed_in_a_parser_thread(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scenario, however small, is parsed (and its task built) in a parser thread."""
    threads = spy(monkeypatch, loadtester.tasks.load, "parse_scenario")
    client = await make_client()
    status, _ = await post(client, load(scenario="requests: [{url: /}]"))
    assert status == 400
    assert len(threads) == 1 and threads[0].startswith(PARSER_THREAD_PREFIX)


async def test_small_payload_stays_on_the_loop(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small payload is parsed and its task built on the event loop's thread (no hop)."""
    parsed = spy(monkeypatch, loadtester.routes, "parse_payload")
    built = spy(monkeypatch, loadtester.routes.tasks, "build_task")
    client = await make_client()
    status, _ = await post(client, load(url="ftp://x/"))
    assert status == 400
    assert parsed == built == [threading.main_thread().name]


async def test_large_payload_is_parsed_in_a_parser_thread(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A payload over 64 KiB is parsed, checked and built into a task in a parser thread."""
    parsed = spy(monkeypatch, loadtester.routes, "parse_payload")
    checked = spy(monkeypatch, loadtester.routes, "validate_payload")
    built = spy(monkeypatch, loadtester.routes.tasks, "build_task")
    client = await make_client()
    status, _ = await post(client, load(url="ftp://x/", padding="p" * INLINE_LIMIT))
    assert status == 400
    for threads in (parsed, checked, built):
        assert len(threads) == 1 and threads[0].startswith(PARSER_THREAD_PREFIX)


async def test_large_invalid_payload_is_a_short_400(make_client: ClientFactory) -> None:
    """A large body that is not JSON is refused from the parser thread with Go's words."""
    client = await make_client()
    async with client.post("/", data=b"{" + b"x" * (2 * INLINE_LIMIT)) as response:
        assert response.status == 400
        assert (await response.text()).startswith("invalid JSON payload: ")


@pytest.mark.parametrize(("padding", "in_thread"), [(0, False), (INLINE_LIMIT, True)])
async def test_large_event_is_prepared_in_a_parser_thread(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch, padding: int, in_thread: bool
) -> None:
    """An event over 64 KiB is checked, hashed and serialised in a parser thread; a small one
    on the loop."""
    threads = spy(monkeypatch, loadtester.events.service, "prepare_event")
    client = await make_client()
    event = {"name": "podinfo", "namespace": "test", "phase": "Progressing",
             "metadata": {"eventMessage": "hello", "padding": "p" * padding}}
    assert (await post(client, event, "/events"))[0] == 202
    assert len(threads) == 1
    assert threads[0].startswith(PARSER_THREAD_PREFIX) is in_thread

