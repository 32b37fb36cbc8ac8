"""`type: load` and hey through `cmd`: answers, thresholds, metrics, cancellation."""

from __future__ import annotations

import asyncio

import pytest

from loadtester.keys import RUNNER
from loadtester.tasks.load import load_tool_target
from tests.support.client import ClientFactory
from tests.support.metrics import metrics_text
from tests.support.nginx import Nginx
from tests.support.servers import CountingServer, Reply
from tests.support.tasks import payload, post, wait_idle

CLOSED = "http://127.0.0.1:1/"  # nothing listens on port 1: every connection is refused


async def test_blocking_load_answers_summary(
    target: CountingServer, make_client: ClientFactory
) -> None:
    """wait: "true" answers 200 with a one-line summary once the run is over."""
    client = await make_client()
    meta = {"type": "load", "url": target.url, "requests": "40", "concurrency": "4",
            "wait": "true", "maxErrorRate": "1"}
    status, body = await post(client, payload(meta))
    assert status == 200, body
    assert body.startswith("40 requests in ") and body.endswith("0% errors")
    assert target.answered[200] == 40
    text = await metrics_text(client)
    assert (f'loadtester_load_requests_total{{canary="podinfo",code="200",namespace="test",'
            f'target="{target.url}"}} 40.0') in text
    assert (f'loadtester_load_request_duration_seconds_count{{canary="podinfo",namespace="test",'
            f'target="{target.url}"}} 40.0') in text


async def test_blocking_load_breaks_threshold(
    failing: CountingServer, make_client: ClientFactory
) -> None:
    """A broken threshold answers 500 naming it."""
    client = await make_client()
    meta = {"type": "load", "url": failing.url, "requests": "20", "concurrency": "2",
            "wait": "true", "maxErrorRate": "5"}
    status, body = await post(client, payload(meta))
    assert (status, body) == (500, "error rate 100% > 5% over 20 requests")


async def test_hey_command_in_load_type(target: CountingServer, make_client: ClientFactory) -> None:
    """A hey command line with type load runs on the built-in engine with hey's meaning."""
    client = await make_client()
    meta = {"type": "load", "cmd": f"hey -n 30 -c 3 -m POST -d x {target.url}", "wait": "true"}
    status, body = await post(client, payload(meta))
    assert status == 200, body
    assert target.answered[200] == 30


@pytest.mark.parametrize(
    ("meta", "reason"),
    [
        ({"type": "load", "cmd": "hey -h2 http://127.0.0.1:1/"}, "h2 is HTTP/2 over TLS"),
        ({"type": "load"}, "url or cmd not found in metadata"),
        ({"type": "load", "url": "ftp://x/"}, "url 'ftp://x/' is not an http:// or https:// URL"),
        ({"type": "load", "url": "http://127.0.0.1:1/", "maxP99": "soon"}, "maxP99"),
        ({"cmd": "hey http://127.0.0.1:1/", "maxErrorRate": "many"}, "maxErrorRate"),
        ({"type": "load", "scenario": "requests: [{url: /}]"},
         "scenario requests[0]: url '/' is a path and no url is given to resolve it against"),
        ({"type": "load", "scenario": "requests: [{url: 'http://x/', wieght: 2}]"},
         "scenario requests[0]: unknown key 'wieght'"),
        ({"type": "load", "url": "http://x/", "scenario": "requests: [{url: /}]", "method": "POST"},
         "metadata method does not apply with a scenario"),
        ({"type": "load", "url": "http://x/", "stages": "10s:0->", "rate": "5"},
         "stages '10s:0->': rate '' is not a number"),
        ({"type": "load", "url": "http://x/", "stages": "10s:5", "rate": "5"},
         "a rate and stages are both given: the stages set the rate"),
        ({"type": "load", "url": "http://x/", "stages": "10s:5", "requests": "5"},
         "metadata requests and stages are both given"),
        ({"type": "load", "cmd": "hey -z 5s http://x/", "stages": "10s:5"},
         "a duration and stages are both given"),
        ({"type": "load", "url": "http://x/", "stages": "2h:5"},
         "stages 2h0m0s is longer than the service's -timeout"),
    ],
)
async def test_bad_load_metadata(
    make_client: ClientFactory, meta: dict[str, str], reason: str
) -> None:
    """Bad load metadata answers 400 with a one-line reason naming the culprit."""
    client = await make_client()
    status, body = await post(client, payload(meta))
    assert status == 400
    assert reason in body and "\n" not in body


async def test_background_load_failure_reported(
    failing: CountingServer, make_client: ClientFactory
) -> None:
    """Without thresholds, a background run fails only when no request got an answer: 503s
    pass (the load test ran), a closed port is reported on the next call with its reason."""
    client = await make_client()
    meta = {"type": "load", "url": failing.url, "requests": "10", "concurrency": "2"}
    assert await post(client, payload(meta)) == (202, "")
    await wait_idle(client)
    assert failing.answered[503] == 10
    assert await post(client, payload(meta)) == (202, "")
    await wait_idle(client)
    closed = {"type": "load", "url": CLOSED, "requests": "10", "concurrency": "2"}
    assert await post(client, payload(closed)) == (202, "")
    await wait_idle(client)
    status, body = await post(client, payload(closed))
    assert (status, body) == (500, "background task failed: all 10 requests failed: "
                                   "connection refused")


async def test_hey_cmd_answered_with_404_passes(make_client: ClientFactory) -> None:
    """hey through cmd against a target answering 404 to all: the next call answers 202."""
    server = await CountingServer(lambda n: Reply(status=404)).start()
    try:
        client = await make_client()
        meta = {"cmd": f"hey -n 20 -c 2 {server.url}"}
        assert await post(client, payload(meta)) == (202, "")
        await wait_idle(client)
        assert server.answered[404] == 20
        assert await post(client, payload(meta)) == (202, "")
        await wait_idle(client)
    finally:
        await server.close()


async def test_hey_cmd_against_closed_port_fails(make_client: ClientFactory) -> None:
    """hey through cmd against a closed port: the next call answers 500 with the reason."""
    client = await make_client()
    meta = {"cmd": f"hey -n 20 -c 2 {CLOSED}"}
    assert await post(client, payload(meta)) == (202, "")
    await wait_idle(client)
    assert await post(client, payload(meta)) == (
        500, "background task failed: all 20 requests failed: connection refused")


async def test_max_error_rate_counts_5xx_not_4xx(make_client: ClientFactory) -> None:
    """maxErrorRate counts 5xx answers (and transport errors), never 4xx ones."""
    server = await CountingServer(lambda n: Reply(status=500 if n % 4 == 0 else 404)).start()
    try:
        client = await make_client()
        loose = {"cmd": f"hey -n 20 -c 2 {server.url}", "maxErrorRate": "30"}
        assert await post(client, payload(loose)) == (202, "")
        await wait_idle(client)
        assert (server.answered[500], server.answered[404]) == (5, 15)
        assert await post(client, payload(loose)) == (202, "")
        await wait_idle(client)
        strict = {"cmd": f"hey -n 20 -c 2 {server.url}", "maxErrorRate": "20"}
        assert await post(client, payload(strict)) == (202, "")
        await wait_idle(client)
        assert await post(client, payload(strict)) == (
            500, "background task failed: error rate 25% > 20% over 20 requests")
        meta = {"type": "load", "url": server.url, "requests": "20", "concurrency": "2",
                "wait": "true", "maxErrorRate": "30"}
        status, body = await post(client, payload(meta))
        assert status == 200 and body.endswith(", 25% errors"), body
    finally:
        await server.close()


async def test_hey_cmd_results_reach_metrics_and_thresholds(
    failing: CountingServer, make_client: ClientFactory
) -> None:
    """hey run by a cmd task: its summary feeds the metrics and the thresholds."""
    client = await make_client()
    meta = {"cmd": f"hey -n 20 -c 2 {failing.url}", "maxErrorRate": "10"}
    assert await post(client, payload(meta)) == (202, "")
    await wait_idle(client)
    assert failing.answered[503] == 20
    status, body = await post(client, payload(meta))
    assert (status, body) == (500, "background task failed: error rate 100% > 10% over 20 "
                                   "requests")
    text = await metrics_text(client)
    assert (f'loadtester_load_requests_total{{canary="podinfo",code="503",namespace="test",'
            f'target="{failing.url}"}} 20.0') in text


@pytest.mark.system
async def test_terminal_phase_stops_background_load(
    target: CountingServer, make_client: ClientFactory
) -> None:
    """A payload with phase Succeeded stops the canary's running load tests."""
    client = await make_client()
    meta = {"type": "load", "url": target.url, "rate": "20", "duration": "60s"}
    assert await post(client, payload(meta)) == (202, "")
    runner = client.server.app[RUNNER]
    await asyncio.sleep(1.0)
    assert len(runner.running) == 1
    check = {"type": "bash", "cmd": "true"}
    assert await post(client, payload(check, phase="Succeeded")) == (200, "")
    for _ in range(50):
        if not runner.running:
            break
        await asyncio.sleep(0.1)
    assert runner.running == []
    sent = target.requests
    await asyncio.sleep(0.5)
    assert target.requests == sent


def test_load_tool_target() -> None:
    """The target of a hey command line is its URL's scheme and host (no path, no query)."""
    assert load_tool_target("hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/?a=b") == (
        "http://podinfo-canary.test:9898/")
    assert load_tool_target("/usr/bin/hey -n 5 http://x:1/api") == "http://x:1/"
    assert load_tool_target("curl http://x/") is None
    assert load_tool_target("echo 'unclosed") is None
    assert load_tool_target("hey http://[::1/") is None


SCENARIO = """
requests:
  - {name: home, url: /, weight: 3, expect: {body: '"status":"ok"'}}
  - {name: down, url: /down, expect: {body: '"status":"ok"'}}
  - {method: POST, url: /api/orders, body: '{"n": 1}', expect: {status: [201]}}
"""


@pytest.mark.system
async def test_scenario_through_the_service(nginx: Nginx, make_client: ClientFactory) -> None:
    """A scenario in metadata: nginx answers each request its share; the answer, the
    metrics (a `request` label each) and the failed checks say so."""
    client = await make_client()
    meta = {"type": "load", "url": nginx.url, "scenario": SCENARIO, "requests": "100",
            "concurrency": "4", "wait": "true"}
    status, body = await post(client, payload(meta))
    assert status == 200, body
    assert body.startswith("100 requests in ") and body.endswith("20% errors, 20 failed checks")
    assert nginx.counts(100) == {"GET /": 60, "GET /down": 20, "POST /api/orders": 20}
    text = await metrics_text(client)
    for name, code, count in (("home", 200, 60), ("down", 200, 20),
                              ("POST /api/orders", 201, 20)):
        assert (f'loadtester_load_requests_total{{canary="podinfo",code="{code}",'
                f'namespace="test",request="{name}",target="{nginx.url}"}} '
                f'{count}.0') in text
    assert ('loadtester_load_check_failures_total{canary="podinfo",check="body",'
            'namespace="test",request="down"} 20.0') in text


@pytest.mark.system
async def test_scenario_error_rate_names_the_failed_check_request(
        nginx: Nginx, make_client: ClientFactory) -> None:
    """A scenario run over maxErrorRate because of a body check answers which request's check
    failed: `failed checks: down body 20`."""
    client = await make_client()
    meta = {"type": "load", "url": nginx.url, "scenario": SCENARIO, "requests": "100",
            "concurrency": "4", "wait": "true", "maxErrorRate": "10"}
    status, body = await post(client, payload(meta))
    assert (status, body) == (500, "error rate 20% > 10% over 100 requests, "
                                   "failed checks: down body 20")


@pytest.mark.system
async def test_scenario_request_threshold_fails_the_run(
    nginx: Nginx, make_client: ClientFactory
) -> None:
    """A broken per-request threshold answers 500 naming the request."""
    client = await make_client()
    scenario = (f'{{"requests": [{{"url": "{nginx.url}", "weight": 4}}, {{"name": "orders", '
                f'"method": "POST", "url": "{nginx.url}api/orders", '
                f'"thresholds": {{"maxP99": "1us"}}}}]}}')
    meta = {"type": "load", "scenario": scenario, "requests": "50", "concurrency": "2",
            "wait": "true", "maxErrorRate": "1"}
    status, body = await post(client, payload(meta))
    assert status == 500
    assert body.startswith("orders: p99 ") and body.endswith(" > 1µs over 10 requests, 0% errors")
    assert nginx.counts(50) == {"GET /": 40, "POST /api/orders": 10}


@pytest.mark.system
async def test_stages_through_the_service(nginx: Nginx, make_client: ClientFactory) -> None:
    """stages ramp a plain url run: the run sends the ramp's integral."""
    client = await make_client()
    meta = {"type": "load", "url": nginx.url + "api/items", "stages": "500ms:0->80, 500ms:80",
            "concurrency": "2", "wait": "true"}
    status, body = await post(client, payload(meta))
    assert status == 200, body
    assert body.startswith("60 requests in ")
    assert nginx.counts(60) == {"GET /api/items": 60}
