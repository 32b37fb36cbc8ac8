"""The operator console: `GET /ui/` (every canary) and `GET /ui/canary/NAMESPACE/NAME` (one).

The pages are templates plus static files under loadtester/ui/; the data comes from the JSON API
under /api/v1/, which does the authentication, so a page itself holds nothing to protect.
Every URL a page uses is relative to the page, so the console also works behind a proxy that
serves the service under a path prefix.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import jinja2
from aiohttp import web

from loadtester.errors import InvalidPayload, NotFound
from loadtester.models import WebhookPayload, validate_payload

UI = Path(__file__).resolve().parent.parent / "ui"
# the pages load nothing from elsewhere and run no inline script: XSS in data cannot execute
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_STATIC_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


@functools.cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(UI / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


@functools.cache
def static_files() -> dict[str, Path]:
    """The files under ui/static by name: the only ones served (no path ever reaches the disk)."""
    return {path.name: path for path in (UI / "static").iterdir() if path.is_file()}


@functools.cache
def _version(name: str) -> str:
    """A short hash of a static file, appended to its URL so a new release is never cached."""
    return hashlib.sha256(static_files()[name].read_bytes()).hexdigest()[:12]


def _render(request: web.Request, template: str, **context: str) -> web.Response:
    # from /ui/ one `../` reaches the root; from /ui/canary/NS/NAME three
    root = "../" * (request.path.count("/") - 1)
    html = _templates().get_template(template).render(root=root, version=_version, **context)
    return web.Response(text=html, content_type="text/html", charset="utf-8",
                        headers=_PAGE_HEADERS)


async def to_console(_request: web.Request) -> web.Response:
    """`/ui` -> `/ui/` (relative, so a path prefix in front survives)."""
    return web.Response(status=308, headers={"Location": "ui/"})


async def canaries_page(request: web.Request) -> web.Response:
    """The list of every canary seen in the last 7 days."""
    return _render(request, "index.html", script="list.js")


async def canary_page(request: web.Request) -> web.Response:
    """One canary's history; 404 for a name Kubernetes could not have given a canary."""
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    try:
        validate_payload(WebhookPayload(name=name, namespace=namespace), names_required=True)
    except InvalidPayload:
        raise NotFound("no such canary") from None
    return _render(request, "canary.html", script="canary.js", name=name, namespace=namespace)


async def static(request: web.Request) -> web.StreamResponse:
    """A file of ui/static by its name; anything else is 404."""
    path = static_files().get(request.match_info["file"])
    if path is None:
        raise NotFound("no such file")
    return web.FileResponse(path, headers=_STATIC_HEADERS)


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/ui", to_console)
    router.add_get("/ui/", canaries_page)
    router.add_get("/ui/canary/{namespace}/{name}", canary_page)
    router.add_get("/ui/static/{file}", static)
