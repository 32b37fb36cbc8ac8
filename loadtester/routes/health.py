"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from aiohttp import web

from loadtester import metrics
from loadtester.errors import StoreUnavailable
from loadtester.keys import EVENTS, STATE


async def healthz(_request: web.Request) -> web.Response:
    """Any method: 200 OK while the service runs."""
    return web.Response(text="OK")


async def readyz(request: web.Request) -> web.Response:
    """Any method: 200 when the state store answers, 503 with the reason while it does not."""
    await request.app[STATE].ping()
    return web.Response(text="OK")


async def prometheus(request: web.Request) -> web.Response:
    """Prometheus text exposition; gates and the outbox are counted in the store, so what
    another replica (or the last run) left shows too."""
    state = request.app[STATE]
    try:
        gates = await state.gates.open_counts()
        depth = await state.events.depth()
    except StoreUnavailable:
        pass  # the other metrics still matter while the store is away
    else:
        for kind, count in gates.items():
            metrics.GATES_OPEN.labels(kind).set(count)
        metrics.OUTBOX_DEPTH.clear()  # a sink with nothing pending shows 0, a removed one not
        for sink in {*request.app[EVENTS].config.sinks, *depth}:
            metrics.OUTBOX_DEPTH.labels(sink).set(depth.get(sink, 0))
    return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")


def add_routes(app: web.Application) -> None:
    app.router.add_route("*", "/healthz", healthz)
    app.router.add_route("*", "/readyz", readyz)
    app.router.add_route("*", "/metrics", prometheus)  # any method, as promhttp
