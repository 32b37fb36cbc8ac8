"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from aiohttp import web

from loadtester import metrics
from loadtester.errors import StoreUnavailable
from loadtester.keys import STATE


async def healthz(_request: web.Request) -> web.Response:
    """Any method: 200 OK while the service runs."""
    return web.Response(text="OK")


async def readyz(request: web.Request) -> web.Response:
    """Any method: 200 when the state store answers, 503 with the reason while it does not."""
    await request.app[STATE].ping()
    return web.Response(text="OK")


async def prometheus(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    try:
        for kind, count in (await request.app[STATE].gates.open_counts()).items():
            metrics.GATES_OPEN.labels(kind).set(count)
    except StoreUnavailable:
        pass  # the other metrics still matter while the store is away
    return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")


def add_routes(app: web.Application) -> None:
    app.router.add_route("*", "/healthz", healthz)
    app.router.add_route("*", "/readyz", readyz)
    app.router.add_route("*", "/metrics", prometheus)  # any method, as promhttp
