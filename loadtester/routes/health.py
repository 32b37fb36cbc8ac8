"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from aiohttp import web

from loadtester import metrics
from loadtester.errors import StoreUnavailable
from loadtester.keys import EVENTS, STATE


async def healthz(_request: web.Request) -> web.Response:
    """Any method: 200 OK while the service runs."""
    return web.Response(text="OK")


# /readyz names the store in use in headers: its body stays the Go service's `OK`
STATE_HEADER = "X-Loadtester-State"
FALLBACK_HEADER = "X-Loadtester-State-Fallback"


async def readyz(request: web.Request) -> web.Response:
    """Any method: 200 when the state store answers, 503 with the reason while it does not.

    Headers name the store in use (memory, sqlite or redis) and whether it is a fallback.
    """
    state = request.app[STATE]
    await state.ping()
    return web.Response(text="OK", headers={
        STATE_HEADER: state.kind, FALLBACK_HEADER: "true" if state.fallback else "false"})


async def prometheus(request: web.Request) -> web.Response:
    """Prometheus text exposition; gates and the outbox are counted in the store, so what
    another replica (or the last run) left shows too."""
    state = request.app[STATE]
    metrics.STATE_BACKEND.clear()
    metrics.STATE_BACKEND.labels(state.kind, "true" if state.fallback else "false").set(1)
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
