"""`POST /`: build the task a payload asks for, then run it or start it in the background."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from loadtester.errors import CheckFailed
from loadtester.filepolicy import FilePolicy
from loadtester.keys import ACTIVITY, FILES, POLICY, RUNNER, SETTINGS, STATE
from loadtester.models import TERMINAL_PHASES, WebhookPayload
from loadtester.offloop import is_large, parse
from loadtester.routes import ACCOUNT, read_payload
from loadtester.settings import Settings
from loadtester.state.base import LoadShares
from loadtester.tasks.base import Task
from loadtester.tasks.registry import build_task

DISCONNECT_POLL = 0.5  # seconds between looks at a blocking check's connection


async def run_task(request: web.Request) -> web.Response:
    """202 once a background task is started (or already runs); 200/500 for checks."""
    payload = await read_payload(request, needs_metadata=True)
    await request.app[ACTIVITY].seen(payload.name, payload.namespace, payload.phase,
                                     payload.checksum, "task",
                                     account=request[ACCOUNT])
    runner = request.app[RUNNER]
    if payload.phase in TERMINAL_PHASES:
        await runner.cancel_canary(payload.name, payload.namespace, f"canary phase {payload.phase}")
    request.app[POLICY].check(payload)
    task = await build(request, payload)
    request.app[POLICY].check_task(task)
    task = await prepare(task, request.app[SETTINGS], request.app[FILES])
    task = await admit(task, request.app[STATE].shares)
    if task.background:
        await runner.start_background(task)
        return web.Response(status=202)
    result = await runner.run_blocking(task, lambda: caller_gone(request))
    if not result.ok:
        raise CheckFailed(result.reason)
    return web.Response(text=result.answer)


async def prepare(task: Task, settings: Settings, files: FilePolicy) -> Task:
    """A task that reads files or checks limits before it may start (load's -D, Concord's
    key, where `files` allows) does it here, off the event loop, so that a bad one is a 400
    (403 for a file the policy refuses), not a failed run."""
    prepared: Callable[[Settings, FilePolicy], Awaitable[Task]] | None = getattr(
        task, "prepared", None)
    return task if prepared is None else await prepared(settings, files)


async def admit(task: Task, shares: LoadShares | None) -> Task:
    """A task that runs over several replicas (load's `replicas`) checks the store shares
    them and enough are live, before it starts: a 400 or a 409, not a failed run."""
    admitted: Callable[[LoadShares | None], Awaitable[Task]] | None = getattr(
        task, "admitted", None)
    return task if admitted is None else await admitted(shares)


async def build(request: web.Request, payload: WebhookPayload) -> Task:
    """The payload's task, built in a parser thread when it carries a scenario (YAML, and an
    interleaving of up to 10 000 requests) or a large body (a long command is split as a
    shell would, in Python), inline otherwise."""
    costly = "scenario" in (payload.metadata or {}) or is_large(len(await request.read()))
    return await parse(request.app, costly, build_task, payload)


async def caller_gone(request: web.Request) -> str:
    """Returns once the caller's connection is closed (aiohttp does not cancel a handler on
    a disconnect unless handler_cancellation is set, which would cut every other route too)."""
    while (transport := request.transport) is not None and not transport.is_closing():
        await asyncio.sleep(DISCONNECT_POLL)
    return "the caller disconnected"


def add_routes(app: web.Application) -> None:
    # the Go service answers tasks on every path no other route claims
    app.router.add_route("*", "/{tail:.*}", run_task)
