"""Liveness and Prometheus metrics."""

from __future__ import annotations

from aiohttp import web

from loadtester import metrics


async def healthz(_request: web.Request) -> web.Response:
    """Any method: 200 OK while the service runs."""
    return web.Response(text="OK")


async def prometheus(_request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")


def add_routes(app: web.Application) -> None:
    app.router.add_route("*", "/healthz", healthz)
    app.router.add_route("*", "/metrics", prometheus)  # any method, as promhttp
