"""POST /events and /events/<sink>: answers, duplicates, folding, terminal phases."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from loadtester.keys import EVENTS, RUNNER
from tests.support.events import event


async def test_event_is_accepted_and_delivered(make_client: Any, make_receiver: Any) -> None:
    """A valid event answers 202 and reaches the configured sink."""
    hook = await make_receiver()
    client = await make_client(event_webhook_url=hook.url + "/hook")
    response = await client.post("/events", json=event())
    assert response.status == 202
    (request,) = await hook.wait_for(1)
    assert request.body["message"] == "Advance podinfo.test canary weight 10"
    assert request.body["name"] == "podinfo"
    await asyncio.sleep(0.1)
    text = await (await client.get("/metrics")).text()
    assert 'loadtester_events_received_total{phase="Progressing",type="Normal"}' in text
    assert 'loadtester_event_deliveries_total{outcome="delivered",sink="webhook"}' in text
    assert 'loadtester_event_delivery_seconds_count{sink="webhook"}' in text
    assert 'loadtester_outbox_depth{sink="webhook"} 0.0' in text


async def test_bad_payloads_get_400_with_reason(make_client: Any) -> None:
    """Non-JSON, a missing name or a missing eventMessage answer 400 saying why."""
    client = await make_client()
    response = await client.post("/events", data=b"{nope")
    assert response.status == 400
    assert "invalid JSON" in await response.text()
    response = await client.post("/events", json={"namespace": "test"})
    assert response.status == 400
    assert "name is required" in await response.text()
    response = await client.post("/events", json={"name": "a", "namespace": "b", "metadata": {}})
    assert response.status == 400
    assert "eventMessage is required" in await response.text()
    bad_type = event(event_type="Error")
    response = await client.post("/events", json=bad_type)
    assert response.status == 400
    assert "eventType" in await response.text()


async def test_unknown_sink_is_404(make_client: Any, make_receiver: Any) -> None:
    """POST /events/<sink> answers 404 for a sink nobody configured."""
    hook = await make_receiver()
    client = await make_client(event_webhook_url=hook.url)
    response = await client.post("/events/nope", json=event())
    assert response.status == 404
    assert "nope" in await response.text()


async def test_named_sink_only(make_client: Any, make_receiver: Any) -> None:
    """/events/<sink> delivers to that sink alone."""
    slack, hook = await make_receiver(), await make_receiver()
    client = await make_client(slack_url=slack.url, event_webhook_url=hook.url)
    assert (await client.post("/events/webhook", json=event())).status == 202
    await hook.wait_for(1)
    await asyncio.sleep(0.2)
    assert slack.requests == []


async def test_flagger_retry_is_delivered_once(make_client: Any, make_receiver: Any) -> None:
    """The same event posted twice (Flagger retrying) is delivered once."""
    hook = await make_receiver()
    client = await make_client(event_webhook_url=hook.url, event_fold_window=0)
    payload = event(timestamp=1_700_000_000_000)
    for _ in range(3):
        assert (await client.post("/events", json=payload)).status == 202
    other = event(timestamp=1_700_000_000_001, message="Advance podinfo.test canary weight 20")
    assert (await client.post("/events", json=other)).status == 202
    await hook.wait_for(2)
    await asyncio.sleep(0.3)
    assert [body["message"] for body in hook.bodies] == [
        "Advance podinfo.test canary weight 10", "Advance podinfo.test canary weight 20"]


@pytest.mark.system
async def test_repeats_are_folded_with_a_count(make_client: Any, make_receiver: Any) -> None:
    """Identical messages of a canary within the window are sent once, with a count."""
    hook = await make_receiver()
    hook.answer = lambda _r: (503, {}, "busy")  # hold the first one pending
    client = await make_client(event_webhook_url=hook.url, event_fold_window=60)
    message = "Halt podinfo.test advancement waiting for approval"
    for step in range(4):
        payload = event(message=message, phase="WaitingPromotion", timestamp=1000 + step)
        assert (await client.post("/events", json=payload)).status == 202
    other = event(message="Halt podinfo.test advancement waiting for approval",
                  name="other", timestamp=2000)
    assert (await client.post("/events", json=other)).status == 202
    hook.answer = lambda _r: (200, {}, "ok")
    await hook.wait_for(3, within=10)
    await asyncio.sleep(0.3)
    delivered = [body for body in hook.bodies if body.get("count")]
    by_canary = {body["name"]: body for body in delivered}
    assert by_canary["podinfo"]["count"] == 4
    assert "repeated 4 times" in by_canary["podinfo"]["text"]
    assert by_canary["other"]["count"] == 1


async def test_terminal_phase_cancels_background_tasks(make_client: Any, tmp_path: Any) -> None:
    """An event with phase Succeeded stops the canary's background tasks."""
    client = await make_client()
    started = await client.post("/", json={"name": "podinfo", "namespace": "test",
                                           "metadata": {"type": "cmd", "cmd": "sleep 30"}})
    assert started.status == 202
    runner = client.app[RUNNER]
    assert len(runner.running) == 1
    response = await client.post("/events", json=event(phase="Succeeded",
                                                       message="Promotion completed!"))
    assert response.status == 202
    for _ in range(100):
        if not runner.running:
            break
        await asyncio.sleep(0.05)
    assert runner.running == []


async def test_memory_state_keeps_the_same_behaviour(make_client: Any,
                                                     make_receiver: Any) -> None:
    """With -state=memory events are still queued, deduplicated and delivered."""
    hook = await make_receiver()
    client = await make_client(state="memory", event_webhook_url=hook.url)
    payload = event()
    for _ in range(2):
        assert (await client.post("/events", json=payload)).status == 202
    await hook.wait_for(1)
    await asyncio.sleep(0.2)
    assert len(hook.requests) == 1
    assert await client.app[EVENTS].queue.counts() == {"delivered": 1}
