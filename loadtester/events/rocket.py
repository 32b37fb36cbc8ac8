"""Rocket.Chat: an incoming webhook with `text` and one attachment (colour, fields).

Rocket.Chat notifies on `@all`, `@here` and `@username` and documents no escape for them, so
event content gets a zero-width joiner after such an `@`: shown the same, it pings no one.
"""

from __future__ import annotations

from typing import Any, Literal

from loadtester.event import Event
from loadtester.events.limits import cut, neutralise_mentions
from loadtester.events.sink import HttpCall, SinkBase, SinkOptions, json_call

_COLOURS = {"info": "#0076D7", "warn": "#DAA038", "error": "#FF0000"}
# Message_MaxAllowedSize, 5 000 characters by default (Administration > Message, "Maximum
# Allowed Characters Per Message"); a longer `text` is refused (error-message-size-exceeded).
# JavaScript string length, i.e. UTF-16 units.
TEXT_LIMIT = 5_000


class RocketOptions(SinkOptions):
    type: Literal["rocket"]
    channel: str = ""
    username: str = "Flagger"
    emoji: str = ":rocket:"


class RocketSink(SinkBase):
    kind = "rocket"

    def __init__(self, name: str, options: RocketOptions, url: str) -> None:
        super().__init__(name, options, url)
        self.options = options

    def scrub(self, text: str) -> str:
        return neutralise_mentions(text)

    def message(self, event: Event, count: int) -> dict[str, Any]:
        title = self.render_title(event, count)
        text = self.render_text(event, count)
        document: dict[str, Any] = {
            "alias": self.options.username,
            "emoji": self.options.emoji,
            "text": cut(f"*{title}*: {text}", TEXT_LIMIT),
            "attachments": [{
                "title": title,
                "text": cut(text, TEXT_LIMIT),
                "color": _COLOURS[event.severity],
                "fields": [{"title": name, "value": value, "short": True}
                           for name, value in self.facts(event)],
            }],
        }
        link = self.link(event)
        if link is not None:  # -console-url only: the attachment's title links there
            document["attachments"][0]["title_link"] = link.url
        if self.options.channel:
            document["channel"] = self.options.channel
        return document

    def request(self, event: Event, count: int) -> HttpCall:
        return json_call(self.url, self.message(event, count))
