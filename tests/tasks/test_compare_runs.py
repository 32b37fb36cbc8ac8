"""`type: load` with `compare`: the same requests to the canary and the primary, the
differences in the result, the verdict of `maxRegression` failing the task with its body."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from loadtester.models import WebhookPayload
from loadtester.tasks.load import load_task
from tests.support.client import ClientFactory
from tests.support.servers import CountingServer, Reply
from tests.support.tasks import payload, post
from tests.support.webhook_sink import WebhookSink

CLOSED = "http://127.0.0.1:1/"  # nothing listens on port 1: every connection is refused
# the Done-when run: 200 requests/s for 3 s (600 per target: Mann-Whitney U needs far fewer
# than the 10 s to tell 20 ms apart, and the suite stays quick)
RUN = {"type": "load", "rate": "200", "duration": "3s", "concurrency": "100", "wait": "true"}
Start = Callable[[float, int], Awaitable[CountingServer]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Start servers answering after `delay` seconds, a 500 every `fail_every`-th request
    (0: never); started before (so closed after) the service."""
    servers: list[CountingServer] = []

    async def make(delay: float = 0.0, fail_every: int = 0) -> CountingServer:
        def reply(n: int) -> Reply:
            return Reply(status=500 if fail_every and n % fail_every == 0 else 200, delay=delay)

        server = await CountingServer(reply).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.close()


async def test_slower_canary_fails_with_the_verdict(
    start: Start, make_client: ClientFactory
) -> None:
    """A canary 20 ms slower than its primary at 200 req/s fails with the verdict's body, and
    both targets got the same number of requests (p50: a busy test machine's stalls reach
    both targets' p99 alike and can hide 20 ms there, never at the median)."""
    canary, primary = await start(0.04, 0), await start(0.02, 0)
    client = await make_client()
    meta = {**RUN, "url": canary.url, "compare": primary.url, "maxRegression": "p50=20%"}
    status, body = await post(client, payload(meta))
    assert status == 500, body
    assert re.fullmatch(r"canary p50 \d+ms vs primary \d+ms \(\+\d+% > 20%\), Mann-Whitney U "
                        r"p[=<]0\.\d{5} over 600/600 requests", body), body
    assert canary.requests == primary.requests == 600


async def test_equal_latency_passes(start: Start, make_client: ClientFactory) -> None:
    """The same canary at its primary's latency passes; the answer carries the comparison."""
    canary, primary = await start(0.02, 0), await start(0.02, 0)
    client = await make_client()
    meta = {**RUN, "url": canary.url, "compare": primary.url, "maxRegression": "p50=20%"}
    status, body = await post(client, payload(meta))
    assert status == 200, body
    assert "; canary p99 " in body and "600/600 requests; verdict pass: " in body
    assert canary.requests == primary.requests == 600


async def test_canary_errors_fail_on_error_rate(start: Start, make_client: ClientFactory) -> None:
    """A canary with 5 % errors against a primary with none fails on the error rate (Fisher)."""
    canary, primary = await start(0.0, 20), await start(0.0, 0)
    client = await make_client()
    meta = {**RUN, "url": canary.url, "compare": primary.url, "maxRegression": "errorRate=0.5"}
    status, body = await post(client, payload(meta))
    assert status == 500, body
    assert re.fullmatch(r"canary error rate 5\.0% vs primary 0\.0% \(\+5\.0 points > 0\.5\), "
                        r"Fisher p[=<]0\.\d{5} over 600/600 requests", body), body


async def test_without_a_policy_the_differences_are_reported(
    start: Start, make_client: ClientFactory
) -> None:
    """Without maxRegression a compare run passes on the usual thresholds and reports each
    target's figures and the differences."""
    canary, primary = await start(0.0, 0), await start(0.0, 0)
    client = await make_client()
    meta = {"type": "load", "url": canary.url + "orders?x=1", "compare": primary.url,
            "requests": "30", "concurrency": "3", "method": "POST", "body": "{}", "wait": "true"}
    status, body = await post(client, payload(meta))
    assert status == 200, body
    assert "30/30 requests" in body and "verdict" not in body
    assert canary.requests == primary.requests == 30


async def test_hey_command_compares_too(start: Start, make_client: ClientFactory) -> None:
    """A hey command line in cmd (the built-in engine) takes compare: each target gets -n."""
    canary, primary = await start(0.0, 0), await start(0.0, 0)
    client = await make_client()
    meta = {"type": "load", "cmd": f"hey -n 30 -c 3 -q 10 {canary.url}", "compare": primary.url,
            "wait": "true"}
    status, body = await post(client, payload(meta))
    assert status == 200, body
    assert canary.requests == primary.requests == 30


async def test_inconclusive_passes_unless_a_verdict_is_required(
    start: Start, make_client: ClientFactory
) -> None:
    """Fewer requests than minSamples is inconclusive: it passes, or fails with
    requireVerdict."""
    canary, primary = await start(0.0, 0), await start(0.0, 0)
    client = await make_client()
    meta = {"type": "load", "url": canary.url, "compare": primary.url, "requests": "30",
            "concurrency": "3", "wait": "true", "maxRegression": "p99=20%"}
    status, body = await post(client, payload(meta))
    assert status == 200, body
    assert body.endswith("; verdict inconclusive: inconclusive: 30/30 requests, need 50")
    status, body = await post(client, payload({**meta, "requireVerdict": "true"}))
    assert (status, body) == (500, "inconclusive: 30/30 requests, need 50")


async def test_unreachable_compare_target_fails_the_run(
    start: Start, make_client: ClientFactory
) -> None:
    """A compare URL nobody answers fails the run, even without maxRegression."""
    canary = await start(0.0, 0)
    client = await make_client()
    meta = {"type": "load", "url": canary.url, "compare": CLOSED, "requests": "10",
            "concurrency": "2", "wait": "true"}
    status, body = await post(client, payload(meta))
    assert (status, body) == (500, "compare target unreachable: connection refused")


@pytest.mark.parametrize(
    ("meta", "reason"),
    [
        ({"type": "load", "url": "http://x/a", "compare": "http://x/"},
         "compare 'http://x/' is the canary's url"),
        ({"type": "load", "url": "http://x/", "compare": "ftp://y/"},
         "compare 'ftp://y/' is not an http:// or https:// URL"),
        ({"type": "cmd", "cmd": "hey http://x/", "compare": "http://y/"},
         "metadata compare needs type: load (the built-in generator); type cmd runs"),
        ({"type": "load", "url": "http://x/", "compare": "http://y/", "maxRegression": "p42=5"},
         "maxRegression: unknown metric 'p42'"),
        ({"type": "load", "url": "http://x/", "compare": "http://y/", "maxRegression": "p99=-5"},
         "maxRegression"),
        ({"type": "load", "url": "http://x/", "compare": "http://y/", "maxRegression": "p99"},
         "maxRegression: 'p99' is not metric=margin"),
        ({"type": "load", "url": "http://x/", "compare": "http://y/", "maxRegression": "p99=5",
          "significance": "1"}, "significance must be between 0 and 1"),
        ({"type": "load", "url": "http://x/", "maxRegression": "p99=5"},
         "metadata maxRegression needs compare"),
        ({"type": "load", "scenario": "requests: [{url: 'http://x/a'}]", "compare": "http://x/"},
         "compare 'http://x/' is the canary's url"),
        ({"type": "load", "compare": "http://y/",
          "scenario": "requests: [{url: 'http://x/a'}, {url: 'http://x/b', compareUrl: 'http://x/b'}]"},
         "compare: scenario request 'GET /b' goes to 'http://x/b' on the canary and the primary"),
        ({"type": "load", "scenario": "requests: [{url: 'http://x/', compareUrl: 'http://y/'}]"},
         "scenario requests[0]: compareUrl needs compare"),
        ({"type": "load", "scenario": "requests: [{url: 'http://x/', compareUrl: 'ftp://y/'}]",
          "compare": "http://y/"}, "scenario requests[0] compareUrl: url 'ftp://y/' is not"),
    ],
)
async def test_bad_compare_metadata(
    make_client: ClientFactory, meta: dict[str, str], reason: str
) -> None:
    """Bad compare metadata answers 400 with a one-line reason naming the field."""
    client = await make_client()
    status, body = await post(client, payload(meta))
    assert status == 400, body
    assert reason in body and "\n" not in body


async def test_scenario_requests_go_to_both_bases(make_client: ClientFactory) -> None:
    """With a scenario each request's path goes to both bases, or to its own compareUrl."""
    canary, primary = web.Application(), web.Application()
    seen: dict[str, list[str]] = {"canary": [], "primary": []}
    for name, app in (("canary", canary), ("primary", primary)):
        async def answer(request: web.Request, name: str = name) -> web.Response:
            seen[name].append(f"{request.method} {request.path_qs}")
            return web.Response(text="ok")

        app.router.add_route("*", "/{tail:.*}", answer)
    runners = [web.AppRunner(app) for app in (canary, primary)]
    urls = []
    for runner in runners:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        urls.append(f"http://127.0.0.1:{port}/")
    try:
        client = await make_client()
        scenario = ("requests:\n  - {url: /orders?x=1, method: POST, body: '{}'}\n"
                    "  - {url: /v1/health, compareUrl: /v2/health}\n")
        meta = {"type": "load", "url": urls[0], "scenario": scenario, "compare": urls[1],
                "requests": "20", "concurrency": "2", "wait": "true"}
        status, body = await post(client, payload(meta))
    finally:
        for runner in runners:
            await runner.cleanup()
    assert status == 200, body
    assert "20/20 requests" in body
    assert sorted(seen["canary"]) == sorted(["POST /orders?x=1"] * 10 + ["GET /v1/health"] * 10)
    assert sorted(seen["primary"]) == sorted(["POST /orders?x=1"] * 10 + ["GET /v2/health"] * 10)


async def test_notify_carries_the_comparison_and_verdict(
    start: Start, make_client: ClientFactory
) -> None:
    """The chat message of a compare run has a primary row, the differences and the verdict."""
    canary, primary = await start(0.0, 0), await start(0.0, 0)
    sink = WebhookSink()
    try:
        client = await make_client(event_webhook_url=sink.url)
        meta = {"type": "load", "url": canary.url, "compare": primary.url, "requests": "30",
                "concurrency": "3", "wait": "true", "notify": "true",
                "maxRegression": "p99=20%"}
        status, _ = await post(client, payload(meta))
        assert status == 200
        message = (await _arrived(sink))["message"]
    finally:
        sink.close()
    assert "\nprimary " in message
    assert "\ncompare: canary p99 " in message and "30/30 requests" in message
    assert "\nverdict inconclusive: inconclusive: 30/30 requests, need 50" in message


async def _arrived(sink: WebhookSink) -> dict[str, Any]:
    """The first message (a guard against hanging, not a measurement)."""
    deadline = time.monotonic() + 20
    while not sink.bodies:
        assert time.monotonic() < deadline, "no message arrived"
        await asyncio.sleep(0.02)
    body: dict[str, Any] = json.loads(json.dumps(sink.bodies[0]))
    return body


async def test_allow_cmd_matches_the_compare_url(start: Start, make_client: ClientFactory) -> None:
    """With -allow-cmd the compare URL must match `load <url>` too, in the url and cmd forms."""
    canary, primary = await start(0.0, 0), await start(0.0, 0)
    client = await make_client(allow_cmd=(r"load hey .*", r"load http://127\.0\.0\.1:\d+/ok"))
    meta = {"type": "load", "url": canary.url + "ok", "compare": primary.url + "evil",
            "requests": "2", "wait": "true"}
    assert await post(client, payload(meta)) == (
        403, f"command not allowed: load {primary.url}evil")
    hey = {"type": "load", "cmd": f"hey -n 2 -c 1 {canary.url}ok",
           "compare": primary.url + "evil", "wait": "true"}
    assert await post(client, payload(hey)) == (
        403, f"command not allowed: load {primary.url}evil")
    status, body = await post(client, payload({**hey, "compare": primary.url}))  # takes /ok
    assert status == 200, body
    assert canary.requests == primary.requests == 2


def test_one_command_with_other_compare_urls_is_two_tasks() -> None:
    """A hey command line's task key covers the metadata that shapes its run: the same cmd
    compared with two primaries is two tasks, the same metadata again is the same task."""
    hook = WebhookPayload.model_validate(payload(None))
    cmd = "hey -z 1m -q 10 -c 2 http://podinfo-canary.test/"
    first = load_task(hook, {"cmd": cmd, "compare": "http://podinfo-primary.test/"})
    again = load_task(hook, {"cmd": cmd, "compare": "http://podinfo-primary.test/"})
    other = load_task(hook, {"cmd": cmd, "compare": "http://podinfo-other.test/"})
    assert first.key == again.key != other.key
    assert load_task(hook, {"cmd": cmd}).key.endswith(cmd)  # as before without such metadata
