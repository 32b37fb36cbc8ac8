"""Events arrive whatever their content: mentions in a message ping no one, and a message
over a tool's size limit is cut to it, with a marker, instead of being refused."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from loadtester.events.limits import MARKER, size
from tests.support.events import FakeReceiver, Received, event

SINKS = ("slack", "msteams", "discord", "gchat", "rocket", "alertmanager", "webhook", "capped")
CAPPED_BYTES = 1000
HOSTILE = ("Rollback <!channel> <!here> @here @all <users/all> <@U123> & mail ops@example.com")
LONG_ASCII = ("<!channel> @here & " * 2200)[:40_000]
LONG_MULTIBYTE = "<!channel> " + " ".join(["é€😀"] * 12_000)
BIG_METADATA = {f"note{i:02}": "€" * 1200 for i in range(30)}


async def _deliver_everywhere(make_client: Any, make_receiver: Any, tmp_path: Path,
                              payload: dict[str, Any]) -> dict[str, Received]:
    """Post one event to a service with one sink of each kind; what each receiver got."""
    receivers: dict[str, FakeReceiver] = {name: await make_receiver() for name in SINKS}
    lines = ["sinks:"]
    for name, receiver in receivers.items():
        kind = "webhook" if name == "capped" else name
        extra = f", max_message_bytes: {CAPPED_BYTES}" if name == "capped" else ""
        lines.append(f"  {name}: {{type: {kind}, url: '{receiver.url}/{name}'{extra}}}")
    config = tmp_path / "events.yaml"
    config.write_text("\n".join(lines) + "\n")
    client = await make_client(config=str(config))
    assert (await client.post("/events", json=payload)).status == 202
    return {name: (await receiver.wait_for(1, within=20))[0]
            for name, receiver in receivers.items()}


def _failed(message: str, **metadata: str) -> dict[str, Any]:
    return event(phase="Failed", event_type="Warning", message=message, **metadata)


async def test_mentions_in_a_message_ping_no_one(make_client: Any, make_receiver: Any,
                                                 tmp_path: Path) -> None:
    """`<!channel>`, `@here`, `<users/all>` in a message or metadata reach people as text."""
    got = await _deliver_everywhere(make_client, make_receiver, tmp_path,
                                    _failed(HOSTILE, team="<!subteam^S1> @here"))

    slack = got["slack"].body
    (attachment,) = slack["attachments"]
    assert attachment["text"] == (
        "Rollback &lt;!channel&gt; &lt;!here&gt; @here @all &lt;users/all&gt; &lt;@U123&gt; "
        "&amp; mail ops@example.com")
    assert "<" not in got["slack"].raw.decode()
    assert slack["link_names"] is False and slack["parse"] == "none"
    assert {"title": "team", "value": "&lt;!subteam^S1&gt; @here", "short": True} in (
        attachment["fields"])

    discord = got["discord"].body
    assert discord["allowed_mentions"] == {"parse": []}
    assert discord["embeds"][0]["description"] == HOSTILE

    rocket = got["rocket"].body
    texts = [rocket["text"], rocket["attachments"][0]["text"],
             *(field["value"] for field in rocket["attachments"][0]["fields"])]
    assert not any(re.search(r"(?<![A-Za-z0-9])@(all|here)\b", text) for text in texts)
    assert "@\u200dhere @\u200dall" in rocket["text"]
    assert "ops@example.com" in rocket["text"]

    gchat = got["gchat"].raw.decode()
    assert "<users/all>" not in gchat and "<!channel>" not in gchat
    assert "<\u200dusers/all>" in got["gchat"].body["text"]

    teams = got["msteams"].raw.decode()
    assert "entities" not in teams and "<at>" not in teams

    # machines, not people, read these: the message goes as it was written
    assert got["alertmanager"].body[0]["annotations"]["description"] == HOSTILE
    assert got["webhook"].body["message"] == HOSTILE


@pytest.mark.parametrize("message", [LONG_ASCII, LONG_MULTIBYTE], ids=["ascii", "multibyte"])
async def test_a_long_message_reaches_every_sink_within_its_limit(
        make_client: Any, make_receiver: Any, tmp_path: Path, message: str) -> None:
    """A 40 KB message (and 30 large metadata values) is cut to each tool's limit, marked."""
    got = await _deliver_everywhere(make_client, make_receiver, tmp_path,
                                    _failed(message, **BIG_METADATA))
    for received in got.values():
        received.raw.decode("utf-8")  # strict: no character was cut in half

    (attachment,) = got["slack"].body["attachments"]
    assert size(attachment["text"]) <= 40_000
    assert attachment["text"].endswith(MARKER)
    assert not re.search(r"&(?!(amp|lt|gt);)", attachment["text"].removesuffix(MARKER))
    assert size(attachment["fallback"]) <= 3_000

    discord = got["discord"].body
    (embed,) = discord["embeds"]
    assert size(discord["content"]) <= 2_000 and discord["content"].endswith(MARKER)
    assert size(embed["description"]) <= 4_096 and embed["description"].endswith(MARKER)
    parts = [embed["title"], embed["description"], embed["footer"]["text"],
             *(f["name"] + f["value"] for f in embed["fields"])]
    assert sum(map(size, parts)) <= 6_000
    assert len(embed["fields"]) <= 25
    assert all(size(f["name"]) <= 256 and size(f["value"]) <= 1024 for f in embed["fields"])

    teams = got["msteams"]
    assert len(teams.raw) <= 28_000
    blocks = teams.body["attachments"][0]["content"]["body"]
    assert blocks[1]["text"].endswith(MARKER)

    gchat = got["gchat"]
    assert len(gchat.raw) <= 32_000
    assert gchat.body["text"].endswith(MARKER)
    widgets = gchat.body["cardsV2"][0]["card"]["sections"][0]["widgets"]
    assert widgets[0]["textParagraph"]["text"].endswith(MARKER + "</font>")

    rocket = got["rocket"].body
    for text in (rocket["text"], rocket["attachments"][0]["text"]):
        assert size(text) <= 5_000 and text.endswith(MARKER)

    (alert,) = got["alertmanager"].body
    description = alert["annotations"]["description"]
    assert size(description, "bytes") <= 16 * 1024 and description.endswith(MARKER)

    assert got["webhook"].body["message"] == message
    capped = got["capped"].body["message"]
    assert size(capped, "bytes") <= CAPPED_BYTES and capped.endswith(MARKER)


async def test_a_webhook_body_over_a_mebibyte_is_delivered(make_client: Any,
                                                           make_receiver: Any) -> None:
    """A message whose webhook body grows past 1 MiB (message and text) reaches it whole."""
    receiver = await make_receiver()
    client = await make_client(event_webhook_url=f"{receiver.url}/hook")
    message = "x" * 600_000
    assert (await client.post("/events", json=_failed(message))).status == 202
    (got,) = await receiver.wait_for(1, within=20)
    assert len(got.raw) > 1024 * 1024
    assert got.body["message"] == message
