"""Load test results sent to the event sinks: `notify: "true"` or -notify-load-results."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from loadtester.cli import parse_settings
from loadtester.loadgen.results.thresholds import Thresholds
from loadtester.tasks.load_notify import load_report
from tests.support.client import ClientFactory
from tests.support.events import event
from tests.support.servers import CountingServer
from tests.support.tasks import payload, post, wait_idle
from tests.support.webhook_sink import WebhookSink


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    """A generic webhook receiver, the service's `-event-webhook-url`."""
    receiver = WebhookSink()
    yield receiver
    receiver.close()


async def arrived(sink: WebhookSink, count: int) -> list[dict[str, Any]]:
    """The bodies once `count` have arrived (a guard against hanging, not a measurement)."""
    deadline = time.monotonic() + 20
    while len(sink.bodies) < count:
        assert time.monotonic() < deadline, f"got {len(sink.bodies)} messages, wanted {count}"
        await asyncio.sleep(0.02)
    return list(sink.bodies)


def row(message: str, name: str) -> list[str]:
    """The cells of the table row whose first cell is `name`."""
    for line in message.splitlines():
        if line.startswith(name + " "):
            return line[len(name):].split()
    raise AssertionError(f"no row {name!r} in\n{message}")


async def test_wait_run_sends_its_figures(
    target: CountingServer, sink: WebhookSink, make_client: ClientFactory
) -> None:
    """A run with notify: "true" sends one message: verdict, the figures, thresholds kept."""
    client = await make_client(event_webhook_url=sink.url)
    meta = {"type": "load", "url": target.url, "requests": "40", "concurrency": "4",
            "wait": "true", "maxErrorRate": "1", "maxP99": "30s", "notify": "true"}
    status, answer = await post(client, payload(meta))
    assert status == 200, answer
    [body] = await arrived(sink, 1)
    assert (body["name"], body["namespace"], body["phase"]) == ("podinfo", "test", "Progressing")
    assert body["eventType"] == "Normal"
    message = body["message"]
    assert message.startswith("Load test passed for podinfo.test (40 requests in ")
    count, rate, p50, p95, p99, errors, checks = row(message, f"GET {target.url}")
    assert (count, errors, checks) == ("40", "0%", "-")
    assert float(rate) > 0 and all(p.endswith("s") for p in (p50, p95, p99))
    assert "  ok      maxErrorRate 1%" in message
    assert "  ok      maxP99 30s" in message
    assert target.answered[200] == 40


async def test_background_failure_names_the_broken_threshold(
    failing: CountingServer, sink: WebhookSink, make_client: ClientFactory
) -> None:
    """A failed background run sends a Warning naming the limit it broke and the ones it kept."""
    client = await make_client(event_webhook_url=sink.url)
    meta = {"type": "load", "url": failing.url, "requests": "20", "concurrency": "2",
            "maxErrorRate": "5", "maxP99": "30s", "notify": "true"}
    assert await post(client, payload(meta)) == (202, "")
    await wait_idle(client)
    [body] = await arrived(sink, 1)
    assert body["eventType"] == "Warning"
    message = body["message"]
    reason = "error rate 100% > 5% over 20 requests"
    assert message.startswith(f"Load test FAILED for podinfo.test: {reason}\n")
    assert f"  BROKEN  maxErrorRate 5%: {reason}" in message
    assert "  ok      maxP99 30s" in message
    assert row(message, f"GET {failing.url}")[0] == "20"
    assert row(message, f"GET {failing.url}")[5] == "100%"


async def test_without_notify_nothing_is_sent(
    target: CountingServer, sink: WebhookSink, make_client: ClientFactory
) -> None:
    """Without notify the sinks hear nothing of the run: the next event is the first they get."""
    client = await make_client(event_webhook_url=sink.url)
    meta = {"type": "load", "url": target.url, "requests": "10", "wait": "true"}
    assert (await post(client, payload(meta)))[0] == 200
    assert (await post(client, event(message="after the run"), "/events"))[0] == 202
    # one lane per sink and canary delivers in order: a result stored first would come first
    await arrived(sink, 1)
    assert sink.messages == ["after the run"]


async def test_result_in_order_with_the_canary_events(
    target: CountingServer, sink: WebhookSink, make_client: ClientFactory
) -> None:
    """The result goes through the outbox, between the events Flagger posted before and after."""
    client = await make_client(event_webhook_url=sink.url)
    assert (await post(client, event(message="before the run"), "/events"))[0] == 202
    meta = {"type": "load", "url": target.url, "requests": "10", "wait": "true",
            "notify": "true"}
    assert (await post(client, payload(meta)))[0] == 200
    assert (await post(client, event(message="after the run"), "/events"))[0] == 202
    await arrived(sink, 3)
    first, result, last = sink.messages
    assert (first, last) == ("before the run", "after the run")
    assert result.startswith("Load test passed for podinfo.test (10 requests in ")
    assert "no thresholds set" in result


async def test_service_flag_notifies_every_run(
    target: CountingServer, sink: WebhookSink, make_client: ClientFactory
) -> None:
    """-notify-load-results sends the result of a run that did not ask for it."""
    client = await make_client(event_webhook_url=sink.url, notify_load_results=True)
    meta = {"type": "load", "url": target.url, "requests": "12", "wait": "true"}
    assert (await post(client, payload(meta)))[0] == 200
    [body] = await arrived(sink, 1)
    assert row(body["message"], f"GET {target.url}")[0] == "12"


def test_flag_and_environment_variable() -> None:
    """-notify-load-results and LOADTESTER_NOTIFY_LOAD_RESULTS set the service's switch."""
    assert parse_settings([]).notify_load_results is False
    assert parse_settings(["-notify-load-results"]).notify_load_results is True
    environ = {"LOADTESTER_NOTIFY_LOAD_RESULTS": "true"}
    assert parse_settings([], environ=environ).notify_load_results is True


def figures(total: int, rate: float, p99: float, error_rate: float = 0.0,
            checks: dict[str, int] | None = None) -> dict[str, Any]:
    """One request's part of a scenario's LoadResult.to_json() (latencies in seconds)."""
    return {"requests": total, "responses": total, "rate": rate, "error_rate": error_rate,
            "errors": {}, "elapsed": 60.0,
            "latency": {"p50": p99 / 4, "p95": p99 / 2, "p99": p99},
            "check_failures": checks or {}}


def test_scenario_report_has_a_row_per_request() -> None:
    """A scenario's result reads as a row per request, a total, and per-request limits."""
    result = {**figures(1060, 17.7, 0.812, 0.0943, {"body": 1}),
              "by_request": {"GET /": figures(800, 13.3, 0.0123),
                             "GET /api/items": figures(200, 3.3, 0.045),
                             "POST /api/orders": figures(60, 1.0, 0.812, 1.6667,
                                                         {"body": 1})}}
    broken = "POST /api/orders: p99 812ms > 200ms over 60 requests"
    text = load_report(result, Thresholds(max_error_rate=1.0), broken, canary="podinfo.test",
                       whole_run="unused",
                       request_thresholds={"POST /api/orders": Thresholds(max_p99=0.2),
                                           "GET /": Thresholds(max_p99=0.2)})
    assert text.startswith(f"Load test FAILED for podinfo.test: {broken}\n```\n")
    assert text.endswith("\n```")
    assert row(text, "GET /") == ["800", "13.3", "3.1ms", "6.2ms", "12ms", "0%", "-"]
    assert row(text, "POST /api/orders") == ["60", "1.0", "203ms", "406ms", "812ms", "1.7%",
                                             "body", "1"]
    assert row(text, "total")[0] == "1060"
    assert "  ok      maxErrorRate 1%" in text
    assert "  ok      GET / maxP99 200ms" in text
    assert ("  BROKEN  POST /api/orders maxP99 200ms: p99 812ms > 200ms over 60 requests, "
            "1.7% errors") in text
    assert "unused" not in text


async def test_scenario_run_sends_a_row_per_request(
    target: CountingServer, sink: WebhookSink, make_client: ClientFactory
) -> None:
    """A scenario run reports each request's count and failed checks, and the limit it broke."""
    client = await make_client(event_webhook_url=sink.url)
    scenario = (
        "requests:\n"
        f"  - {{name: home, url: '{target.url}', weight: 3}}\n"
        f"  - {{name: orders, method: POST, url: '{target.url}orders', body: '{{}}',"
        " weight: 1, expect: {body: 'created'}, thresholds: {maxErrorRate: 5}}\n"
    )
    meta = {"type": "load", "scenario": scenario, "requests": "40", "concurrency": "2",
            "wait": "true", "notify": "true", "maxP99": "30s"}
    status, answer = await post(client, payload(meta))
    assert status == 500, answer
    [body] = await arrived(sink, 1)
    message = body["message"]
    reason = "orders: error rate 100% > 5% over 10 requests"
    assert message.startswith(f"Load test FAILED for podinfo.test: {reason}")
    assert row(message, "home")[0] == "30"
    assert row(message, "home")[5:] == ["0%", "-"]
    assert row(message, "orders")[0] == "10"
    assert row(message, "orders")[5:] == ["100%", "body", "10"]
    assert row(message, "total")[0] == "40"
    assert "  ok      maxP99 30s" in message
    assert f"  BROKEN  orders maxErrorRate 5%: {reason[len('orders: '):]}" in message
