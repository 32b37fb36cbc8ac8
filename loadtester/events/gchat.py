"""Google Chat: an incoming webhook taking a cardsV2 message (default) or plain `text`."""

from __future__ import annotations

import html
from typing import Any, Literal

from loadtester.events.event import Event
from loadtester.events.sink import COLOURS, HttpCall, Sink, SinkOptions, json_call


class GChatOptions(SinkOptions):
    type: Literal["gchat"]
    format: Literal["card", "text"] = "card"


class GChatSink(Sink):
    kind = "gchat"

    def __init__(self, name: str, options: GChatOptions, url: str) -> None:
        super().__init__(name, options, url)
        self.format = options.format

    def card(self, event: Event, count: int) -> dict[str, Any]:
        title = self.render_title(event, count)
        text = self.render_text(event, count)
        colour = COLOURS[event.severity]
        widgets: list[dict[str, Any]] = [{"textParagraph": {
            "text": f'<font color="{colour}">{html.escape(text)}</font>'}}]
        widgets.extend({"decoratedText": {"topLabel": label, "text": html.escape(value)}}
                       for label, value in self.facts(event))
        return {
            "text": f"{title}: {text}",
            "cardsV2": [{
                "cardId": f"flagger-{event.canary}-{event.timestamp_ms}",
                "card": {
                    "header": {"title": "Flagger", "subtitle": title},
                    "sections": [{"widgets": widgets}],
                },
            }],
        }

    def request(self, event: Event, count: int) -> HttpCall:
        if self.format == "text":
            title = self.render_title(event, count)
            return json_call(self.url, {"text": f"*{title}*: {self.render_text(event, count)}"})
        return json_call(self.url, self.card(event, count))
