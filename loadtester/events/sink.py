"""What a sink is (the Sink protocol: the HTTP call it builds for an event, how it judges the
answer) and what the sinks share: options, JSON bodies, Retry-After, templated text (SinkBase)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from loadtester.durations import parse_go_duration
from loadtester.event import Event
from loadtester.events.limits import FACT_NAME_LIMIT, FACT_VALUE_LIMIT, TITLE_LIMIT, cut
from loadtester.events.links import ConsoleLink, console_link
from loadtester.events.templates import DEFAULT_TEXT, DEFAULT_TITLE, Template, compile_template

Outcome = Literal["delivered", "retry", "dead"]


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        return parse_go_duration(value)
    return value


Duration = Annotated[float, BeforeValidator(_duration), Field(ge=0)]

COLOURS = {"info": "#2EB886", "warn": "#DAA038", "error": "#D00000"}
MAX_FACTS = 25  # Discord's field count, the strictest of the tools


class SinkOptions(BaseModel):
    """Keys every sink accepts; secrets come from `url` or, better, `url_file`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    url: str = ""
    url_file: str = ""
    timeout: Duration = 10.0
    title: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class HttpCall:
    """One request to a tool; `body` is JSON-encoded already."""

    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


@dataclass(frozen=True)
class Verdict:
    """How one answer is taken: delivered, try again (maybe not before `retry_after`), or dead."""

    outcome: Outcome
    reason: str
    retry_after: float | None = None


def json_body(document: Any) -> bytes:
    """UTF-8 JSON: a character costs its 1-4 bytes, not a 6-12 byte escape, against a size
    limit. A lone surrogate, which UTF-8 cannot carry, becomes `?`."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=str)
    return text.encode("utf-8", "replace")


def json_call(url: str, document: Any, headers: dict[str, str] | None = None) -> HttpCall:
    headers = {"Content-Type": "application/json", **(headers or {})}
    return HttpCall(url, json_body(document), headers)


def fit_json(build: Callable[[int], Any], limit: int) -> bytes:
    """The JSON body of `build(budget)` for the largest budget that keeps the whole body within
    `limit` bytes; `build` cuts the message text to `budget` UTF-8 bytes (its facts to less).
    The body only grows with the budget, so a binary search finds it in about 15 builds."""
    body = json_body(build(limit))
    if len(body) <= limit:
        return body
    low, high = 0, limit - 1
    while low < high:
        middle = (low + high + 1) // 2
        if len(json_body(build(middle))) <= limit:
            low = middle
        else:
            high = middle - 1
    return json_body(build(low))


def retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    raw = headers.get("Retry-After") if headers is not None else None
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def judge_http(status: int, headers: Any, body: bytes) -> Verdict:
    """The rule of most webhooks: 2xx delivered; 408, 425, 429, 5xx retried; else dead."""
    if 200 <= status < 300:
        return Verdict("delivered", f"HTTP {status}")
    reason = f"HTTP {status}: {short(body)}" if body else f"HTTP {status}"
    if status in (408, 425, 429) or status >= 500:
        return Verdict("retry", reason, retry_after(headers))
    return Verdict("dead", reason)


def short(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", "replace").strip().replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Sink(Protocol):
    """A named destination of events: a chat tool, Alertmanager, a webhook."""

    @property
    def kind(self) -> str:
        """The `type` of its options: slack, msteams, webhook, ..."""
        ...

    @property
    def name(self) -> str:
        """Its name in the configuration (routes name it)."""
        ...

    @property
    def timeout(self) -> float:
        """Seconds one delivery attempt may take."""
        ...

    def templates(self) -> list[tuple[str, Template]]:
        """(option name, template) of every template, checked at start-up."""
        ...

    def accepts(self, event: Event) -> bool:
        """False for events this sink has nothing to say about."""
        ...

    def request(self, event: Event, count: int) -> HttpCall:
        """The HTTP call delivering `event`, folded `count` times."""
        ...

    def judge(self, status: int, headers: Any, body: bytes) -> Verdict:
        """How the tool's answer is taken: delivered, retry or dead."""
        ...


class SinkBase:
    """The shared part of the sinks: name, URL, timeout, title and text templates, the rule
    of most webhooks for answers. A subclass adds the `request` its tool documents."""

    kind: ClassVar[str] = ""

    def __init__(self, name: str, options: SinkOptions, url: str) -> None:
        self.name = name
        self.url = url
        self.timeout = options.timeout
        self.title = compile_template(options.title, DEFAULT_TITLE)
        self.text = compile_template(options.text, DEFAULT_TEXT)
        self.console_url = ""  # -console-url, set by the configuration: links in messages

    def templates(self) -> list[tuple[str, Template]]:
        """(option name, template) of every template, checked at start-up."""
        return [("title", self.title), ("text", self.text)]

    def accepts(self, event: Event) -> bool:
        """False for events this sink has nothing to say about."""
        return True

    def judge(self, status: int, headers: Any, body: bytes) -> Verdict:
        return judge_http(status, headers, body)

    def scrub(self, text: str) -> str:
        """What the tool needs done to event content (escapes, mentions); templates' own
        text is the operator's and left as written."""
        return text

    def link(self, event: Event) -> ConsoleLink | None:
        """The console link `event`'s message carries, if any (see events/links.py)."""
        return console_link(self.console_url, event)

    def context(self, event: Event, count: int) -> dict[str, Any]:
        """The template context, its event strings scrubbed; `console_url` is the message's
        console link or empty."""
        context = event.context(count)
        for key, value in context.items():
            if isinstance(value, str):
                context[key] = self.scrub(value)
            elif isinstance(value, dict):
                context[key] = {k: self.scrub(v) if isinstance(v, str) else v
                                for k, v in value.items()}
        link = self.link(event)
        context["console_url"] = link.url if link else ""
        return context

    def render_title(self, event: Event, count: int) -> str:
        return cut(self.title.render(self.context(event, count)), TITLE_LIMIT)

    def render_text(self, event: Event, count: int) -> str:
        return self.text.render(self.context(event, count))

    def facts(self, event: Event, limit: int | None = None) -> list[tuple[str, str]]:
        """Fields shown beside the message in chat tools: scrubbed, at most MAX_FACTS, each
        name and value cut to the field limits or, given `limit`, to that many UTF-8 bytes."""
        facts = [("Canary", event.canary), ("Phase", event.phase or "-"),
                 ("Event", event.event_type)]
        facts.extend(event.user_metadata.items())

        def shown(text: str, most: int) -> str:
            text = cut(self.scrub(text), most)
            return text if limit is None else cut(text, limit, "bytes")

        return [(shown(name, FACT_NAME_LIMIT), shown(value, FACT_VALUE_LIMIT))
                for name, value in facts[:MAX_FACTS]]
