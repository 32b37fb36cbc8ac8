"""The events configuration: a YAML file (-config) of named sinks and routes, plus the sinks
the -slack-url style flags define. Any mistake is a ConfigError naming the file line.

    sinks:
      team-slack: {type: slack, url_file: /etc/loadtester/secrets/slack-url}
      am: {type: alertmanager, url: "http://alertmanager.monitoring:9093"}
    routes:
      - match: {eventType: Warning, phases: [Failed], namespace: "^prod-", canary: "",
                message: "(?i)rolling back"}
        sinks: [team-slack, am]
    delivery: {fold_window: 5m, max_age: 24h, max_attempts: 0, min_backoff: 1s, max_backoff: 5m}

Without `routes` every sink gets every event.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from loadtester.event import sample_event
from loadtester.events.alertmanager import AlertmanagerOptions, AlertmanagerSink
from loadtester.events.discord import DiscordOptions, DiscordSink
from loadtester.events.gchat import GChatOptions, GChatSink
from loadtester.events.msteams import TeamsOptions, TeamsSink
from loadtester.events.rocket import RocketOptions, RocketSink
from loadtester.events.sink import Duration, Sink, SinkBase, SinkOptions
from loadtester.events.slack import SlackOptions, SlackSink
from loadtester.events.templates import Template, TemplateProblem
from loadtester.events.webhook import WebhookOptions, WebhookSink
from loadtester.events.yamlsource import ConfigError, Source, read_yaml
from loadtester.models import PHASES
from loadtester.settings import Settings, valid_regexp

AnySinkOptions = Annotated[
    SlackOptions | TeamsOptions | DiscordOptions | GChatOptions | RocketOptions
    | WebhookOptions | AlertmanagerOptions,
    Field(discriminator="type"),
]
__all__ = ["ConfigError", "EventConfig", "load_event_config", "secret_files"]
# flag field -> (sink type, sink name)
FLAG_SINKS = {
    "slack_url": "slack", "msteams_url": "msteams", "discord_url": "discord",
    "gchat_url": "gchat", "rocket_url": "rocket", "alertmanager_url": "alertmanager",
    "event_webhook_url": "webhook",
}
_SINK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

DEFAULT_FOLD_WINDOW = 300.0
DEFAULT_MAX_AGE = 24 * 3600.0


class MatchModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    event_type: Literal["Normal", "Warning"] | None = Field(default=None, alias="eventType")
    phases: list[str] = Field(default_factory=list)
    namespace: str = ""
    canary: str = ""
    message: str = ""

    _regexps = field_validator("namespace", "canary", "message")(valid_regexp)

    @field_validator("phases")
    @classmethod
    def _phases(cls, value: list[str]) -> list[str]:
        for phase in value:
            if phase not in PHASES:
                raise ValueError(f"unknown phase {phase!r} (one of {', '.join(sorted(PHASES))})")
        return value


class RouteModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    match: MatchModel = Field(default_factory=MatchModel)
    sinks: list[str] = Field(min_length=1)


class DeliveryModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fold_window: Duration | None = None
    max_age: Duration | None = None
    max_attempts: int | None = Field(default=None, ge=0)
    min_backoff: Duration = 1.0
    max_backoff: Duration = 300.0
    concurrency: int = Field(default=16, ge=1, le=1024)


class FileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sinks: dict[str, AnySinkOptions] = Field(default_factory=dict)
    routes: list[RouteModel] | None = None
    delivery: DeliveryModel = Field(default_factory=DeliveryModel)


@dataclass(frozen=True)
class Delivery:
    """How events are delivered: folding window, dead-letter age and attempts (0: no limit),
    backoff bounds, attempts at once."""

    fold_window: float = DEFAULT_FOLD_WINDOW
    max_age: float = DEFAULT_MAX_AGE
    max_attempts: int = 0
    min_backoff: float = 1.0
    max_backoff: float = 300.0
    concurrency: int = 16


@dataclass(frozen=True)
class Route:
    """One compiled route."""

    event_type: str | None
    phases: frozenset[str]
    namespace: re.Pattern[str] | None
    canary: re.Pattern[str] | None
    message: re.Pattern[str] | None
    sinks: tuple[str, ...]


@dataclass(frozen=True)
class EventConfig:
    """Sinks by name, routes (None: every sink gets every event) and delivery settings."""

    sinks: dict[str, Sink]
    routes: tuple[Route, ...] | None
    delivery: Delivery



def _secret(source: Source, loc: tuple[Any, ...], path: str) -> str:
    try:
        value = Path(path).read_text().strip()
    except OSError as exc:
        raise source.error(loc, f"cannot read {path}: {exc.strerror}") from None
    if not value:
        raise source.error(loc, f"{path} is empty")
    return value


def _url(source: Source, loc: tuple[Any, ...], options: SinkOptions, needed: bool) -> str:
    if options.url and options.url_file:
        raise source.error(loc, "give url or url_file, not both")
    url = _secret(source, (*loc, "url_file"), options.url_file) if options.url_file \
        else options.url
    if needed and not url:
        raise source.error(loc, "url or url_file is required")
    if url and not re.match(r"^https?://", url):
        raise source.error((*loc, "url_file" if options.url_file else "url"),
                           "the URL must start with http:// or https://")
    return url


def _template_sources(options: SinkOptions) -> list[tuple[tuple[str, ...], str]]:
    found: list[tuple[tuple[str, ...], str]] = [
        ((key,), text) for key in ("title", "text", "body")
             if isinstance(text := getattr(options, key, None), str)]
    if isinstance(options, WebhookOptions):
        found.extend((("headers", key), text) for key, text in options.headers.items())
    return found


# the sink of one options model: (name, options of its type, where they were read)
SinkFactory = Callable[[str, Any, Source], Sink]


def _url_sink(make: Callable[[str, Any, str], Sink]) -> SinkFactory:
    """The factory of a sink made of its name, its options and a URL it cannot do without."""

    def build(name: str, options: SinkOptions, source: Source) -> Sink:
        return make(name, options, _url(source, ("sinks", name), options, True))

    return build


def _slack_sink(name: str, options: SlackOptions, source: Source) -> Sink:
    """An incoming webhook (url) or a bot token (token or token_file) with a channel."""
    loc = ("sinks", name)
    if options.token and options.token_file:
        raise source.error(loc, "give token or token_file, not both")
    token = (_secret(source, (*loc, "token_file"), options.token_file)
             if options.token_file else options.token)
    if token and not options.channel:
        raise source.error(loc, "a bot token needs a channel")
    return SlackSink(name, options, _url(source, loc, options, not token), token)


def _webhook_sink(name: str, options: WebhookOptions, source: Source) -> Sink:
    """A webhook with its secret headers read now and its body template tried on a sample."""
    loc = ("sinks", name)
    headers = {key: _secret(source, (*loc, "header_files", key), path)
               for key, path in options.header_files.items()}
    sink = WebhookSink(name, options, _url(source, loc, options, True), headers)
    _check_templates(sink, source)  # a template's own mistake first, as for any sink
    try:
        sink.render_body(sample_event(), 2)
    except ValueError as exc:
        raise source.error((*loc, "body"), str(exc)) from None
    return sink


SINK_FACTORIES: dict[str, SinkFactory] = {
    "slack": _slack_sink,
    "msteams": _url_sink(TeamsSink),
    "discord": _url_sink(DiscordSink),
    "gchat": _url_sink(GChatSink),
    "rocket": _url_sink(RocketSink),
    "webhook": _webhook_sink,
    "alertmanager": _url_sink(AlertmanagerSink),
}


def build_sink(name: str, options: SinkOptions, source: Source) -> Sink:
    """The sink of one options model; secrets read from their files now."""
    loc: tuple[Any, ...] = ("sinks", name)
    if not _SINK_NAME.match(name):
        raise source.error(loc, "a sink name takes letters, digits, '.', '_' and '-'")
    for key, text in _template_sources(options):
        try:
            Template(text)
        except TemplateProblem as exc:
            raise source.error((*loc, *key), str(exc)) from None
    factory = SINK_FACTORIES.get(options.type)
    if factory is None:  # pragma: no cover - AnySinkOptions admits the table's types only
        raise source.error(loc, f"unknown sink type {options.type!r}")
    sink = factory(name, options, source)
    _check_templates(sink, source)
    return sink


def _check_templates(sink: Sink, source: Source) -> None:
    """Render each of the sink's templates once: mistakes show at start-up."""
    for option, template in sink.templates():
        try:
            template.check()
        except TemplateProblem as exc:
            raise source.error(("sinks", sink.name, *option.split(".")), str(exc)) from None


def _compile(pattern: str) -> re.Pattern[str] | None:
    return re.compile(pattern) if pattern else None


def _model(data: Any, source: Source) -> FileModel:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise source.error((), "the file must be a mapping with sinks, routes and delivery")
    try:
        return FileModel.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        problem = str(error["msg"]).removeprefix("Value error, ")
        raise source.error(tuple(error["loc"]), problem) from None


_OPTIONS: dict[str, type[SinkOptions]] = {
    "slack": SlackOptions, "msteams": TeamsOptions, "discord": DiscordOptions,
    "gchat": GChatOptions, "rocket": RocketOptions, "webhook": WebhookOptions,
    "alertmanager": AlertmanagerOptions,
}


def load_event_config(settings: Settings) -> EventConfig:
    """Read -config and the sink flags; raise ConfigError with a one-line message."""
    if settings.config:
        data, source = read_yaml(settings.config)
    else:
        data, source = {}, Source("config", {})
    model = _model(data, source)
    sinks = {name: build_sink(name, options, source) for name, options in model.sinks.items()}
    for field, name in FLAG_SINKS.items():
        url = str(getattr(settings, field))
        if not url:
            continue
        flag = "-" + field.replace("_", "-")
        if name in sinks:
            raise ConfigError(f"{flag} defines sink {name!r}, which {settings.config} defines too")
        options = _OPTIONS[name].model_validate({"type": name, "url": url})
        sinks[name] = build_sink(name, options, Source(flag, {}, flag=True))
    for sink in sinks.values():  # -console-url: waiting and load-result messages link to it
        if isinstance(sink, SinkBase):
            sink.console_url = settings.console_url
    routes: tuple[Route, ...] | None = None
    if model.routes is not None:
        compiled = []
        for index, route in enumerate(model.routes):
            for position, name in enumerate(route.sinks):
                if name not in sinks:
                    raise source.error(("routes", index, "sinks", position),
                                       f"no sink named {name!r}")
            match = route.match
            compiled.append(Route(match.event_type, frozenset(match.phases),
                                  _compile(match.namespace), _compile(match.canary),
                                  _compile(match.message), tuple(dict.fromkeys(route.sinks))))
        routes = tuple(compiled)
    chosen = settings.model_fields_set
    wanted = model.delivery
    delivery = Delivery(
        fold_window=(settings.event_fold_window if "event_fold_window" in chosen
                     or wanted.fold_window is None else wanted.fold_window),
        max_age=(settings.event_max_age if "event_max_age" in chosen
                 or wanted.max_age is None else wanted.max_age),
        max_attempts=(settings.event_max_attempts if "event_max_attempts" in chosen
                      or wanted.max_attempts is None else wanted.max_attempts),
        min_backoff=wanted.min_backoff,
        max_backoff=max(wanted.max_backoff, wanted.min_backoff),
        concurrency=wanted.concurrency,
    )
    return EventConfig(sinks, routes, delivery)


def secret_files(config: str) -> tuple[str, ...]:
    """The files the -config file `config` reads secrets from (`url_file`, `token_file`,
    `header_files`); none when it cannot be read (start-up refuses such a config anyway)."""
    if not config:
        return ()
    try:
        model = _model(*read_yaml(config))
    except ConfigError:
        return ()
    paths: list[str] = []
    for options in model.sinks.values():
        paths.append(options.url_file)
        if isinstance(options, SlackOptions):
            paths.append(options.token_file)
        if isinstance(options, WebhookOptions):
            paths.extend(options.header_files.values())
    return tuple(path for path in paths if path)
