"""Rocket.Chat: an incoming webhook with `text` and one attachment (colour, fields)."""

from __future__ import annotations

from typing import Any, Literal

from loadtester.events.event import Event
from loadtester.events.sink import HttpCall, Sink, SinkOptions, json_call

_COLOURS = {"info": "#0076D7", "warn": "#DAA038", "error": "#FF0000"}


class RocketOptions(SinkOptions):
    type: Literal["rocket"]
    channel: str = ""
    username: str = "Flagger"
    emoji: str = ":rocket:"


class RocketSink(Sink):
    kind = "rocket"

    def __init__(self, name: str, options: RocketOptions, url: str) -> None:
        super().__init__(name, options, url)
        self.options = options

    def message(self, event: Event, count: int) -> dict[str, Any]:
        title = self.render_title(event, count)
        text = self.render_text(event, count)
        document: dict[str, Any] = {
            "alias": self.options.username,
            "emoji": self.options.emoji,
            "text": f"*{title}*: {text}",
            "attachments": [{
                "title": title,
                "text": text,
                "color": _COLOURS[event.severity],
                "fields": [{"title": name, "value": value, "short": True}
                           for name, value in self.facts(event)],
            }],
        }
        if self.options.channel:
            document["channel"] = self.options.channel
        return document

    def request(self, event: Event, count: int) -> HttpCall:
        return json_call(self.url, self.message(event, count))
