"""Google Chat: an incoming webhook taking a cardsV2 message (default) or plain `text`.

A text message mentions people with `<users/ID>` and everyone with `<users/all>`
(developers.google.com/workspace/chat/format-messages); Chat documents no escape, so event
content gets a zero-width joiner after each `<`. Card text is HTML, escaped as such.
"""

from __future__ import annotations

import html
from typing import Any, Literal

from loadtester.event import Event
from loadtester.events.limits import cut, neutralise_angles
from loadtester.events.sink import COLOURS, HttpCall, SinkBase, SinkOptions, fit_json

# The maximum message size, text and cards together, is 32,000 bytes
# (developers.google.com/chat/reference/rest/v1/spaces.messages/create). Measured on the JSON
# body, which is never smaller than the message it carries.
PAYLOAD_LIMIT = 32_000


class GChatOptions(SinkOptions):
    type: Literal["gchat"]
    format: Literal["card", "text"] = "card"


class GChatSink(SinkBase):
    kind = "gchat"

    def __init__(self, name: str, options: GChatOptions, url: str) -> None:
        super().__init__(name, options, url)
        self.format = options.format

    def scrub(self, text: str) -> str:
        return neutralise_angles(text)

    def card(self, event: Event, count: int, budget: int = PAYLOAD_LIMIT) -> dict[str, Any]:
        title = self.render_title(event, count)
        text = self.render_text(event, count)
        colour = COLOURS[event.severity]
        shown = cut(html.escape(text), budget, "bytes", entities=True)
        widgets: list[dict[str, Any]] = [{"textParagraph": {
            "text": f'<font color="{colour}">{shown}</font>'}}]
        widgets.extend({"decoratedText": {"topLabel": label, "text": html.escape(value)}}
                       for label, value in self.facts(event, budget // 16))
        link = self.link(event)
        if link is not None:  # -console-url only: a button opening the console page
            widgets.append({"buttonList": {"buttons": [
                {"text": link.label, "onClick": {"openLink": {"url": link.url}}}]}})
        return {
            "text": cut(f"{title}: {text}", budget, "bytes"),
            "cardsV2": [{
                "cardId": f"flagger-{event.canary}-{event.timestamp_ms}",
                "card": {
                    "header": {"title": "Flagger", "subtitle": title},
                    "sections": [{"widgets": widgets}],
                },
            }],
        }

    def text_message(self, event: Event, count: int,
                     budget: int = PAYLOAD_LIMIT) -> dict[str, Any]:
        title = self.render_title(event, count)
        link = self.link(event)
        # -console-url only: Chat's <url|text> link after the message
        after = f"\n<{link.url}|{link.label}>" if link is not None else ""
        text = cut(f"*{title}*: {self.render_text(event, count)}",
                   max(0, budget - len(after.encode())), "bytes")
        return {"text": text + after}

    def request(self, event: Event, count: int) -> HttpCall:
        build = self.text_message if self.format == "text" else self.card
        body = fit_json(lambda budget: build(event, count, budget), PAYLOAD_LIMIT)
        return HttpCall(self.url, body, {"Content-Type": "application/json"})
