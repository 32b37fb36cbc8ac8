"""`POST /`: build the task a payload asks for, then run it or start it in the background."""

from __future__ import annotations

from aiohttp import web

from loadtester.errors import CheckFailed
from loadtester.keys import RUNNER
from loadtester.models import TERMINAL_PHASES
from loadtester.routes import read_payload
from loadtester.tasks.registry import build_task


async def run_task(request: web.Request) -> web.Response:
    """202 once a background task is started (or already runs); 200/500 for checks."""
    payload = await read_payload(request)
    runner = request.app[RUNNER]
    if payload.phase in TERMINAL_PHASES:
        await runner.cancel_canary(payload.name, payload.namespace, f"canary phase {payload.phase}")
    task = build_task(payload)
    if task.background:
        await runner.start_background(task)
        return web.Response(status=202)
    result = await runner.run_blocking(task)
    if not result.ok:
        raise CheckFailed(result.reason)
    return web.Response(text=result.answer)


def add_routes(app: web.Application) -> None:
    # the Go service answers tasks on every path no other route claims
    app.router.add_route("*", "/{tail:.*}", run_task)
