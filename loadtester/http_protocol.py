"""aiohttp's connection handler with what it lacks: request deadlines, a connection cap, one
log line per malformed request (never its bytes), and no HTTP/0.9.

aiohttp has no header or body timeout and no connection limit, and logs a parser error as a
traceback quoting the raw request (an `Authorization` header included). GuardedRequestHandler
subclasses its RequestHandler; GuardedAppRunner is web.AppRunner serving through it. The
subclass uses RequestHandler's internals as aiohttp 3.14 names them (requirements.lock pins
it): the parsed-message queue `_messages` and its `_waiter`, `_ErrInfo` (how aiohttp queues a
parse error), `_current_request`, `_request_handler`, `_lingering_time`, `_close` and
`_force_close`; tests/system/test_http_layer.py fails if a new aiohttp changes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http import HttpVersion10, HttpVersion11
from aiohttp.http_exceptions import (
    BadHttpMethod,
    HttpProcessingError,
    InvalidHeader,
    LineTooLong,
    PayloadEncodingError,
)
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from aiohttp.web_protocol import RequestHandler, RequestPayloadError, _ErrInfo
from aiohttp.web_request import BaseRequest

from loadtester import metrics
from loadtester.connections import (
    PROBE_HEADER_TIMEOUT,
    Admission,
    ConnectionLimits,
    Connections,
)
from loadtester.errors import RequestTimeout
from loadtester.logs import get_logger

PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_HTTP09 = "request line without an HTTP version (HTTP/0.9)"
_REASON_LIMIT = 120

_Handler = Callable[[BaseRequest], Awaitable[web.StreamResponse]]


class Refusal(HttpProcessingError):
    """A request this module refuses (HTTP/0.9, too slow); its message quotes nothing."""


def protocol_error_reason(error: HttpProcessingError) -> str:
    """What was wrong with a request, without its bytes.

    aiohttp's messages quote the raw request (a header's value: a token). Only the kind of
    error and llhttp's own description, which is fixed text, are kept.
    """
    if isinstance(error, Refusal):
        return error.message
    for kind, reason in _REASONS:
        if isinstance(error, kind):
            return reason
    # llhttp's errors read "<description>:\n\n  <the bytes>\n  ^"; aiohttp's own quote bytes
    head, quoted, _rest = error.message.partition(":\n\n")
    if not quoted:
        return "bad request"
    lines = [line.strip().rstrip(":") for line in head.splitlines() if line.strip()]
    return ": ".join(lines)[:_REASON_LIMIT] or "bad request"


_REASONS: tuple[tuple[type[HttpProcessingError], str], ...] = (
    (LineTooLong, "request line or header too long"),
    (BadHttpMethod, "not HTTP: bad method"),
    (InvalidHeader, "invalid header"),
    (PayloadEncodingError, "malformed body encoding"),
)


def _is_http09(data: bytes) -> bool:
    """The first line of a connection has no ` HTTP/x.y` (a TLS hello is left to the parser)."""
    end = data.find(b"\n")
    if end <= 0 or data.startswith(b"\x16\x03"):
        return False
    line = data[:end].rstrip(b"\r")
    return bool(line) and b" HTTP/" not in line


def _host(peername: object) -> str:
    """The address of a socket's peer name (host, port, ...)."""
    return str(peername[0]) if isinstance(peername, tuple) else str(peername or "")


class GuardedRequestHandler(RequestHandler):
    """One client connection, admitted under the cap, each request with a deadline.

    A request's time starts at its first byte (the first request's at connect, as Go's
    http.Server does): its headers must arrive within -read-header-timeout and the whole of it
    within -read-timeout. `expire`, called by the Connections sweep, acts on a passed one.
    """

    __slots__ = (
        "_admission",
        "_body",
        "_connections",
        "_fresh",
        "_header_timeout",
        "_serve",
        "_started",
    )

    def __init__(self, manager: web.Server, *, connections: Connections, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._connections = connections
        self._admission: Admission | None = None
        self._fresh = True  # nothing received yet
        self._started = 0.0  # loop time of the first byte of the request arriving; 0.0: none
        self._header_timeout = connections.limits.read_header_timeout
        self._body: StreamReader | None = None  # the body still arriving
        self._serve: _Handler | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        admission = self._connections.admit(self, _host(transport.get_extra_info("peername")))
        if admission is Admission.REFUSE:
            transport.close()
            return
        self._admission = admission
        if admission is Admission.PROBES_ONLY:
            self._serve, self._request_handler = self._request_handler, self._probes_only
            self._header_timeout = min(self._header_timeout, PROBE_HEADER_TIMEOUT)
            self._lingering_time = 0.0  # closed once answered, not held reading a body
        self._started = self._loop.time()
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._admission is None:  # refused: aiohttp never saw this connection
            return
        self._connections.release(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # on every request's path: kept to a few attribute reads (bench/bench_service.py)
        if self._close or self._force_close:
            return
        if self._fresh and data:
            self._fresh = False
            if _is_http09(data):
                self._reject(400, _HTTP09)
                return
        elif not self._started and data:  # the first byte of the next request
            self._started = self._loop.time()
        messages = self._messages
        queued = len(messages)
        RequestHandler.data_received(self, data)
        body = self._body
        if body is not None:
            if not body.is_eof():
                return
            self._body = None
            self._started = 0.0
        if len(messages) != queued:  # headers arrived: the body may still be on its way
            message, payload = messages[-1]
            if (len(messages) - queued > 1 or isinstance(message, _ErrInfo)
                    or message.version is not HttpVersion11):
                self._refuse_http09(queued)
                payload = messages[-1][1]
            if payload.is_eof():
                self._started = 0.0
            else:
                self._body = payload

    def _refuse_http09(self, first: int) -> None:
        """Turn the HTTP/0.9 requests among those queued from index `first` into 400s."""
        messages = self._messages
        for index in range(first, len(messages)):
            message = messages[index][0]
            if not isinstance(message, _ErrInfo) and message.version < HttpVersion10:
                error = Refusal(code=400, message=_HTTP09)
                messages[index] = (_ErrInfo(status=400, exc=error, message=_HTTP09),
                                   EMPTY_PAYLOAD)

    @property
    def silent(self) -> bool:
        """Nothing received yet."""
        return self._fresh

    @property
    def remote(self) -> str:
        """The peer's address."""
        return _host(self.peername)

    def evict(self) -> None:
        """Close the connection now (its probe-reserve slot is wanted)."""
        self._started = 0.0
        self.force_close()

    def expire(self, now: float) -> None:
        """Close a connection whose request is overdue: 408 while nothing was answered."""
        started = self._started
        if not started:
            return
        body = self._body
        if body is None:
            if now >= started + self._header_timeout:
                self._started = 0.0
                self._timed_out("headers", self._header_timeout)
                if self._fresh:  # not a byte since the connect: no request to answer
                    self.force_close()
                else:
                    self._reject(408, "request headers not received in time")
        elif now >= started + self._connections.limits.read_timeout:
            self._body, self._started = None, 0.0
            self._timed_out("body", self._connections.limits.read_timeout)
            if self._current_request is not None:  # a handler may be reading it: it answers
                body.set_exception(RequestTimeout("request body not received in time"))
            body.feed_eof()
            self.close()

    def _timed_out(self, phase: str, timeout: float) -> None:
        metrics.HTTP_REJECTED.labels("header_timeout" if phase == "headers"
                                     else "read_timeout").inc()
        self._connections.timeouts.log(phase=phase, timeout=timeout, remote=self.remote)

    def _reject(self, status: int, reason: str) -> None:
        """Answer `status` once the requests before it are answered, then close; nothing more
        is read. handle_error writes the answer."""
        self._started = 0.0
        error = Refusal(code=status, message=reason)
        self._messages.append((_ErrInfo(status=status, exc=error, message=reason),
                               EMPTY_PAYLOAD))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self.close()  # after the wake-up: close() cancels a waiter still pending

    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """A request the parser refused (or _reject queued): one throttled log line with the
        reason, none of the bytes; the answer says the same and closes."""
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        reason = protocol_error_reason(exc)
        if status != 408:  # a timeout was logged when it fired
            metrics.HTTP_REJECTED.labels("bad_request").inc()
            self._connections.bad_requests.log(remote=request.remote, status=status,
                                               reason=reason)
        response = web.Response(status=status, text=reason)
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        """aiohttp's own errors as one JSON line, not a traceback on stderr; a client's
        (a body that cannot be decoded, read again after its answer) at debug."""
        text = str(args[0] % args[1:]) if len(args) > 1 else str(args[0] if args else "")
        error = kwargs.get("exc_info")
        if isinstance(error, (RequestPayloadError, HttpProcessingError, ConnectionError)):
            get_logger().debug("http layer: client error", detail=text,
                               error=type(error).__name__)
            return
        get_logger().error("http layer error", detail=text, exc_info=error)

    async def _probes_only(self, request: BaseRequest) -> web.StreamResponse:
        """A connection past the cap: /healthz, /readyz and /metrics are answered, anything
        else is 503; then it closes."""
        if request.path in PROBE_PATHS and self._serve is not None:
            response = await self._serve(request)
        else:
            self._connections.refuse(request.remote or "")
            response = web.Response(status=503, text="too many connections")
        response.force_close()
        return response


class GuardedServer(web.Server):
    """aiohttp's low-level server whose connections are GuardedRequestHandlers."""

    def __init__(self, handler: _Handler, *, connections: Connections,
                 loop: asyncio.AbstractEventLoop, **kwargs: Any) -> None:
        handler_kwargs = {key: value for key, value in kwargs.items()
                          if key not in ("request_factory", "handler_cancellation")}
        super().__init__(handler, loop=loop, **kwargs)
        self._guard = connections
        self._handler_loop = loop
        self._handler_kwargs = handler_kwargs

    def __call__(self) -> RequestHandler:
        return GuardedRequestHandler(self, loop=self._handler_loop, connections=self._guard,
                                     **self._handler_kwargs)


class GuardedAppRunner(web.AppRunner):
    """web.AppRunner whose server is a GuardedServer under `limits`."""

    def __init__(self, app: web.Application, *, limits: ConnectionLimits,
                 shutdown_timeout: float, keepalive_timeout: float) -> None:
        super().__init__(app, handle_signals=True, shutdown_timeout=shutdown_timeout,
                         access_log=None, keepalive_timeout=keepalive_timeout)
        self.connections = Connections(limits)
        self._keepalive_timeout = keepalive_timeout

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # starts the app, as AppRunner does
        self.connections.start()
        return GuardedServer(plain.request_handler, connections=self.connections,
                             loop=asyncio.get_running_loop(),
                             request_factory=plain.request_factory,
                             handler_cancellation=plain.handler_cancellation,
                             access_log=None, keepalive_timeout=self._keepalive_timeout)

    async def cleanup(self) -> None:
        try:
            await super().cleanup()
        finally:
            self.connections.stop()
