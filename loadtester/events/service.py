"""The event service: validate, route, store in the event queue, wake the dispatcher."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from loadtester import metrics
from loadtester.errors import StoreUnavailable
from loadtester.event import Event
from loadtester.events.config import EventConfig, load_event_config
from loadtester.events.dispatcher import Dispatcher
from loadtester.events.router import Router
from loadtester.logs import get_logger
from loadtester.models import PHASES, WebhookPayload
from loadtester.settings import Settings
from loadtester.state.base import Enqueued, EventQueue

NO_SINKS = "no event sinks configured: events are accepted and dropped"
Prepare = Callable[[WebhookPayload, str], tuple[Event, str]]
# how receive() calls a Prepare: inline, or in a parser thread for a large payload
Runner = Callable[[Prepare, WebhookPayload, str], Awaitable[tuple[Event, str]]]
_DROP_WARNING_INTERVAL = 60.0  # seconds between two "event dropped" warnings


@dataclass(frozen=True)
class Receipt:
    """What became of one received event."""

    event: Event
    stored: Enqueued


def prepare_event(payload: WebhookPayload, target: str) -> tuple[Event, str]:
    """The payload's event (InvalidPayload if it is not one), with its JSON built, and its
    identity for ``target``: the work on the payload's metadata, done where ``run`` says."""
    event = Event.from_payload(payload)
    event.to_json()
    return event, event.identity(target)


class EventService:
    """Takes events in; the dispatcher delivers them."""

    def __init__(self, config: EventConfig, queue: EventQueue, dispatcher: Dispatcher) -> None:
        self.config = config
        self.queue = queue
        self.router = Router(config)
        self._dispatcher = dispatcher
        self._dropped = 0  # events dropped since the last warning
        self._drop_warned = -_DROP_WARNING_INTERVAL  # monotonic time of the last warning

    async def receive(self, payload: WebhookPayload, only: str | None = None,
                      run: Runner | None = None) -> Receipt:
        """Store the event for its sinks (or for sink `only`); raise InvalidPayload, NotFound.
        `run` checks the event and builds its identity and JSON (inline if not given)."""
        targets = [self.router.sink(only)] if only is not None else None
        if run is None:
            event, identity = prepare_event(payload, only or "")
        else:
            event, identity = await run(prepare_event, payload, only or "")
        phase_label = event.phase if event.phase in PHASES else "other"  # bounded label
        metrics.EVENTS_RECEIVED.labels(event.event_type, phase_label).inc()
        if targets is None:
            targets = self.router.targets(event)
        else:
            targets = [sink for sink in targets if sink.accepts(event)]
        names = [sink.name for sink in targets]
        stored = await self.queue.enqueue(event, names, identity,
                                          self.config.delivery.fold_window, time.time())
        log = get_logger(canary=event.name, namespace=event.namespace, phase=event.phase,
                         type=event.event_type)
        if stored.duplicate:
            log.info("event duplicate ignored")
        else:
            for sink in stored.folded:
                metrics.EVENTS_FOLDED.labels(sink).inc()
            log.debug("event stored", queued=list(stored.queued), folded=list(stored.folded),
                      message=event.message)
        if stored.queued:
            self._dispatcher.wake()
        if not self.config.sinks:
            self._warn_dropped(log)
        return Receipt(event, stored)

    def _warn_dropped(self, log: Any) -> None:
        """Warn that an event went nowhere: at once, then at most once a minute with a count."""
        self._dropped += 1
        now = time.monotonic()
        if now - self._drop_warned >= _DROP_WARNING_INTERVAL:
            # dropped: this event and those dropped since the previous warning
            log.warning("event dropped: " + NO_SINKS, dropped=self._dropped)
            self._dropped = 0
            self._drop_warned = now


@asynccontextmanager
async def open_event_service(
    settings: Settings, queue: EventQueue
) -> AsyncIterator[EventService]:
    """Load the config and start delivering what the queue holds; stop on exit."""
    config = load_event_config(settings)
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=60),
        headers={"User-Agent": "flagger-loadtester-events"},
    ) as session:
        dispatcher = Dispatcher(queue, config.sinks, config.delivery, session)
        dispatcher.start()
        pending: int | None = None
        with contextlib.suppress(StoreUnavailable):  # the dispatcher retries on its own
            pending = sum((await queue.depth()).values())
        get_logger().info("event forwarding ready", sinks=sorted(config.sinks),
                          routes=None if config.routes is None else len(config.routes),
                          pending=pending)
        if not config.sinks:
            get_logger().warning(NO_SINKS)
        try:
            yield EventService(config, queue, dispatcher)
        finally:
            await dispatcher.close()
