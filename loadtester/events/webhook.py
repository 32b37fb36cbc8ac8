"""A generic webhook: the event as JSON, or a templated JSON body, with templated headers.

No limit of its own: the message goes whole unless `max_message_bytes` is set, which cuts
the event message (in the default body and in what templates see) to that many UTF-8 bytes.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from loadtester.event import Event
from loadtester.events.limits import cut
from loadtester.events.sink import HttpCall, SinkBase, SinkOptions, json_body
from loadtester.events.templates import Template


class WebhookOptions(SinkOptions):
    type: Literal["webhook"]
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    header_files: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    max_message_bytes: int = Field(default=0, ge=0)


def default_body(event: Event, count: int, text: str, message: str,
                 console_url: str = "") -> dict[str, Any]:
    """The document posted when no `body` template is given; `console_url` only with a link."""
    document: dict[str, Any] = {
        "name": event.name, "namespace": event.namespace, "phase": event.phase,
        "checksum": event.checksum, "eventType": event.event_type, "severity": event.severity,
        "message": message, "text": text, "timestamp": event.timestamp_ms,
        "count": count, "metadata": event.metadata,
    }
    if console_url:
        document["console_url"] = console_url
    return document


class WebhookSink(SinkBase):
    kind = "webhook"

    def __init__(self, name: str, options: WebhookOptions, url: str,
                 secret_headers: dict[str, str] | None = None) -> None:
        super().__init__(name, options, url)
        self.method = options.method
        self.header_templates = {key: Template(value) for key, value in options.headers.items()}
        self.secret_headers = dict(secret_headers or {})
        self.body = Template(options.body) if options.body is not None else None
        self.max_message_bytes = options.max_message_bytes

    def templates(self) -> list[tuple[str, Template]]:
        found = [*super().templates(),
                 *((f"headers.{key}", value) for key, value in self.header_templates.items())]
        if self.body is not None:
            found.append(("body", self.body))
        return found

    def context(self, event: Event, count: int) -> dict[str, Any]:
        context = super().context(event, count)
        if self.max_message_bytes:
            context["message"] = cut(context["message"], self.max_message_bytes, "bytes")
        return context

    def render_body(self, event: Event, count: int) -> bytes:
        if self.body is None:
            context = self.context(event, count)
            document = default_body(event, count, self.render_text(event, count),
                                    context["message"], context["console_url"])
            return json_body(document)
        text = self.body.render(self.context(event, count))
        try:
            json.loads(text)
        except ValueError as exc:
            raise ValueError(f"body template did not render JSON: {exc}") from None
        return text.encode()

    def request(self, event: Event, count: int) -> HttpCall:
        context = self.context(event, count)
        headers = {"Content-Type": "application/json"}
        headers.update({key: value.render(context)
                        for key, value in self.header_templates.items()})
        headers.update(self.secret_headers)
        return HttpCall(self.url, self.render_body(event, count), headers, self.method)
