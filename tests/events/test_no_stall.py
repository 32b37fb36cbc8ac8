"""Through the real app: bad input never stalls a lane, a down sink never burns CPU."""

from __future__ import annotations

import asyncio
import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from loadtester.keys import EVENTS
from tests.support.events import FakeReceiver, event


def _state(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "redis":
        return str(request.getfixturevalue("redis_url"))
    return "memory" if backend == "memory" else str(tmp_path / "state")


def _config(tmp_path: Path, url: str, headers: str = "") -> str:
    path = tmp_path / "events.yaml"
    path.write_text(f"sinks:\n  hook: {{type: webhook, url: '{url}'{headers}}}\n"
                    "delivery: {min_backoff: 50ms, max_backoff: 200ms}\n")
    return str(path)


async def _counts(client: Any, wanted: dict[str, int], within: float = 30.0) -> None:
    for _ in range(int(within / 0.05)):
        if await client.app[EVENTS].queue.counts() == wanted:
            return
        await asyncio.sleep(0.05)
    assert await client.app[EVENTS].queue.counts() == wanted


@pytest.mark.parametrize("stamp", ["100000000000000000000", "9000000000000000000", "-1e3"])
async def test_timestamps_no_datetime_holds_are_400(make_client: Any, stamp: str) -> None:
    """A timestamp past 64 bits, past year 9999 or not an integer answers 400, not 202."""
    client = await make_client()
    payload = event()
    payload["metadata"]["timestamp"] = stamp
    response = await client.post("/events", json=payload)
    assert response.status == 400
    assert "metadata.timestamp" in await response.text()


async def test_a_header_aiohttp_refuses_is_dead_and_the_lane_goes_on(
        make_client: Any, make_receiver: Any, tmp_path: Path) -> None:
    """A control character in a metadata value, used in a header (here for Warnings only), is
    dead-lettered at once with the reason; the canary's next event is delivered. (A canary
    name cannot carry one: it is refused as not a Kubernetes name.)"""
    hook = await make_receiver()
    header = "{% if event_type == 'Warning' %}{{ metadata.owner }}{% endif %}"
    client = await make_client(config=_config(tmp_path, hook.url,
                                              f", headers: {{X-Warning-For: \"{header}\"}}"))
    with capture_logs() as logs:
        for kind, message in (("Warning", "Halt advancement"), ("Normal", "Advance")):
            payload = event(event_type=kind, message=message, owner="pod\x01info")
            assert (await client.post("/events", json=payload)).status == 202
        await _counts(client, {"dead": 1, "delivered": 1})
    assert [request.body["message"] for request in hook.requests] == ["Advance"]
    (line,) = [line for line in logs if line["event"] == "event dead-lettered"]
    assert line["reason"].startswith("cannot send the message: ValueError: ")


@pytest.mark.system
@pytest.mark.parametrize("backend", ["memory", "sqlite", "redis"])
async def test_a_down_sink_gets_one_attempt_at_a_time(
        make_client: Any, make_receiver: Any, tmp_path: Path, backend: str,
        request: pytest.FixtureRequest) -> None:
    """2 000 lanes pending to a sink that answers 500: one attempt at a time reaches it, the
    depth gauge counts them all, and once it is back every entry is delivered."""
    hook: FakeReceiver = await make_receiver()
    hook.delay = 0.01
    up = {"now": False}
    hook.answer = lambda _r: (200, {}, "ok") if up["now"] else (500, {}, "down")
    client = await make_client(config=_config(tmp_path, hook.url), event_fold_window=0,
                               state=_state(backend, tmp_path, request))
    assert (await client.post("/events", json=event(name="first"))).status == 202
    await hook.wait_for(1)
    await asyncio.sleep(0.1)  # the first answer (500) has opened the breaker
    seen = len(hook.requests)
    lanes = 2000
    for index in range(lanes):
        payload = event(name=f"c{index}", message=f"m{index}")
        assert (await client.post("/events", json=payload)).status == 202
    probes = hook.requests[seen:]
    text = await (await client.get("/metrics")).text()
    depth = re.search(r'loadtester_outbox_depth\{sink="hook"\} (\S+)', text)
    assert depth is not None and float(depth.group(1)) == lanes + 1
    up["now"] = True
    await _counts(client, {"delivered": lanes + 1}, within=60)
    arrivals = [probe.at for probe in probes]
    assert all(b - a >= hook.delay for a, b in itertools.pairwise(arrivals))
    assert len(probes) < lanes / 10
    messages = {r.body["message"] for r in hook.requests if r.body["name"] != "first"}
    assert len(messages) == lanes
