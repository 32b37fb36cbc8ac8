"""-console-url: messages of canaries waiting for approval, and load results, link to the
canary's console page in each tool's own link form; without the flag nothing changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadtester.event import LOAD_RESULT_KEY, Event
from loadtester.events.discord import CONTENT_LIMIT, DiscordOptions, DiscordSink
from loadtester.events.gchat import PAYLOAD_LIMIT as GCHAT_LIMIT
from loadtester.events.gchat import GChatOptions, GChatSink
from loadtester.events.limits import size
from loadtester.events.links import console_link
from loadtester.events.msteams import PAYLOAD_LIMIT as TEAMS_LIMIT
from loadtester.events.msteams import TeamsOptions, TeamsSink
from tests.support.client import ClientFactory
from tests.support.events import FakeReceiver, event
from tests.support.servers import CountingServer
from tests.support.tasks import payload, post

CONSOLE = "https://lt.example.com/tools"
PAGE = f"{CONSOLE}/ui/canary/test/podinfo"
APPROVE = f"{PAGE}?approve=85d557f47b"
GATE = "Halt podinfo.test advancement waiting for promotion approval promotion-gate"
KINDS = ("slack", "teams", "messagecard", "discord", "gchat", "gchat_text", "rocket",
         "webhook", "alertmanager")


SINKS = {
    "slack": "{{type: slack, url: '{url}/services/x'}}",
    "teams": "{{type: msteams, url: '{url}/workflows'}}",
    "messagecard": "{{type: msteams, format: messagecard, url: '{url}/c'}}",
    "discord": "{{type: discord, url: '{url}/api/webhooks/1/a'}}",
    "gchat": "{{type: gchat, url: '{url}/v1/spaces/x/messages'}}",
    "gchat_text": "{{type: gchat, format: text, url: '{url}/v1/spaces/y/messages'}}",
    "rocket": "{{type: rocket, url: '{url}/hooks/x'}}",
    "webhook": "{{type: webhook, url: '{url}/hook'}}",
    "alertmanager": "{{type: alertmanager, url: '{url}'}}",
}


async def _every_sink(make_client: ClientFactory, make_receiver: Any, tmp_path: Path,
                      payloads: list[dict[str, Any]], kinds: tuple[str, ...] = KINDS,
                      **settings: Any) -> dict[str, list[bytes]]:
    """Post `payloads` to a service with one sink of each kind; the raw bodies each got."""
    receivers: dict[str, FakeReceiver] = {kind: await make_receiver() for kind in kinds}
    lines = [f"  {kind}: " + SINKS[kind].format(url=receivers[kind].url) for kind in kinds]
    config = tmp_path / "events.yaml"
    config.write_text("sinks:\n" + "\n".join(lines) + "\n")
    client = await make_client(config=str(config), **settings)
    for body in payloads:
        assert (await client.post("/events", json=body)).status == 202
    return {kind: [request.raw for request in await receiver.wait_for(len(payloads))]
            for kind, receiver in receivers.items()}


async def _bodies(make_client: ClientFactory, make_receiver: Any, tmp_path: Path,
                  body: dict[str, Any], kinds: tuple[str, ...] = KINDS,
                  **settings: Any) -> dict[str, Any]:
    """The JSON body each sink got for `body`."""
    raw = await _every_sink(make_client, make_receiver, tmp_path, [body], kinds, **settings)
    return {kind: json.loads(requests[0]) for kind, requests in raw.items()}


async def test_gate_event_links_to_the_approve_dialog_in_every_sink(
        make_client: ClientFactory, make_receiver: Any, tmp_path: Path) -> None:
    """A "waiting for promotion approval" warning carries <console>/ui/canary/NS/NAME?approve=
    CHECKSUM as a Slack button, Teams Action.OpenUrl and OpenUri, Discord and Chat links,
    a Rocket.Chat title link, annotations.console_url and a webhook console_url field."""
    bodies = await _bodies(make_client, make_receiver, tmp_path,
                           event(message=GATE, event_type="Warning"), console_url=CONSOLE + "/")
    [attachment] = bodies["slack"]["attachments"]
    assert attachment["actions"] == [{"type": "button", "text": "Review and approve",
                                      "url": APPROVE}]
    card = bodies["teams"]["attachments"][0]["content"]
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Review and approve",
                                "url": APPROVE}]
    assert bodies["messagecard"]["potentialAction"] == [{
        "@type": "OpenUri", "name": "Review and approve",
        "targets": [{"os": "default", "uri": APPROVE}]}]
    discord = bodies["discord"]
    assert discord["content"].endswith(f"\n[Review and approve](<{APPROVE}>)")
    assert discord["embeds"][0]["url"] == APPROVE
    widgets = bodies["gchat"]["cardsV2"][0]["card"]["sections"][0]["widgets"]
    assert widgets[-1] == {"buttonList": {"buttons": [
        {"text": "Review and approve", "onClick": {"openLink": {"url": APPROVE}}}]}}
    assert bodies["gchat_text"]["text"].endswith(f"\n<{APPROVE}|Review and approve>")
    assert bodies["rocket"]["attachments"][0]["title_link"] == APPROVE
    [alert] = bodies["alertmanager"]
    assert alert["annotations"]["console_url"] == APPROVE
    assert bodies["webhook"]["console_url"] == APPROVE


async def test_waiting_promotion_phase_links_with_its_checksum(
        make_client: ClientFactory, make_receiver: Any, tmp_path: Path) -> None:
    """An event in phase WaitingPromotion links to the approve dialog for its checksum."""
    bodies = await _bodies(make_client, make_receiver, tmp_path,
                           event(phase="WaitingPromotion", message="Waiting for promotion"),
                           ("slack", "webhook"), console_url=CONSOLE)
    assert bodies["slack"]["attachments"][0]["actions"][0]["url"] == APPROVE
    assert bodies["webhook"]["console_url"] == APPROVE


async def test_other_events_are_unchanged_by_the_flag(
        make_client: ClientFactory, make_receiver: Any, tmp_path: Path) -> None:
    """Events that neither wait at a gate nor report a load run are the same bytes with the
    flag as without it; "waiting for rollout to finish" is no gate."""
    stamp = 1_700_000_000_000
    plain = [event(timestamp=stamp), event(
        message="Halt podinfo-primary.test advancement waiting for rollout to finish: 1 old "
        "replicas are pending termination", event_type="Warning", timestamp=stamp + 1)]
    with_flag = await _every_sink(make_client, make_receiver, tmp_path, plain,
                                  KINDS[:-1], state="memory", console_url=CONSOLE)
    without = await _every_sink(make_client, make_receiver, tmp_path, plain, KINDS[:-1],
                                state="memory")
    assert with_flag == without


async def test_without_the_flag_a_gate_event_has_no_link(
        make_client: ClientFactory, make_receiver: Any, tmp_path: Path) -> None:
    """Without -console-url a gate event's messages have no button, action or field."""
    bodies = await _bodies(make_client, make_receiver, tmp_path,
                           event(message=GATE, event_type="Warning"))
    assert "actions" not in bodies["slack"]["attachments"][0]
    assert "actions" not in bodies["teams"]["attachments"][0]["content"]
    assert "potentialAction" not in bodies["messagecard"]
    assert "url" not in bodies["discord"]["embeds"][0]
    assert "title_link" not in bodies["rocket"]["attachments"][0]
    assert "console_url" not in bodies["alertmanager"][0]["annotations"]
    assert "console_url" not in bodies["webhook"]


async def test_load_result_links_to_the_canary_page(
        target: CountingServer, make_client: ClientFactory, make_receiver: Any) -> None:
    """A load run's result message links to the canary page, without ?approve, and the
    marker is no fact of the message."""
    slack, hook = await make_receiver(), await make_receiver()
    client = await make_client(slack_url=slack.url + "/s", event_webhook_url=hook.url + "/h",
                               console_url=CONSOLE)
    meta = {"type": "load", "url": target.url, "requests": "5", "wait": "true",
            "notify": "true"}
    assert (await post(client, payload(meta)))[0] == 200
    [result] = await hook.wait_for(1)
    assert result.body["console_url"] == PAGE
    assert result.body["message"].startswith("Load test passed for podinfo.test")
    [message] = await slack.wait_for(1)
    attachment = message.body["attachments"][0]
    assert attachment["actions"] == [{"type": "button", "text": "Open in the console",
                                      "url": PAGE}]
    assert LOAD_RESULT_KEY not in {field["title"] for field in attachment["fields"]}


@pytest.mark.parametrize(("name", "namespace", "checksum", "link"), [
    ("podinfo", "test", "abc", "https://c.example/ui/canary/test/podinfo?approve=abc"),
    ("a b", "n/s", "x&y=z#?", "https://c.example/ui/canary/n%2Fs/a%20b?approve=x%26y%3Dz%23%3F"),
])
def test_link_parts_are_url_encoded(name: str, namespace: str, checksum: str,
                                    link: str) -> None:
    """Namespace, name and checksum are percent-encoded into the link."""
    waiting = Event(name, namespace, "WaitingPromotion", checksum, "waiting", "Normal", 0)
    found = console_link("https://c.example", waiting)
    assert found is not None and found.url == link


def test_no_flag_no_link() -> None:
    """Without a console URL no event has a link."""
    waiting = Event("podinfo", "test", "WaitingPromotion", "abc", "waiting", "Normal", 0)
    assert console_link("", waiting) is None


@pytest.mark.parametrize("message", [
    "Halt podinfo.test advancement waiting for approval confirm-rollout",
    "Halt podinfo.test advancement waiting for traffic increase approval traffic-gate",
    "Halt podinfo.test advancement waiting for promotion approval promotion-gate",
])
def test_each_flagger_gate_message_links(message: str) -> None:
    """Flagger's three manual-gate warnings each link to the approve dialog."""
    halted = Event("podinfo", "test", "Progressing", "abc", message, "Warning", 0)
    found = console_link("https://c.example", halted)
    assert found is not None and found.url.endswith("?approve=abc")


def test_links_survive_the_longest_messages() -> None:
    """A 100 000-character gate message is cut to each tool's limit, the link kept whole."""
    long = Event("podinfo", "test", "Progressing", "abc", GATE + " " + "x" * 100_000,
                 "Warning", 0)
    link = "https://c.example/ui/canary/test/podinfo?approve=abc"
    discord = DiscordSink("d", DiscordOptions(type="discord"), "http://d.example")
    discord.console_url = "https://c.example"
    content = discord.message(long, 1)["content"]
    assert size(content) <= CONTENT_LIMIT and content.endswith(f"(<{link}>)")
    teams = TeamsSink("t", TeamsOptions(type="msteams"), "http://t.example")
    teams.console_url = "https://c.example"
    body = teams.request(long, 1).body
    assert len(body) <= TEAMS_LIMIT and link.encode() in body
    chat = GChatSink("g", GChatOptions(type="gchat", format="text"), "http://g.example")
    chat.console_url = "https://c.example"
    body = chat.request(long, 1).body
    assert len(body) <= GCHAT_LIMIT and json.loads(body)["text"].endswith(f"<{link}|"
                                                                          "Review and approve>")
