"""/events with no sink configured: accepted, dropped, and said so in the log."""

from __future__ import annotations

from structlog.testing import capture_logs

from loadtester.events.service import NO_SINKS
from tests.support.client import ClientFactory
from tests.support.events import event


async def test_no_sinks_warns_at_start_up_and_on_dropped_events(
    make_client: ClientFactory,
) -> None:
    """Start-up warns that events are dropped; a dropped event warns, at most once a minute."""
    with capture_logs() as logs:
        client = await make_client()
        started = [line for line in logs if line["event"] == NO_SINKS]
        assert [line["log_level"] for line in started] == ["warning"]
        for n in range(3):
            assert (await client.post("/events", json=event(message=f"m{n}"))).status == 202
    dropped = [line for line in logs if line["event"].startswith("event dropped")]
    assert len(dropped) == 1  # the next ones wait for the minute to pass, then give a count
    assert dropped[0]["log_level"] == "warning"
    assert dropped[0]["dropped"] == 1
    assert NO_SINKS in dropped[0]["event"]
    assert dropped[0]["canary"] == "podinfo"
