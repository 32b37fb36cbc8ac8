"""Discord: an execute-webhook call with `content` and one embed (colour, fields, timestamp).

`allowed_mentions: {"parse": []}` stops `@everyone`, `@here`, `<@id>` and `<@&role>` in a
message from pinging anyone; Discord shows them as text.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from loadtester.event import Event
from loadtester.events.limits import cut, size
from loadtester.events.sink import (
    COLOURS,
    HttpCall,
    SinkBase,
    SinkOptions,
    Verdict,
    json_call,
    judge_http,
)

# discord.com/developers/docs/resources/message#embed-object-embed-limits and Execute Webhook:
# content 2 000 characters; embed title 256, description 4 096, 25 fields, and 6 000 characters
# in all of an embed's title, description, field names and values, footer and author. Counted
# in UTF-16 units, never fewer than characters.
CONTENT_LIMIT = 2_000
DESCRIPTION_LIMIT = 4_096
EMBED_LIMIT = 6_000
MAX_FIELDS = 25
FOOTER = "Flagger"
STANDARD_FIELDS = 3  # Canary, Phase, Event: see Sink.facts


def embed_parts(title: str, text: str,
                facts: list[tuple[str, str]]) -> tuple[str, list[tuple[str, str]]]:
    """The description and fields that keep the embed within EMBED_LIMIT: the canary, phase
    and event fields (each cut already, so some room is always left), then the message, then
    the user's metadata fields that still fit."""

    def cost(fact: tuple[str, str]) -> int:
        return size(fact[0]) + size(fact[1] or "-")

    fields = facts[:STANDARD_FIELDS]
    used = size(title) + size(FOOTER) + sum(map(cost, fields))
    description = cut(text, min(DESCRIPTION_LIMIT, EMBED_LIMIT - used))
    used += size(description)
    for fact in facts[STANDARD_FIELDS:MAX_FIELDS]:
        if used + cost(fact) <= EMBED_LIMIT:
            fields.append(fact)
            used += cost(fact)
    return description, fields


class DiscordOptions(SinkOptions):
    type: Literal["discord"]
    username: str = "Flagger"
    avatar_url: str = ""


class DiscordSink(SinkBase):
    kind = "discord"

    def __init__(self, name: str, options: DiscordOptions, url: str) -> None:
        super().__init__(name, options, url)
        self.options = options

    def message(self, event: Event, count: int) -> dict[str, Any]:
        title = self.render_title(event, count)
        text = self.render_text(event, count)
        description, fields = embed_parts(title, text, self.facts(event))
        link = self.link(event)
        # -console-url only: a markdown link after the message (<> keeps Discord from
        # previewing the page), and the embed's title links there too
        after = f"\n[{link.label}](<{link.url}>)" if link is not None else ""
        document: dict[str, Any] = {
            "username": self.options.username,
            "content": cut(f"**{title}**: {text}", CONTENT_LIMIT - size(after)) + after,
            "embeds": [{
                "title": title,
                "description": description,
                "color": int(COLOURS[event.severity].lstrip("#"), 16),
                "fields": [{"name": name, "value": value or "-", "inline": True}
                           for name, value in fields],
                "timestamp": event.time.isoformat().replace("+00:00", "Z"),
                "footer": {"text": FOOTER},
            }],
            "allowed_mentions": {"parse": []},
        }
        if link is not None:
            document["embeds"][0]["url"] = link.url
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
