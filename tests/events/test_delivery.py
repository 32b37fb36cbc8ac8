"""The outbox's delivery rules: retries, Retry-After, dead letters, order, secrets."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from loadtester import metrics
from loadtester.events.dispatcher import backoff
from loadtester.events.sink import retry_after
from loadtester.keys import EVENTS
from tests.support.events import Received, event


def _config(tmp_path: Path, url: str, **delivery: str) -> str:
    extra = "".join(f"  {key}: {value}\n" for key, value in delivery.items())
    path = tmp_path / "events.yaml"
    path.write_text(f"sinks:\n  hook: {{type: webhook, url: '{url}'}}\n"
                    f"delivery:\n  min_backoff: 50ms\n  max_backoff: 200ms\n{extra}")
    return str(path)


def test_backoff_doubles_with_jitter_and_cap() -> None:
    """Backoff doubles per attempt, stays within [half, full] of its ceiling, and is capped."""
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (10, 60.0)):
        delay = backoff(attempt, 1.0, 60.0)
        assert ceiling / 2 <= delay <= ceiling


def test_retry_after_seconds_and_date() -> None:
    """Retry-After is read as seconds or as an HTTP date."""
    assert retry_after({"Retry-After": "7"}) == 7.0
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(1_000_030))
    assert retry_after({"Retry-After": date}, now=1_000_000) == 30.0
    assert retry_after({}) is None


@pytest.mark.system
async def test_429_retry_after_is_honoured(make_client: Any, make_receiver: Any,
                                           tmp_path: Path) -> None:
    """A 429 with Retry-After: 1 makes the next attempt wait about a second."""
    hook = await make_receiver()
    hook.answer = lambda r: ((429, {"Retry-After": "1"}, "slow down")
                             if len(hook.requests) == 1 else (200, {}, "ok"))
    client = await make_client(config=_config(tmp_path, hook.url))
    assert (await client.post("/events", json=event())).status == 202
    first, second = await hook.wait_for(2, within=5)
    assert second.at - first.at >= 0.95
    assert first.body == second.body


async def test_client_error_is_dead_lettered(make_client: Any, make_receiver: Any,
                                             tmp_path: Path) -> None:
    """A 404 from the tool is not retried: the delivery is dead-lettered, logged, counted."""
    hook = await make_receiver()
    hook.answer = lambda _r: (404, {}, "no_service")
    dead = metrics.EVENT_DELIVERIES.labels("hook", "dead")
    before = dead._value.get()
    client = await make_client(config=_config(tmp_path, hook.url))
    with capture_logs() as logs:
        assert (await client.post("/events", json=event())).status == 202
        await hook.wait_for(1)
        await asyncio.sleep(0.3)
    assert len(hook.requests) == 1
    assert await client.app[EVENTS].queue.counts() == {"dead": 1}
    assert dead._value.get() == before + 1
    (line,) = [log for log in logs if log["event"] == "event dead-lettered"]
    assert line["reason"] == "HTTP 404: no_service"
    assert line["canary"] == "podinfo"


@pytest.mark.system
async def test_dead_letter_after_max_age(make_client: Any, make_receiver: Any,
                                         tmp_path: Path) -> None:
    """A sink failing for longer than max_age gets the event dead-lettered, not retried forever."""
    hook = await make_receiver()
    hook.answer = lambda _r: (503, {}, "down")
    client = await make_client(config=_config(tmp_path, hook.url, max_age="500ms"))
    assert (await client.post("/events", json=event())).status == 202
    for _ in range(100):
        if (await client.app[EVENTS].queue.counts()).get("dead"):
            break
        await asyncio.sleep(0.05)
    assert await client.app[EVENTS].queue.counts() == {"dead": 1}
    attempts = len(hook.requests)
    await asyncio.sleep(0.4)
    assert len(hook.requests) == attempts >= 2


async def test_order_per_canary_survives_failures(make_client: Any, make_receiver: Any,
                                                  tmp_path: Path) -> None:
    """While a canary's head event is retried, later events of that canary wait; others flow."""
    hook = await make_receiver()

    def answer(request: Received) -> tuple[int, dict[str, str], str]:
        failing = request.body["name"] == "a" and sum(
            1 for seen in hook.requests if seen.body["name"] == "a") <= 3
        return (503, {}, "down") if failing else (200, {}, "ok")

    hook.answer = answer
    client = await make_client(config=_config(tmp_path, hook.url))
    for step in range(5):
        for name in ("a", "b"):
            payload = event(name=name, message=f"step {step}", timestamp=step)
            assert (await client.post("/events", json=payload)).status == 202
    await hook.wait_for(13, within=10)
    await asyncio.sleep(0.3)
    for name in ("a", "b"):
        seen = [body["message"] for body in hook.bodies if body["name"] == name]
        assert list(dict.fromkeys(seen)) == [f"step {step}" for step in range(5)]
    b_done = max(r.at for r in hook.requests if r.body["name"] == "b")
    a_done = max(r.at for r in hook.requests if r.body["name"] == "a")
    assert b_done < a_done


async def test_secret_urls_are_never_logged(make_client: Any, make_receiver: Any) -> None:
    """Neither the webhook URL nor its path appears in any log line, even on failures."""
    hook = await make_receiver()
    hook.answer = lambda _r: (400, {}, "invalid_payload")
    secret_path = "/services/T000/B000/XXXXSECRETXXXX"
    with capture_logs() as logs:
        client = await make_client(slack_url=hook.url + secret_path)
        assert (await client.post("/events", json=event())).status == 202
        await hook.wait_for(1)
        await asyncio.sleep(0.2)
        await client.close()
    assert logs
    assert "XXXXSECRETXXXX" not in repr(logs)
