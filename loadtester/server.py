"""Run the service until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence

from aiohttp import web

from loadtester import version
from loadtester.app import create_app
from loadtester.logs import configure_logging, get_logger
from loadtester.settings import Settings


def _event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but not on every platform
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def serve(settings: Settings, *, secret_flags: Sequence[str] = ()) -> int:
    """Serve until told to stop; returns the exit code.

    `secret_flags`: secret flags given on the command line, which `ps` showed at start-up.
    """
    configure_logging(settings.log_level, settings.zap_encoding, cache=True)
    log = get_logger()
    host = settings.host or "0.0.0.0"
    address = f"[{host}]:{settings.port}" if ":" in host else f"{host}:{settings.port}"
    log.info("starting", version=version(), address=address, port=settings.port,
             state=settings.state_for_logs,
             timeout=settings.timeout, namespace_regexp=settings.namespace_regexp)
    if secret_flags:
        log.warning("secret given on the command line: set LOADTESTER_<NAME> or "
                    "LOADTESTER_<NAME>_FILE (a mounted Secret) instead",
                    flags=[f"-{name}" for name in secret_flags])
    try:
        web.run_app(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            print=None,
            access_log=None,
            shutdown_timeout=settings.shutdown_grace + settings.kill_grace + 1,
            loop=_event_loop(),
        )
    except (OSError, sqlite3.Error) as exc:
        log.error("cannot serve", error=str(exc), state=settings.state_for_logs)
        return 1
    log.info("stopped")
    return 0
