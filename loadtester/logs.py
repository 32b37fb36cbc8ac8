"""structlog set-up: one event per line, JSON or console, secrets redacted."""

from __future__ import annotations

import asyncio
import atexit
import functools
import logging
import re
import sys
import threading
from collections.abc import MutableMapping
from typing import Any

import structlog

from loadtester.redact import MASK, host_only
from loadtester.redact import redact as redact  # re-exported: tasks import it from here

_SECRET_KEY = re.compile(r"(token|password|passwd|secret|api_?key|authorization|url)$", re.I)
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


@functools.lru_cache(maxsize=1024)
def _is_secret_key(key: str) -> bool:
    return key != "event" and _SECRET_KEY.search(key) is not None


def _redact_secrets(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if not isinstance(value, str):
            continue
        if _is_secret_key(key):
            # webhook URLs of chat tools are themselves credentials: keep only the host
            event[key] = host_only(value) if key.lower().endswith("url") else MASK
        else:
            event[key] = _redact_short(value) if len(value) <= 256 else redact(value)
    return event


@functools.lru_cache(maxsize=4096)
def _redact_short(value: str) -> str:
    # the values of a request line (canary, path, remote) repeat: a hit is cheaper than a scan
    return redact(value)


class _LineWriter:
    """Writes rendered lines to a file; in a running event loop, one write per loop turn.

    The service logs a line per request: writing the lines of one loop turn together saves a
    system call per line under load without delaying any line past the current loop turn.
    """

    _MAX_PENDING = 256

    def __init__(self, file: Any) -> None:
        self._file = file
        self._pending: list[str] = []
        self._scheduled_on: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def msg(self, message: str) -> None:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            self._pending.append(message)
            if loop is None or len(self._pending) >= self._MAX_PENDING:
                self._write_pending()
            elif self._scheduled_on is not loop:
                self._scheduled_on = loop
                loop.call_soon(self.flush)

    def flush(self) -> None:
        with self._lock:
            self._write_pending()

    def _write_pending(self) -> None:
        self._scheduled_on = None
        if self._pending:
            lines, self._pending = self._pending, []
            self._file.write("\n".join(lines) + "\n")
            self._file.flush()

    debug = info = warning = warn = error = critical = exception = fatal = failure = err = msg


_enabled_level = logging.DEBUG


def is_enabled(level: int) -> bool:
    """True when lines of this level (logging.DEBUG, ...) are written."""
    return level >= _enabled_level


def configure_logging(level: str, encoding: str, *, cache: bool = False) -> None:
    """Set structlog up once at start-up.

    `cache` (the service, not tests) keeps the configured logger and writes through one
    line writer; tests leave it off so that structlog.testing.capture_logs sees every logger.
    """
    global _enabled_level
    _enabled_level = _LEVELS[level]
    if cache:
        writer = _LineWriter(sys.stderr)
        atexit.register(writer.flush)
        logger_factory: Any = lambda *_args: writer  # noqa: E731
    else:
        logger_factory = structlog.PrintLoggerFactory(sys.stderr)
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if encoding == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            # after the traceback is text (it may quote a command), before the timestamp
            _redact_secrets,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=logger_factory,
        cache_logger_on_first_use=cache,
    )


def get_logger(**fields: Any) -> Any:
    """A bound logger; callers add `canary`, `namespace`, `phase`, `task`, `type`."""
    return _ROOT.bind(**fields)


_ROOT = structlog.get_logger("loadtester")
