"""structlog set-up: one event per line, JSON or console, secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEY = re.compile(r"(token|password|passwd|secret|api_?key|authorization|url)$", re.I)
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


def redact(value: str) -> str:
    """Hide credentials embedded in a URL or a secret-looking value."""
    return _URL_CREDENTIALS.sub("***@", value)


def _redact_secrets(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if key != "event" and _SECRET_KEY.search(key) and isinstance(value, str):
            # webhook URLs of chat tools are themselves credentials: keep only the host
            event[key] = _host_only(value) if key.lower().endswith("url") else "***"
    return event


def _host_only(url: str) -> str:
    match = re.match(r"^([a-z][a-z0-9+.-]*://[^/@]*@?[^/]*)", url, re.I)
    return redact(match.group(1)) + "/***" if match else "***"


def configure_logging(level: str, encoding: str) -> None:
    """Set structlog up once at start-up."""
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if encoding == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(**fields: Any) -> Any:
    """A bound logger; callers add `canary`, `namespace`, `phase`, `task`, `type`."""
    return structlog.get_logger("loadtester").bind(**fields)
