"""Which sinks an event goes to: every route that matches adds its sinks."""

from __future__ import annotations

from loadtester.errors import NotFound
from loadtester.event import Event
from loadtester.events.config import EventConfig, Route
from loadtester.events.sink import Sink


def matches(route: Route, event: Event) -> bool:
    """True when every condition the route sets holds for the event."""
    if route.event_type is not None and event.event_type != route.event_type:
        return False
    if route.phases and event.phase not in route.phases:
        return False
    if route.namespace is not None and not route.namespace.search(event.namespace):
        return False
    if route.canary is not None and not route.canary.search(event.name):
        return False
    return route.message is None or route.message.search(event.message) is not None


class Router:
    """Routes events to the configured sinks."""

    def __init__(self, config: EventConfig) -> None:
        self._config = config

    def sink(self, name: str) -> Sink:
        """The sink called `name`; NotFound when there is none."""
        found = self._config.sinks.get(name)
        if found is None:
            raise NotFound(f"no event sink named {name!r}")
        return found

    def targets(self, event: Event) -> list[Sink]:
        """The sinks this event goes to, in configuration order."""
        sinks = self._config.sinks
        if self._config.routes is None:
            chosen = list(sinks.values())
        else:
            names: dict[str, None] = {}
            for route in self._config.routes:
                if matches(route, event):
                    names.update(dict.fromkeys(route.sinks))
            chosen = [sinks[name] for name in names]
        return [sink for sink in chosen if sink.accepts(event)]
