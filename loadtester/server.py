"""Run the service until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Coroutine, Sequence
from typing import Any

from aiohttp import web

from loadtester import version
from loadtester.app import create_app
from loadtester.cluster_url import NotACluster
from loadtester.connections import ConnectionLimits, file_limit, listen_backlog
from loadtester.filepolicy import startup_warning
from loadtester.http_protocol import GuardedAppRunner
from loadtester.logs import configure_logging, get_logger
from loadtester.settings import Settings

_KEEPALIVE_TIMEOUT = 75.0  # web.run_app's: an idle keep-alive connection is closed after it


def _event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but not on every platform
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


async def _listen(app: web.Application, settings: Settings, limits: ConnectionLimits) -> None:
    """Serve `app` until cancelled, connections under `limits` (web.run_app's job, with
    GuardedAppRunner in place of web.AppRunner)."""
    runner = GuardedAppRunner(app, limits=limits,
                              shutdown_timeout=settings.shutdown_grace + settings.kill_grace + 1,
                              keepalive_timeout=_KEEPALIVE_TIMEOUT)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port, backlog=listen_backlog()).start()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop until it ends or SIGTERM/SIGINT (GracefulExit), then cancel what
    is left and close the loop, as web.run_app does."""
    loop = _event_loop()
    task = loop.create_task(main)
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(task)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        try:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(task)
        finally:
            rest = asyncio.all_tasks(loop)
            for pending in rest:
                pending.cancel()
            loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


def serve(settings: Settings, *, secret_flags: Sequence[str] = ()) -> int:
    """Serve until told to stop; returns the exit code.

    `secret_flags`: secret flags given on the command line, which `ps` showed at start-up.
    """
    configure_logging(settings.log_level, settings.zap_encoding, cache=True)
    log = get_logger()
    host = settings.host or "0.0.0.0"
    address = f"[{host}]:{settings.port}" if ":" in host else f"{host}:{settings.port}"
    limits = ConnectionLimits.from_settings(settings)
    files = file_limit()
    log.info("starting", version=version(), address=address, port=settings.port,
             state=settings.state_for_logs,
             timeout=settings.timeout, namespace_regexp=settings.namespace_regexp,
             max_connections=limits.max_connections, file_limit=files,
             read_timeout=settings.read_timeout,
             read_header_timeout=settings.read_header_timeout or settings.read_timeout)
    if secret_flags:
        log.warning("secret given on the command line: set LOADTESTER_<NAME> or "
                    "LOADTESTER_<NAME>_FILE (a mounted Secret) instead",
                    flags=[f"-{name}" for name in secret_flags])
    if (warning := startup_warning(settings)) is not None:
        log.warning(warning)
    if limits.max_connections + limits.probe_slots >= files:
        log.warning("-max-connections leaves no file descriptors for tasks, the store and "
                    "probes: past the limit, connections fail unlogged",
                    max_connections=limits.max_connections, file_limit=files)
    try:
        _run(_listen(create_app(settings), settings, limits))
    except (NotACluster, OSError, sqlite3.Error) as exc:
        log.error("cannot serve", error=str(exc), state=settings.state_for_logs)
        return 2 if isinstance(exc, NotACluster) else 1  # 2: a -state that can never work
    log.info("stopped")
    return 0
