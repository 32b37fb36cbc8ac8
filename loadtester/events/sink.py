"""What every sink shares: options, the HTTP call it builds, and how an answer is judged."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from loadtester.durations import parse_go_duration
from loadtester.events.event import Event
from loadtester.events.templates import DEFAULT_TEXT, DEFAULT_TITLE, Template, compile_template

Outcome = Literal["delivered", "retry", "dead"]


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        return parse_go_duration(value)
    return value


Duration = Annotated[float, BeforeValidator(_duration), Field(ge=0)]

COLOURS = {"info": "#2EB886", "warn": "#DAA038", "error": "#D00000"}


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


def json_call(url: str, document: Any, headers: dict[str, str] | None = None) -> HttpCall:
    body = json.dumps(document, separators=(",", ":"), default=str).encode()
    return HttpCall(url, body, {"Content-Type": "application/json", **(headers or {})})


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


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Sink:
    """A named destination. Subclasses build the request their tool documents."""

    kind: ClassVar[str] = ""

    def __init__(self, name: str, options: SinkOptions, url: str) -> None:
        self.name = name
        self.url = url
        self.timeout = options.timeout
        self.title = compile_template(options.title, DEFAULT_TITLE)
        self.text = compile_template(options.text, DEFAULT_TEXT)

    def templates(self) -> list[tuple[str, Template]]:
        """(option name, template) of every template, checked at start-up."""
        return [("title", self.title), ("text", self.text)]

    def accepts(self, event: Event) -> bool:
        """False for events this sink has nothing to say about."""
        return True

    def request(self, event: Event, count: int) -> HttpCall:
        raise NotImplementedError

    def judge(self, status: int, headers: Any, body: bytes) -> Verdict:
        return judge_http(status, headers, body)

    def render_title(self, event: Event, count: int) -> str:
        return self.title.render(event.context(count))

    def render_text(self, event: Event, count: int) -> str:
        return self.text.render(event.context(count))

    def facts(self, event: Event) -> list[tuple[str, str]]:
        """Fields shown beside the message in chat tools."""
        facts = [("Canary", event.canary), ("Phase", event.phase or "-"),
                 ("Event", event.event_type)]
        facts.extend(event.user_metadata.items())
        return facts
