"""`POST /events` and `POST /events/<sink>`: Flagger's event webhook; 202 once stored."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

from aiohttp import web

from loadtester.events.service import open_event_service
from loadtester.keys import ACTIVITY, EVENTS, RUNNER, SETTINGS, STATE
from loadtester.models import TERMINAL_PHASES
from loadtester.offloop import is_large, parse
from loadtester.routes import ACCOUNT, read_payload


async def receive(request: web.Request) -> web.Response:
    """Store the event for every routed sink, or for the sink named in the path."""
    payload = await read_payload(request, names_required=True)  # not a Go endpoint
    only = request.match_info.get("sink")
    # first: a canary over -max-canaries is refused before its event is stored
    await request.app[ACTIVITY].seen(payload.name, payload.namespace, payload.phase,
                                     payload.checksum, "event", account=request[ACCOUNT])
    large = is_large(len(await request.read()))  # its metadata then hashed in a parser thread
    await request.app[EVENTS].receive(payload, only, functools.partial(parse, request.app, large))
    if payload.phase in TERMINAL_PHASES:
        await request.app[RUNNER].cancel_canary(payload.name, payload.namespace,
                                                f"canary phase {payload.phase}")
    return web.Response(status=202)


async def event_forwarding(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx resource: the outbox and its delivery workers."""
    async with open_event_service(app[SETTINGS], app[STATE].events) as service:
        app[EVENTS] = service
        yield


def add_routes(app: web.Application) -> None:
    app.router.add_post("/events", receive)
    app.router.add_post("/events/{sink}", receive)
