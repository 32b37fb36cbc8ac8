"""The event service: validate, route, store in the outbox, wake the dispatcher."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from loadtester import metrics
from loadtester.events.config import EventConfig, load_event_config
from loadtester.events.dispatcher import Dispatcher
from loadtester.events.event import Event
from loadtester.events.outbox import Enqueued, Outbox
from loadtester.events.router import Router
from loadtester.logs import get_logger
from loadtester.models import PHASES, WebhookPayload
from loadtester.settings import Settings


@dataclass(frozen=True)
class Receipt:
    """What became of one received event."""

    event: Event
    stored: Enqueued


class EventService:
    """Takes events in; the dispatcher delivers them."""

    def __init__(self, config: EventConfig, outbox: Outbox, dispatcher: Dispatcher) -> None:
        self.config = config
        self.outbox = outbox
        self.router = Router(config)
        self._dispatcher = dispatcher

    def receive(self, payload: WebhookPayload, only: str | None = None) -> Receipt:
        """Store the event for its sinks (or for sink `only`); raise InvalidPayload, NotFound."""
        targets = [self.router.sink(only)] if only is not None else None
        event = Event.from_payload(payload)
        phase_label = event.phase if event.phase in PHASES else "other"  # bounded label
        metrics.EVENTS_RECEIVED.labels(event.event_type, phase_label).inc()
        if targets is None:
            targets = self.router.targets(event)
        else:
            targets = [sink for sink in targets if sink.accepts(event)]
        names = [sink.name for sink in targets]
        stored = self.outbox.enqueue(event, names, event.identity(only or ""),
                                     self.config.delivery.fold_window)
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
        return Receipt(event, stored)


@asynccontextmanager
async def open_event_service(
    settings: Settings, database: sqlite3.Connection
) -> AsyncIterator[EventService]:
    """Load the config, open the outbox and start delivering; stop on exit."""
    config = load_event_config(settings)
    outbox = Outbox(database)
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=60),
        headers={"User-Agent": "flagger-loadtester-events"},
    ) as session:
        dispatcher = Dispatcher(outbox, config.sinks, config.delivery, session)
        dispatcher.start()
        log = get_logger()
        log.info("event forwarding ready", sinks=sorted(config.sinks),
                 routes=None if config.routes is None else len(config.routes),
                 pending=outbox.counts().get("pending", 0))
        try:
            yield EventService(config, outbox, dispatcher)
        finally:
            await dispatcher.close()
