"""Each sink posts the format its tool documents, checked by a fake receiver of that tool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.events import event

FAILED = "Canary failed! Scaling down podinfo.test"


async def _deliver(make_client: Any, receiver: Any, payload: dict[str, Any],
                   **settings: Any) -> Any:
    client = await make_client(**settings)
    assert (await client.post("/events", json=payload)).status == 202
    (request,) = await receiver.wait_for(1)
    return request


async def test_slack_incoming_webhook(make_client: Any, make_receiver: Any) -> None:
    """Slack gets attachments with a danger colour, author, text, mrkdwn and fields."""
    slack = await make_receiver()
    request = await _deliver(make_client, slack,
                             event(phase="Failed", message=FAILED, event_type="Warning",
                                   environment="prod"),
                             slack_url=slack.url + "/services/T0/B0/x")
    assert request.path == "/services/T0/B0/x"
    body = request.body
    assert body["username"] and body["icon_emoji"] == ":rocket:"
    (attachment,) = body["attachments"]
    assert attachment["color"] == "danger"
    assert attachment["author_name"] == "podinfo.test"
    assert attachment["text"] == FAILED
    assert attachment["fallback"]
    assert attachment["mrkdwn_in"] == ["text"]
    fields = {field["title"]: field["value"] for field in attachment["fields"]}
    assert fields["Phase"] == "Failed"
    assert fields["environment"] == "prod"
    assert all(isinstance(field["short"], bool) for field in attachment["fields"])


async def test_slack_bot_token_uses_chat_post_message(make_client: Any, make_receiver: Any,
                                                      tmp_path: Path) -> None:
    """With a bot token Slack gets chat.postMessage with a channel and a Bearer token."""
    api = await make_receiver()
    api.answer = lambda _r: (200, {"Content-Type": "application/json"}, '{"ok": true}')
    token = tmp_path / "token"
    token.write_text("xoxb-secret\n")
    config = tmp_path / "events.yaml"
    config.write_text(f"""
sinks:
  deploys:
    type: slack
    token_file: {token}
    channel: "#deploys"
    api_url: {api.url}/api/chat.postMessage
""")
    request = await _deliver(make_client, api, event(), config=str(config))
    assert request.path == "/api/chat.postMessage"
    assert request.headers["Authorization"] == "Bearer xoxb-secret"
    assert request.body["channel"] == "#deploys"
    assert request.body["attachments"][0]["color"] == "good"


async def test_teams_workflows_adaptive_card(make_client: Any, make_receiver: Any) -> None:
    """Teams gets a Workflows message holding an Adaptive Card by default."""
    teams = await make_receiver()
    teams.answer = lambda _r: (202, {}, "")
    request = await _deliver(make_client, teams, event(), msteams_url=teams.url + "/workflows")
    body = request.body
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["version"] and card["$schema"].startswith("http://adaptivecards.io")
    texts = [block["text"] for block in card["body"] if block["type"] == "TextBlock"]
    assert "Advance podinfo.test canary weight 10" in texts
    facts = next(block for block in card["body"] if block["type"] == "FactSet")["facts"]
    assert {"title": "Phase", "value": "Progressing"} in facts


async def test_teams_legacy_message_card(make_client: Any, make_receiver: Any,
                                         tmp_path: Path) -> None:
    """format: messagecard posts the legacy connector's MessageCard."""
    teams = await make_receiver()
    config = tmp_path / "events.yaml"
    config.write_text(f"sinks:\n  teams: {{type: msteams, format: messagecard, "
                      f"url: '{teams.url}/connector'}}\n")
    request = await _deliver(make_client, teams, event(phase="Failed", message=FAILED),
                             config=str(config))
    body = request.body
    assert body["@type"] == "MessageCard"
    assert body["@context"] == "https://schema.org/extensions"
    assert body["summary"] == FAILED
    assert len(body["themeColor"]) == 6
    section = body["sections"][0]
    assert section["activityTitle"] == "podinfo.test"
    assert {"name": "Phase", "value": "Failed"} in section["facts"]


async def test_discord_content_and_embed(make_client: Any, make_receiver: Any) -> None:
    """Discord gets content and an embed with colour, fields and an ISO timestamp."""
    discord = await make_receiver()
    discord.answer = lambda _r: (204, {}, "")
    request = await _deliver(make_client, discord,
                             event(event_type="Warning", message="Halt advancement"),
                             discord_url=discord.url + "/api/webhooks/1/abc")
    body = request.body
    assert 0 < len(body["content"]) <= 2000
    (embed,) = body["embeds"]
    assert embed["title"] == "podinfo.test"
    assert embed["description"] == "Halt advancement"
    assert isinstance(embed["color"], int)
    assert embed["timestamp"].endswith("Z")
    assert all(set(field) == {"name", "value", "inline"} for field in embed["fields"])


async def test_google_chat_card_and_text(make_client: Any, make_receiver: Any,
                                         tmp_path: Path) -> None:
    """Google Chat gets cardsV2 (cardId, card header, sections) or plain text."""
    card_hook, text_hook = await make_receiver(), await make_receiver()
    config = tmp_path / "events.yaml"
    config.write_text(f"""
sinks:
  card: {{type: gchat, url: "{card_hook.url}/v1/spaces/x/messages"}}
  plain: {{type: gchat, format: text, url: "{text_hook.url}/v1/spaces/y/messages"}}
""")
    client = await make_client(config=str(config))
    assert (await client.post("/events", json=event())).status == 202
    (card_request,) = await card_hook.wait_for(1)
    (text_request,) = await text_hook.wait_for(1)
    (card,) = card_request.body["cardsV2"]
    assert card["cardId"]
    assert card["card"]["header"]["subtitle"] == "podinfo.test"
    widgets = card["card"]["sections"][0]["widgets"]
    assert "Advance podinfo.test canary weight 10" in widgets[0]["textParagraph"]["text"]
    assert text_request.body == {
        "text": "*podinfo.test*: Advance podinfo.test canary weight 10"}


async def test_rocket_chat(make_client: Any, make_receiver: Any) -> None:
    """Rocket.Chat gets text and an attachment with colour and fields."""
    rocket = await make_receiver()
    request = await _deliver(make_client, rocket, event(phase="Failed", message=FAILED),
                             rocket_url=rocket.url + "/hooks/abc/def")
    body = request.body
    assert FAILED in body["text"]
    (attachment,) = body["attachments"]
    assert attachment["color"] == "#FF0000"
    assert attachment["text"] == FAILED
    assert all({"title", "value", "short"} <= set(field) for field in attachment["fields"])


async def test_generic_webhook_templates(make_client: Any, make_receiver: Any,
                                         tmp_path: Path) -> None:
    """The generic webhook renders its JSON body and headers from sandboxed templates."""
    hook = await make_receiver()
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t")
    config = tmp_path / "events.yaml"
    config.write_text(f"""
sinks:
  pager:
    type: webhook
    url: {hook.url}/incident
    method: PUT
    headers:
      X-Canary: "{{{{ name }}}}.{{{{ namespace }}}}"
    header_files:
      Authorization: {secret}
    body: |
      {{"summary": {{{{ message | tojson }}}}, "sev": "{{{{ severity }}}}",
       "env": {{{{ metadata.environment | tojson }}}}}}
""")
    request = await _deliver(make_client, hook, event(environment="prod"), config=str(config))
    assert request.headers["X-Canary"] == "podinfo.test"
    assert request.headers["Authorization"] == "s3cr3t"
    assert request.body == {"summary": "Advance podinfo.test canary weight 10", "sev": "info",
                            "env": "prod"}
