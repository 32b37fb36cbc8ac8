"""The middleware that shuts out a client address after too many failed logins or token
checks (loadtester.auth_failures counts them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from loadtester.errors import InvalidCredentials
from loadtester.keys import AUTH_FAILURES
from loadtester.routes import client_peer, refuse_throttled

# routes that never check a token: a peer shut out of the others still gets its probes answered
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def throttle_failures(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a peer that failed too often (before its token is looked at, so a right one
    tells it nothing); count each InvalidCredentials a handler raises against its peer."""
    if request.path not in OPEN_PATHS:
        refuse_throttled(request)
    try:
        return await handler(request)
    except InvalidCredentials as error:
        request.app[AUTH_FAILURES].failed(client_peer(request)[0], error.scope)
        raise

