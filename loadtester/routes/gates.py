"""Manual gates: approve, halt, and the open/close/check pairs of gates and rollbacks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from loadtester.forwarded import client_address
from loadtester.keys import SETTINGS, STATE
from loadtester.logs import get_logger
from loadtester.routes import CALLER, read_payload
from loadtester.state.base import GateChange, gate_key, rollback_key

Handler = Callable[[web.Request], Awaitable[web.Response]]
KeyOf = Callable[[str, str], str]


async def approve(_request: web.Request) -> web.Response:
    """Always approves."""
    return web.Response(text="OK")


async def halt(_request: web.Request) -> web.Response:
    """Always refuses."""
    return web.Response(status=403, text="Forbidden")


def _check(gate: str, key_of: KeyOf) -> Handler:
    async def check(request: web.Request) -> web.Response:
        payload = await read_payload(request)
        is_open = await request.app[STATE].gates.is_open(key_of(payload.name, payload.namespace))
        if is_open:
            return web.Response(text="Approved")
        return web.Response(status=403, text="Forbidden")

    return check


def _switch(gate: str, key_of: KeyOf, is_open: bool) -> Handler:
    async def switch(request: web.Request) -> web.Response:
        payload = await read_payload(request, header_token=True)
        # the socket's peer; X-Forwarded-For only as far as -trusted-proxies vouch for it
        remote = client_address(request.remote, request.headers.getall(hdrs.X_FORWARDED_FOR, ()),
                                request.app[SETTINGS].trusted_proxies)
        caller = request.get(CALLER, "")
        change = GateChange(is_open, by=f"{caller}@{remote}" if caller else remote,
                            checksum=payload.checksum, name=payload.name,
                            namespace=payload.namespace)
        await request.app[STATE].gates.set(key_of(payload.name, payload.namespace), change)
        fields = {"by": caller} if caller else {}
        if request.remote and remote != request.remote:
            fields["proxy"] = request.remote or ""
        get_logger(**payload.log_fields()).info(
            f"{gate} {'opened' if is_open else 'closed'}", remote=remote,
            checksum=payload.checksum, **fields
        )
        return web.Response(status=202)

    return switch


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_route("*", "/gate/approve", approve)
    router.add_route("*", "/gate/halt", halt)
    for prefix, gate, key_of in (("/gate", "gate", gate_key),
                                 ("/rollback", "rollback", rollback_key)):
        router.add_route("*", f"{prefix}/check", _check(gate, key_of))
        router.add_route("*", f"{prefix}/open", _switch(gate, key_of, True))
        router.add_route("*", f"{prefix}/close", _switch(gate, key_of, False))
