"""Microsoft Teams: a Workflows webhook taking an Adaptive Card message (the default), or the
legacy Office 365 connector's MessageCard (`format: messagecard`)."""

from __future__ import annotations

from typing import Any, Literal

from loadtester.events.event import Event
from loadtester.events.sink import COLOURS, HttpCall, Sink, SinkOptions, json_call

_CARD_COLOURS = {"info": "Good", "warn": "Warning", "error": "Attention"}


class TeamsOptions(SinkOptions):
    type: Literal["msteams"]
    format: Literal["adaptive", "messagecard"] = "adaptive"


class TeamsSink(Sink):
    kind = "msteams"

    def __init__(self, name: str, options: TeamsOptions, url: str) -> None:
        super().__init__(name, options, url)
        self.format = options.format

    def adaptive_card(self, event: Event, count: int) -> dict[str, Any]:
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "msteams": {"width": "Full"},
            "body": [
                {"type": "TextBlock", "text": self.render_title(event, count),
                 "weight": "Bolder", "size": "Medium", "wrap": True,
                 "color": _CARD_COLOURS[event.severity]},
                {"type": "TextBlock", "text": self.render_text(event, count), "wrap": True},
                {"type": "FactSet", "facts": [{"title": title, "value": value}
                                              for title, value in self.facts(event)]},
            ],
        }
        return {"type": "message", "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": card,
        }]}

    def message_card(self, event: Event, count: int) -> dict[str, Any]:
        text = self.render_text(event, count)
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "themeColor": COLOURS[event.severity].lstrip("#"),
            "summary": text,
            "sections": [{
                "activityTitle": self.render_title(event, count),
                "activitySubtitle": text,
                "facts": [{"name": title, "value": value} for title, value in self.facts(event)],
                "markdown": True,
            }],
        }

    def request(self, event: Event, count: int) -> HttpCall:
        if self.format == "messagecard":
            return json_call(self.url, self.message_card(event, count))
        return json_call(self.url, self.adaptive_card(event, count))
