"""Discord: an execute-webhook call with `content` and one embed (colour, fields, timestamp)."""

from __future__ import annotations

import json
from typing import Any, Literal

from loadtester.events.event import Event
from loadtester.events.sink import (
    COLOURS,
    HttpCall,
    Sink,
    SinkOptions,
    Verdict,
    clip,
    json_call,
    judge_http,
)


class DiscordOptions(SinkOptions):
    type: Literal["discord"]
    username: str = "Flagger"
    avatar_url: str = ""


class DiscordSink(Sink):
    kind = "discord"

    def __init__(self, name: str, options: DiscordOptions, url: str) -> None:
        super().__init__(name, options, url)
        self.options = options

    def message(self, event: Event, count: int) -> dict[str, Any]:
        title = self.render_title(event, count)
        text = self.render_text(event, count)
        document: dict[str, Any] = {
            "username": self.options.username,
            "content": clip(f"**{title}**: {text}", 2000),
            "embeds": [{
                "title": clip(title, 256),
                "description": clip(text, 4096),
                "color": int(COLOURS[event.severity].lstrip("#"), 16),
                "fields": [{"name": clip(name, 256), "value": clip(value or "-", 1024),
                            "inline": True} for name, value in self.facts(event)[:25]],
                "timestamp": event.time.isoformat().replace("+00:00", "Z"),
                "footer": {"text": "Flagger"},
            }],
            "allowed_mentions": {"parse": []},
        }
        if self.options.avatar_url:
            document["avatar_url"] = self.options.avatar_url
        return document

    def request(self, event: Event, count: int) -> HttpCall:
        return json_call(self.url, self.message(event, count))

    def judge(self, status: int, headers: Any, body: bytes) -> Verdict:
        verdict = judge_http(status, headers, body)
        if status == 429 and verdict.retry_after is None:
            # Discord also states the wait in the body: {"retry_after": 1.5, ...}
            try:
                wait = float(json.loads(body).get("retry_after"))
            except (ValueError, TypeError, AttributeError):
                return verdict
            return Verdict("retry", verdict.reason, wait)
        return verdict
