"""`/api/v1/`: the console's JSON API, described by openapi.yaml next to this module.

Every answer is JSON, errors too (`{"error": "..."}`, rendered by app.answer_errors). A caller
is identified by sessions.identify(); a namespace-bound token sees its namespace only: another
namespace's canary is a 404 when read, filtered out of lists, and a 403 when acted on; another
namespace's task is a 404, as a missing one, so that task ids cannot be probed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from aiohttp import hdrs, web

from loadtester import api_views
from loadtester.errors import BadRequest, Conflict, Forbidden, NotFound, UnsupportedMediaType
from loadtester.keys import AUTHORIZER, RUNNER, STATE
from loadtester.models import MAX_CHECKSUM, is_name, is_namespace, quote
from loadtester.operations import cancel_task, change_gate
from loadtester.routes import LOG_FIELDS, client_peer
from loadtester.sessions import (
    OPEN_VIEWER,
    Viewer,
    clear_session_cookie,
    current_session,
    identify,
    log_in,
    log_out,
    set_session_cookie,
)
from loadtester.state.base import KEEP_HISTORY, CanaryRecord, gate_key
from loadtester.state.pages import BadCursor, CanaryCursor

API_PREFIX = "/api/v1/"
MAX_LIMIT = 1000
CANARY_PAGE = 50  # canaries per page unless ?limit= says otherwise
MAX_CANARY_PAGE = 500
# canaries read at once for the answers of all requests together: each takes ~4 store calls,
# and Redis' connection pool (100) is shared with Flagger's gate checks
READS_AT_ONCE = 8
_READ_SLOTS = web.AppKey("api_read_slots", asyncio.Semaphore)
MAX_TOKEN = 4096
MAX_RUN_ID = 64  # a run id is a uuid4 hex: a longer one is unknown without asking the store
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JSON = dict[str, Any]
T = TypeVar("T")


@functools.cache
def openapi_document() -> bytes:
    """openapi.yaml as JSON, read once."""
    text = Path(__file__).with_name("openapi.yaml").read_text(encoding="utf-8")
    return json.dumps(yaml.safe_load(text)).encode()


async def openapi(_request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of this API (no token needed: it holds no data)."""
    return web.Response(body=openapi_document(), content_type="application/json")


async def get_session(request: web.Request) -> web.Response:
    """Whether a login is needed and who the session cookie (if any) belongs to."""
    required = request.app[AUTHORIZER].tokens is not None
    viewer = await current_session(request)
    if viewer is None:
        return web.json_response({"required": required, "authenticated": False,
                                  "namespace": "", "name": "", "csrf": ""})
    return web.json_response({"required": required, "authenticated": True,
                              "namespace": viewer.namespace, "name": viewer.name,
                              "csrf": viewer.csrf})


async def post_session(request: web.Request) -> web.Response:
    """Log in with a token of the token file: a session cookie and its CSRF value."""
    token = (await _json_body(request, required=True)).get("token")
    if not isinstance(token, str) or not 1 <= len(token) <= MAX_TOKEN:
        raise BadRequest(f"a token is required: a string of 1 to {MAX_TOKEN} characters")
    tokens = request.app[AUTHORIZER].tokens
    if tokens is None:  # nothing to log in to: every caller may already do everything
        return web.json_response({"csrf": "", "namespace": OPEN_VIEWER.namespace,
                                  "name": OPEN_VIEWER.name})
    viewer, cookie = log_in(tokens, token, time.time())
    response = web.json_response({"csrf": viewer.csrf, "namespace": viewer.namespace,
                                  "name": viewer.name})
    set_session_cookie(response, request, cookie)
    return response


async def delete_session(request: web.Request) -> web.Response:
    """Log out: the session is revoked on every replica and the browser drops the cookie."""
    await log_out(request)
    response = web.json_response({"authenticated": False})
    clear_session_cookie(response)
    return response


async def get_service(request: web.Request) -> web.Response:
    """What the service runs on: the state store in use (the console shows it)."""
    await identify(request)
    return web.json_response({"store": api_views.store_view(request.app[STATE])})


async def list_canaries(request: web.Request) -> web.Response:
    """A page of the canaries seen in the last KEEP_HISTORY, the last seen first; `next` is
    the cursor of the page after it (null on the last page)."""
    viewer = await identify(request)
    limit = _limit(request, CANARY_PAGE, MAX_CANARY_PAGE)
    after = _cursor(request)
    state = request.app[STATE]
    namespaces = None if viewer.sees_all else viewer.namespaces
    # one more than the page: whether a next page exists
    records = await state.history.canary_page(time.time() - KEEP_HISTORY, limit + 1, after,
                                              namespaces)
    page = records[:limit]
    following = None
    if len(records) > limit:
        last = page[-1]
        following = CanaryCursor(last.last_seen, last.namespace, last.name).encode()
    views = await _bounded(request, [api_views.canary_view(state, record) for record in page])
    return web.json_response({"canaries": views, "next": following})


async def get_canary(request: web.Request) -> web.Response:
    """One canary with its history: tasks, events and audit entries."""
    viewer = await identify(request)
    record = await _visible_canary(request, viewer)
    view = await api_views.canary_view(request.app[STATE], record, detail=True)
    return web.json_response(view)


async def get_run(request: web.Request) -> web.Response:
    """One load run of a canary: its series per target and its result."""
    viewer = await identify(request)
    record = await _visible_canary(request, viewer)
    run_id = request.match_info["id"]
    run = None
    if len(run_id) <= MAX_RUN_ID:
        run = await request.app[STATE].runs.run(record.name, record.namespace, run_id)
    if run is None:
        raise NotFound(f"no load run {quote(run_id[:MAX_RUN_ID])} of canary "
                       f"{quote(f'{record.name}.{record.namespace}')}")
    return web.json_response(api_views.run_view(run))


async def get_gates(request: web.Request) -> web.Response:
    """The canary's gates, and whether /gate/check passes for its current revision."""
    viewer = await identify(request)
    record = await _visible_canary(request, viewer)
    state = request.app[STATE]
    view = await api_views.gates_view(state, record.name, record.namespace)
    approved = await state.gates.is_open(gate_key(record.name, record.namespace),
                                         record.checksum)
    return web.json_response({**view, "approved": approved})


def _switch(gate: str, is_open: bool) -> Handler:
    async def switch(request: web.Request) -> web.Response:
        """Open (bound to a revision) or close a canary's gate or rollback gate."""
        viewer = await identify(request)
        name, namespace = _canary_names(request)
        if not viewer.sees(namespace):
            raise Forbidden(f"the token may not act on namespace {quote(namespace)}")
        given = _checksum(await _json_body(request, required=False))
        record = await request.app[STATE].history.canary(name, namespace)
        if record is None and not given:
            raise NotFound(f"canary {quote(f'{name}.{namespace}')} was never seen; "
                           "give its checksum to act on it anyway")
        checksum = given or (record.checksum if record is not None else "")
        # a revision that is not known cannot be bound: such an approval is Go's, unbound
        peer, proxy = client_peer(request)
        await change_gate(request.app[STATE], gate, name, namespace, is_open, who=viewer.name,
                          peer=peer, checksum=checksum, bound=is_open and bool(checksum),
                          proxy=proxy)
        view = await api_views.gates_view(request.app[STATE], name, namespace)
        return web.json_response(view)

    return switch


async def list_tasks(request: web.Request) -> web.Response:
    """Task runs, newest first: of a namespace or canary, running ones only or all."""
    viewer = await identify(request)
    namespace, name = _filters(request)
    limit = _limit(request, 50)
    running = _running(request)
    if namespace and not viewer.sees(namespace):
        return web.json_response({"tasks": []})
    scope, filtered = _scope(viewer, namespace)
    # filters applied here need more rows from the store to fill the page
    records = await request.app[STATE].history.tasks(
        name or None, scope, MAX_LIMIT if filtered or running is not None else limit)
    tasks = [api_views.task_view(record) for record in records
             if viewer.sees(record.namespace) and (not name or record.name == name)
             and (running is None or (record.outcome == api_views.RUNNING) == running)]
    return web.json_response({"tasks": tasks[:limit]})


async def post_cancel(request: web.Request) -> web.Response:
    """Cancel a running background task, here or on the replica running it."""
    viewer = await identify(request)
    task_id = request.match_info["id"]
    record = await request.app[STATE].history.task(task_id)
    # another namespace's task is not told apart from a missing one: ids cannot be probed
    if record is None or not viewer.sees(record.namespace):
        raise NotFound(f"no task {quote(task_id)}")
    request[LOG_FIELDS] = {"canary": record.name, "namespace": record.namespace}
    if record.outcome != api_views.RUNNING:
        raise Conflict(f"task {quote(task_id)} already ended ({record.outcome})")
    if not record.background:
        raise Conflict("a blocking check cannot be cancelled: its caller (Flagger) waits "
                       "for it and ends it by disconnecting")
    cancelled = await cancel_task(request.app[STATE], request.app[RUNNER], task_id,
                                  who=viewer.name, peer=client_peer(request)[0])
    if cancelled is None:
        raise NotFound(f"no task {quote(task_id)}")
    return web.json_response({"task": api_views.task_view(cancelled)})


async def list_events(request: web.Request) -> web.Response:
    """Events, newest first, with their delivery state per sink: of one canary, or of the
    MAX_CANARY_PAGE canaries seen last (an event makes its canary seen)."""
    viewer = await identify(request)
    namespace, name = _filters(request)
    limit = _limit(request, 50)
    state = request.app[STATE]
    canaries: Iterable[tuple[str, str]]
    if name and namespace:
        canaries = [(name, namespace)]
    else:
        scope = (frozenset({namespace}) if namespace
                 else None if viewer.sees_all else viewer.namespaces)
        records = await state.history.canary_page(time.time() - KEEP_HISTORY,
                                                  MAX_CANARY_PAGE, None, scope)
        canaries = [(record.name, record.namespace) for record in records
                    if not name or record.name == name]
    canaries = [(n, ns) for n, ns in canaries if viewer.sees(ns)]
    found = await _bounded(request, [state.events.history(n, ns, limit) for n, ns in canaries])
    events = sorted((event for batch in found for event in batch),
                    key=lambda event: event.received_at, reverse=True)[:limit]
    return web.json_response(
        {"events": [api_views.event_view(event, with_canary=True) for event in events]})


async def list_audit(request: web.Request) -> web.Response:
    """Audit entries, newest first."""
    viewer = await identify(request)
    namespace, name = _filters(request)
    limit = _limit(request, 100)
    if namespace and not viewer.sees(namespace):
        return web.json_response({"entries": []})
    scope, filtered = _scope(viewer, namespace)
    entries = await request.app[STATE].audit.entries(name or None, scope,
                                                     MAX_LIMIT if filtered else limit)
    views = [api_views.audit_view(entry) for entry in entries
             if viewer.sees(entry.namespace) and (not name or entry.name == name)]
    return web.json_response({"entries": views[:limit]})


async def _bounded(request: web.Request, reads: list[Awaitable[T]]) -> list[T]:
    """The results of `reads`, READS_AT_ONCE of them (over every request) at a time."""
    slots = request.app[_READ_SLOTS]

    async def one(read: Awaitable[T]) -> T:
        async with slots:
            return await read

    return list(await asyncio.gather(*(one(read) for read in reads)))


async def not_found(request: web.Request) -> web.Response:
    raise NotFound(f"no API endpoint {request.method} {quote(request.path)}")


def _method_not_allowed(allowed: Iterable[str]) -> Handler:
    allow = ", ".join(allowed)

    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"error": f"method {request.method} not allowed; use {allow}"},
                                 status=405, headers={hdrs.ALLOW: allow})

    return refuse


async def _visible_canary(request: web.Request, viewer: Viewer) -> CanaryRecord:
    name, namespace = _canary_names(request)
    record = None
    if viewer.sees(namespace):
        record = await request.app[STATE].history.canary(name, namespace)
    if record is None:  # another namespace's canary is not told apart from an unknown one
        raise NotFound(f"no canary {quote(f'{name}.{namespace}')} seen in the last 7 days")
    return record


def _scope(viewer: Viewer, namespace: str) -> tuple[str | None, bool]:
    """The namespace to ask the store for, and whether its rows must still be filtered (a
    token of several namespaces, asking for all)."""
    scope = namespace or viewer.store_filter
    return scope, scope is None and not viewer.sees_all


def _canary_names(request: web.Request) -> tuple[str, str]:
    name, namespace = request.match_info["name"], request.match_info["namespace"]
    request[LOG_FIELDS] = {"canary": name, "namespace": namespace}
    _check_names(namespace, name)
    return name, namespace


def _check_names(namespace: str | None, name: str | None) -> None:
    if namespace is not None and not is_namespace(namespace):
        raise BadRequest(f"namespace {quote(namespace)} is not a valid Kubernetes namespace")
    if name is not None and not is_name(name):
        raise BadRequest(f"name {quote(name)} is not a valid Kubernetes name")


def _filters(request: web.Request) -> tuple[str, str]:
    """The namespace and name of the query ("" when not given)."""
    namespace, name = request.query.get("namespace"), request.query.get("name")
    _check_names(namespace, name)
    return namespace or "", name or ""


def _limit(request: web.Request, default: int, maximum: int = MAX_LIMIT) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9 or not 1 <= int(raw) <= maximum:
        raise BadRequest(f"limit: expected a whole number from 1 to {maximum}")
    return int(raw)


def _cursor(request: web.Request) -> CanaryCursor | None:
    raw = request.query.get("cursor")
    if raw is None:
        return None
    try:
        return CanaryCursor.decode(raw)
    except BadCursor:
        raise BadRequest("cursor: expected the `next` of a previous page") from None


def _running(request: web.Request) -> bool | None:
    raw = request.query.get("running")
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise BadRequest("running: expected true or false")
    return raw == "true"


async def _json_body(request: web.Request, *, required: bool) -> JSON:
    body = await request.read()
    if not body and not required:
        return {}
    if request.content_type != "application/json":
        raise UnsupportedMediaType("send the body as Content-Type: application/json")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def _checksum(data: JSON) -> str:
    value = data.get("checksum", "")
    if (not isinstance(value, str) or len(value) > MAX_CHECKSUM
            or not all("!" <= char <= "~" for char in value)):
        raise BadRequest(f"checksum: expected printable ASCII without spaces, at most "
                         f"{MAX_CHECKSUM} characters")
    return value


_CANARY = "/api/v1/canaries/{namespace}/{name}"
# read-only routes the console polls every second: app.py logs them at debug level
POLLED_ROUTES = frozenset({"/api/v1/canaries", _CANARY, f"{_CANARY}/gates", "/api/v1/tasks",
                           "/api/v1/events", "/api/v1/audit"})


def add_routes(app: web.Application) -> None:
    """The API's routes; every other method on them is a 405, any other path under it a 404."""
    prefix = API_PREFIX.rstrip("/")
    canary = _CANARY
    app[_READ_SLOTS] = asyncio.Semaphore(READS_AT_ONCE)
    routes: dict[str, dict[str, Handler]] = {
        f"{prefix}/openapi.json": {"GET": openapi},
        f"{prefix}/session": {"GET": get_session, "POST": post_session,
                              "DELETE": delete_session},
        f"{prefix}/service": {"GET": get_service},
        f"{prefix}/canaries": {"GET": list_canaries},
        canary: {"GET": get_canary},
        f"{canary}/gates": {"GET": get_gates},
        f"{canary}/runs/{{id}}": {"GET": get_run},
        f"{prefix}/tasks": {"GET": list_tasks},
        f"{prefix}/tasks/{{id}}/cancel": {"POST": post_cancel},
        f"{prefix}/events": {"GET": list_events},
        f"{prefix}/audit": {"GET": list_audit},
    }
    for gate in ("gate", "rollback"):
        for action, is_open in (("open", True), ("close", False)):
            routes[f"{canary}/{gate}/{action}"] = {"POST": _switch(gate, is_open)}
    for path, methods in routes.items():
        resource = app.router.add_resource(path)
        for method, handler in methods.items():
            resource.add_route(method, handler)
        resource.add_route("*", _method_not_allowed(methods))
    app.router.add_route("*", f"{prefix}/{{tail:.*}}", not_found)
