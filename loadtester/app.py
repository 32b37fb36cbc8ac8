"""create_app(settings): routes, middlewares and the resources opened in cleanup_ctx."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web
from prometheus_client import Counter

from loadtester import metrics
from loadtester.activity import open_activity
from loadtester.auth_failures import FailureThrottle
from loadtester.errors import LoadtesterError
from loadtester.filepolicy import FilePolicy
from loadtester.keys import (
    ACTIVITY,
    AUTH_FAILURES,
    EVENTS,
    FILES,
    HTTP_CLIENT,
    POLICY,
    RUNNER,
    SETTINGS,
    STATE,
)
from loadtester.logs import get_logger, is_enabled
from loadtester.offloop import parser_threads
from loadtester.policy import CommandPolicy
from loadtester.redact import redact
from loadtester.routes import LOG_FIELDS, api, authorization, events, gates, health, tasks, ui
from loadtester.routes.auth_failures import throttle_failures
from loadtester.settings import Settings
from loadtester.state.open import open_state
from loadtester.tasks.base import TaskEnvironment
from loadtester.tasks.load_share import serve_shares
from loadtester.tasks.runner import TaskRunner

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_POLLED_PATHS = frozenset({"/healthz", "/readyz", "/metrics", *api.POLLED_ROUTES})
_CHECK_PATHS = frozenset({"/gate/check", "/rollback/check", "/gate/approve", "/gate/halt"})


@web.middleware
async def answer_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Typed errors become their status and a one-line body; every request is logged once."""
    started = time.monotonic()
    reason = ""
    event = "request"
    try:
        response = await handler(request)
    except LoadtesterError as error:
        # Flagger copies the body into its events (and on to Slack): no secret may reach it
        reason = redact(error.message)
        response = _error_response(request, error.status, reason)
        response.headers.update(error.headers)
    except web.HTTPException as error:
        response = _error_response(request, error.status, error.reason)
    except web.RequestPayloadError:
        reason = "malformed request body"
        response = _error_response(request, 400, reason)
    except Exception as error:
        if isinstance(error, ConnectionError) and request.transport is None:
            # the client hung up (mid-body, say): nginx's 499, nobody reads it, nothing broke
            event = "client disconnected"
            response = _error_response(request, 499, event)
        else:
            get_logger(method=request.method, path=request.path).exception("request crashed")
            response = _error_response(request, 500, "internal error; see the service log")
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else request.path
    _requests_counter(route, request.method, response.status).inc()
    level = logging.DEBUG if _is_routine(route, response.status) else logging.INFO
    if is_enabled(level):
        fields = {**request.get(LOG_FIELDS, {}), "method": request.method,
                  "path": request.path, "remote": request.remote, "status": response.status,
                  "duration": round(time.monotonic() - started, 4)}
        if reason:
            fields["reason"] = reason
        get_logger().log(level, event, **fields)
    return response


def _error_response(request: web.Request, status: int, text: str) -> web.Response:
    """The API answers errors as JSON `{"error": ...}`; every other route in plain text, as
    the Go service does."""
    if request.path.startswith(api.API_PREFIX):
        return web.json_response({"error": text}, status=status)
    return web.Response(status=status, text=text)


@functools.lru_cache(maxsize=512)
def _requests_counter(route: str, method: str, status: int) -> Counter:
    """The counter child of one route, method and status (looked up once, not per request)."""
    return metrics.HTTP_REQUESTS.labels(
        "/" if route == "/{tail}" else route,
        method if method in _METHODS else "other",
        str(status),
    )


def _is_routine(route: str, status: int) -> bool:
    """Polls that repeat every analysis interval: logged at debug, not info."""
    if route in _POLLED_PATHS:
        return status < 400
    return route in _CHECK_PATHS and status in (200, 403)


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[HTTP_CLIENT] = session
        yield


async def _state(app: web.Application) -> AsyncIterator[None]:
    async with (open_state(app[SETTINGS]) as state,
                open_activity(state, app[SETTINGS].max_canaries) as activity):
        app[STATE] = state
        app[ACTIVITY] = activity
        yield


async def _task_runner(app: web.Application) -> AsyncIterator[None]:
    env = TaskEnvironment(app[SETTINGS], app[HTTP_CLIENT], app[EVENTS], app[STATE].shares)
    app[RUNNER] = TaskRunner(env, app[STATE].tasks, app[STATE].history, app[STATE].runs)
    yield
    await app[RUNNER].shutdown(0)


async def _load_shares(app: web.Application) -> AsyncIterator[None]:
    """Shares of load runs other replicas publish, taken and run here (a shared store)."""
    shares = app[STATE].shares
    if shares is None:
        yield
        return
    async with serve_shares(shares, app[SETTINGS], app[FILES]):
        yield


async def _stop_tasks(app: web.Application) -> None:
    await app[RUNNER].shutdown(app[SETTINGS].shutdown_grace)


def create_app(settings: Settings) -> web.Application:
    """The whole service; no I/O happens until the app starts."""
    # without -token-file no credential can fail: nothing to count, no middleware to pass
    middlewares = [answer_errors, throttle_failures] if settings.token_file else [answer_errors]
    app = web.Application(middlewares=middlewares, client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[AUTH_FAILURES] = FailureThrottle()
    app[POLICY] = CommandPolicy(settings.allow_cmd)
    app[FILES] = FilePolicy.from_settings(settings)
    # events before the runner: a task's messages (load results) can be stored until it ends
    app.cleanup_ctx.extend(
        [parser_threads, authorization, _http_client, _state, events.event_forwarding,
         _task_runner, _load_shares]
    )
    app.on_shutdown.append(_stop_tasks)
    health.add_routes(app)
    gates.add_routes(app)
    events.add_routes(app)
    api.add_routes(app)
    ui.add_routes(app)
    tasks.add_routes(app)  # last: it claims every other path
    return app
