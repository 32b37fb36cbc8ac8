"""Manual gates: approve, halt, and the open/close/check pairs of gates and rollbacks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from loadtester.keys import ACTIVITY, STATE
from loadtester.operations import ANONYMOUS, change_gate
from loadtester.routes import ACCOUNT, CALLER, client_peer, read_payload
from loadtester.state.base import gate_key, rollback_key

Handler = Callable[[web.Request], Awaitable[web.Response]]
KeyOf = Callable[[str, str], str]


async def approve(_request: web.Request) -> web.Response:
    """Always approves."""
    return web.Response(text="OK")


async def halt(_request: web.Request) -> web.Response:
    """Always refuses."""
    return web.Response(status=403, text="Forbidden")


def _check(key_of: KeyOf) -> Handler:
    async def check(request: web.Request) -> web.Response:
        payload = await read_payload(request)
        await request.app[ACTIVITY].seen(payload.name, payload.namespace, payload.phase,
                                         payload.checksum, "gate",
                                         account=request[ACCOUNT])
        # a gate approved from the console approves the revision it was approved for only
        is_open = await request.app[STATE].gates.is_open(key_of(payload.name, payload.namespace),
                                                         payload.checksum)
        if is_open:
            return web.Response(text="Approved")
        return web.Response(status=403, text="Forbidden")

    return check


def _switch(gate: str, is_open: bool) -> Handler:
    async def switch(request: web.Request) -> web.Response:
        payload = await read_payload(request, header_token=True)
        await request.app[ACTIVITY].seen(payload.name, payload.namespace, payload.phase,
                                         payload.checksum, "gate",
                                         account=request[ACCOUNT])
        peer, proxy = client_peer(request)
        # unbound, as the Go service's: it approves whatever revision is checked next
        await change_gate(request.app[STATE], gate, payload.name, payload.namespace, is_open,
                          who=request.get(CALLER, "") or ANONYMOUS, peer=peer,
                          checksum=payload.checksum, proxy=proxy)
        return web.Response(status=202)

    return switch


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_route("*", "/gate/approve", approve)
    router.add_route("*", "/gate/halt", halt)
    for gate, key_of in (("gate", gate_key), ("rollback", rollback_key)):
        router.add_route("*", f"/{gate}/check", _check(key_of))
        router.add_route("*", f"/{gate}/open", _switch(gate, True))
        router.add_route("*", f"/{gate}/close", _switch(gate, False))
