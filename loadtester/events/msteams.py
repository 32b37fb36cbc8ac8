"""Microsoft Teams: a Workflows webhook taking an Adaptive Card message (the default), or the
legacy Office 365 connector's MessageCard (`format: messagecard`).

Teams mentions someone only for an `<at>` tag backed by a `msteams.entities` mention, which
this sink never sends: text in a message cannot ping anyone, so nothing is escaped.
"""

from __future__ import annotations

from typing import Any, Literal

from loadtester.event import Event
from loadtester.events.limits import cut
from loadtester.events.sink import COLOURS, HttpCall, SinkBase, SinkOptions, fit_json

_CARD_COLOURS = {"info": "Good", "warn": "Warning", "error": "Attention"}
# "The message size limit is 28 KB" (learn.microsoft.com/microsoftteams/platform/
# webhooks-and-connectors/how-to/add-incoming-webhook), the whole payload; users measured
# rejections from about 21 KB (MsTeamsHermes MSTEAMS_MESSAGE_SIZE_LIMIT), so keep under that.
PAYLOAD_LIMIT = 20_000


class TeamsOptions(SinkOptions):
    type: Literal["msteams"]
    format: Literal["adaptive", "messagecard"] = "adaptive"


class TeamsSink(SinkBase):
    kind = "msteams"

    def __init__(self, name: str, options: TeamsOptions, url: str) -> None:
        super().__init__(name, options, url)
        self.format = options.format

    def adaptive_card(self, event: Event, count: int,
                      budget: int = PAYLOAD_LIMIT) -> dict[str, Any]:
        text = cut(self.render_text(event, count), budget, "bytes")
        facts = self.facts(event, budget // 16)
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "msteams": {"width": "Full"},
            "body": [
                {"type": "TextBlock", "text": self.render_title(event, count),
                 "weight": "Bolder", "size": "Medium", "wrap": True,
                 "color": _CARD_COLOURS[event.severity]},
                {"type": "TextBlock", "text": text, "wrap": True},
                {"type": "FactSet", "facts": [{"title": title, "value": value}
                                              for title, value in facts]},
            ],
        }
        link = self.link(event)
        if link is not None:  # -console-url only
            card["actions"] = [{"type": "Action.OpenUrl", "title": link.label, "url": link.url}]
        return {"type": "message", "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": card,
        }]}

    def message_card(self, event: Event, count: int,
                     budget: int = PAYLOAD_LIMIT) -> dict[str, Any]:
        text = cut(self.render_text(event, count), budget, "bytes")
        facts = self.facts(event, budget // 16)
        document: dict[str, Any] = {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "themeColor": COLOURS[event.severity].lstrip("#"),
            "summary": text,
            "sections": [{
                "activityTitle": self.render_title(event, count),
                "activitySubtitle": text,
                "facts": [{"name": title, "value": value} for title, value in facts],
                "markdown": True,
            }],
        }
        link = self.link(event)
        if link is not None:  # -console-url only
            document["potentialAction"] = [{"@type": "OpenUri", "name": link.label,
                                            "targets": [{"os": "default", "uri": link.url}]}]
        return document

    def request(self, event: Event, count: int) -> HttpCall:
        build = self.message_card if self.format == "messagecard" else self.adaptive_card
        body = fit_json(lambda budget: build(event, count, budget), PAYLOAD_LIMIT)
        return HttpCall(self.url, body, {"Content-Type": "application/json"})
