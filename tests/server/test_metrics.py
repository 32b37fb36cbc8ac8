"""/metrics: Prometheus text with task, gate and HTTP metrics after use."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from loadtester.keys import RUNNER
from tests.support.client import ClientFactory
from tests.support.metrics import scrape, value


async def post(client: Any, path: str, body: dict[str, Any]) -> int:
    """Status of one POST."""
    async with client.post(path, data=json.dumps(body)) as response:
        await response.read()
        return response.status


async def test_metrics_text(make_client: ClientFactory) -> None:
    """/metrics answers Prometheus text including process metrics."""
    client = await make_client()
    samples = await scrape(client)
    assert "process_resident_memory_bytes" in samples


async def test_task_metrics(make_client: ClientFactory) -> None:
    """Task started/finished counters and the duration histogram count bash runs."""
    client = await make_client()
    before = await scrape(client)
    ok = {"name": "metrics-a", "namespace": "test", "metadata": {"type": "bash", "cmd": "true"}}
    bad = {"name": "metrics-a", "namespace": "test", "metadata": {"type": "bash", "cmd": "exit 1"}}
    assert await post(client, "/", ok) == 200
    assert await post(client, "/", bad) == 500
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("loadtester_tasks_started_total", type="bash") == 2
    assert delta("loadtester_tasks_finished_total", type="bash", mode="blocking", outcome="ok") == 1
    assert delta("loadtester_tasks_finished_total", type="bash", mode="blocking",
                 outcome="failed") == 1
    assert delta("loadtester_task_duration_seconds_count", type="bash") == 2
    assert delta("loadtester_task_duration_seconds_bucket", type="bash", le="+Inf") == 2


async def test_running_gauge_and_skipped(make_client: ClientFactory) -> None:
    """The running gauge counts a background run; a duplicate call counts as skipped."""
    client = await make_client()
    before = await scrape(client)
    body = {"name": "metrics-b", "namespace": "test", "metadata": {"cmd": "sleep 30"}}
    assert await post(client, "/", body) == 202
    assert await post(client, "/", body) == 202
    during = await scrape(client)
    assert value(during, "loadtester_tasks_running", type="cmd", mode="background") == (
        value(before, "loadtester_tasks_running", type="cmd", mode="background") + 1
    )
    assert value(during, "loadtester_tasks_skipped_total", type="cmd") == (
        value(before, "loadtester_tasks_skipped_total", type="cmd") + 1
    )
    runner = client.server.app[RUNNER]
    await runner.cancel_canary("metrics-b", "test", "test over")
    await asyncio.gather(*(r.future for r in runner.running), return_exceptions=True)
    after = await scrape(client)
    assert value(after, "loadtester_tasks_running", type="cmd", mode="background") == (
        value(before, "loadtester_tasks_running", type="cmd", mode="background")
    )
    assert value(after, "loadtester_tasks_finished_total", type="cmd", mode="background",
                 outcome="cancelled") >= 1


async def test_gate_gauge(make_client: ClientFactory) -> None:
    """The gate gauges count open gates and open rollback gates."""
    client = await make_client()
    body = {"name": "metrics-c", "namespace": "test"}
    assert await post(client, "/gate/open", body) == 202
    samples = await scrape(client)
    assert value(samples, "loadtester_gates_open", gate="gate") == 1
    assert value(samples, "loadtester_gates_open", gate="rollback") == 0
    assert await post(client, "/gate/close", body) == 202
    assert await post(client, "/rollback/open", body) == 202
    samples = await scrape(client)
    assert value(samples, "loadtester_gates_open", gate="gate") == 0
    assert value(samples, "loadtester_gates_open", gate="rollback") == 1


@pytest.mark.system
async def test_metrics_do_not_grow_with_gates(make_client: ClientFactory) -> None:
    """Thousands of open gates add no series to /metrics: its size stays the same."""
    client = await make_client()
    await post(client, "/gate/open", {"name": "first", "namespace": "test"})
    async with client.get("/metrics") as response:
        size = len(await response.read())
    for index in range(2000):
        await post(client, "/gate/open", {"name": f"c{index}", "namespace": "test"})
    async with client.get("/metrics") as response:
        text = await response.text()
    assert 'loadtester_gates_open{gate="gate"} 2001.0' in text
    assert abs(len(text) - size) < 2000  # request counters grow a little, never per gate


async def test_http_requests(make_client: ClientFactory) -> None:
    """HTTP requests are counted by route path, method and status code."""
    client = await make_client()
    before = await scrape(client)
    body = {"name": "metrics-d", "namespace": "test"}
    assert await post(client, "/gate/check", body) == 403
    assert await post(client, "/", body) == 400
    assert await post(client, "/some/other/path", body) == 400
    async with client.get("/healthz") as response:
        assert response.status == 200
    after = await scrape(client)

    def delta(**labels: str) -> float:
        return value(after, "loadtester_http_requests_total", **labels) - value(
            before, "loadtester_http_requests_total", **labels
        )

    assert delta(path="/gate/check", method="POST", code="403") == 1
    assert delta(path="/", method="POST", code="400") == 2
    assert delta(path="/healthz", method="GET", code="200") == 1
    # arbitrary paths must not create one label value each
    assert all(
        labels["path"] != "/some/other/path"
        for labels, _ in after["loadtester_http_requests_total"]
    )


async def test_metrics_any_method(make_client: ClientFactory) -> None:
    """/metrics answers any method, like the Go service's promhttp handler."""
    client = await make_client()
    for method in ("POST", "HEAD"):
        async with client.request(method, "/metrics") as response:
            assert response.status == 200
