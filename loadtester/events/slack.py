"""Slack: an incoming webhook, or a bot token with chat.postMessage and a channel.

Both take a message with legacy `attachments` (colour bar by severity, author, text, fields).
Event content is escaped (`&`, `<`, `>`), so `<!channel>` or `<@U123>` in a message shows as
written and pings no one; `link_names: false` and `parse: none` keep a plain `@here` plain.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from loadtester.event import Event
from loadtester.events.limits import cut
from loadtester.events.sink import HttpCall, SinkBase, SinkOptions, Verdict, json_call, judge_http

SLACK_API = "https://slack.com/api/chat.postMessage"
_COLOURS = {"info": "good", "warn": "warning", "error": "danger"}
_RETRY_ERRORS = frozenset({"ratelimited", "rate_limited", "service_unavailable",
                           "fatal_error", "internal_error", "request_timeout"})
# Slack truncates message text beyond 40 000 characters (api.slack.com/changelog/
# 2018-04-truncating-really-long-messages; chat.postMessage `text` argument). Counted in UTF-16
# units, never less than characters. The fallback is a notification line: a block's 3 000.
TEXT_LIMIT = 40_000
FALLBACK_LIMIT = 3_000


def escape(text: str) -> str:
    """Slack's three control characters as the entities its formatting docs name
    (api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackOptions(SinkOptions):
    type: Literal["slack"]
    channel: str = ""
    username: str = "Flagger"
    icon_emoji: str = ":rocket:"
    token: str = ""
    token_file: str = ""
    api_url: str = SLACK_API


class SlackSink(SinkBase):
    kind = "slack"

    def __init__(self, name: str, options: SlackOptions, url: str, token: str = "") -> None:
        super().__init__(name, options, url)
        self.options = options
        self.token = token

    def scrub(self, text: str) -> str:
        return escape(text)

    def message(self, event: Event, count: int) -> dict[str, Any]:
        text = self.render_text(event, count)
        document: dict[str, Any] = {
            "username": self.options.username,
            "icon_emoji": self.options.icon_emoji,
            "link_names": False,
            "parse": "none",
            "attachments": [{
                "color": _COLOURS[event.severity],
                "fallback": cut(f"{escape(event.canary)}: {text}", FALLBACK_LIMIT, entities=True),
                "author_name": self.render_title(event, count),
                "text": cut(text, TEXT_LIMIT, entities=True),
                "mrkdwn_in": ["text"],
                "fields": [{"title": title, "value": value, "short": True}
                           for title, value in self.facts(event)],
                "footer": "Flagger",
                "ts": event.timestamp_ms // 1000,
            }],
        }
        link = self.link(event)
        if link is not None:  # a link button (attachment action), -console-url only
            document["attachments"][0]["actions"] = [
                {"type": "button", "text": link.label, "url": link.url}]
        if self.options.channel:
            document["channel"] = self.options.channel
        return document

    def request(self, event: Event, count: int) -> HttpCall:
        document = self.message(event, count)
        if self.token:
            return json_call(self.options.api_url, document,
                             {"Authorization": f"Bearer {self.token}"})
        return json_call(self.url, document)

    def judge(self, status: int, headers: Any, body: bytes) -> Verdict:
        verdict = judge_http(status, headers, body)
        if not self.token or verdict.outcome != "delivered":
            return verdict
        # the Web API answers 200 with {"ok": false, "error": "..."} on failure
        try:
            answer = json.loads(body)
        except ValueError:
            return Verdict("retry", "chat.postMessage answered no JSON")
        if isinstance(answer, dict) and answer.get("ok") is True:
            return verdict
        error = str(answer.get("error", "unknown")) if isinstance(answer, dict) else "unknown"
        if error in _RETRY_ERRORS:
            return Verdict("retry", f"chat.postMessage: {error}")
        return Verdict("dead", f"chat.postMessage: {error}")
