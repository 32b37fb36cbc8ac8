"""The console's pages and static files as served by the app (the browser tests drive them)."""

from __future__ import annotations

import re

import pytest

from loadtester.routes.ui import static_files
from tests.support.client import ClientFactory


async def test_ui_redirects_to_slash(make_client: ClientFactory) -> None:
    """`/ui` answers a relative redirect to `ui/`, so a path prefix in front survives."""
    client = await make_client()
    async with client.get("/ui", allow_redirects=False) as response:
        assert response.status == 308
        assert response.headers["Location"] == "ui/"


async def test_list_page(make_client: ClientFactory) -> None:
    """`/ui/` is an HTML page with a strict CSP that loads its script and sheet relatively."""
    client = await make_client()
    async with client.get("/ui/") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        html = await response.text()
    assert re.search(r'src="\.\./ui/static/list\.js\?v=[0-9a-f]{12}"', html)
    assert 'href="../ui/static/console.css?v=' in html
    assert 'data-root="../"' in html
    assert 'data-action="confirm"' in html and 'data-action="cancel"' in html
    assert 'id="login-form"' in html


async def test_canary_page_escapes_and_roots(make_client: ClientFactory) -> None:
    """A canary's page carries its name and namespace, with a root three levels up."""
    client = await make_client()
    async with client.get("/ui/canary/test/podinfo") as response:
        assert response.status == 200
        html = await response.text()
    assert 'data-canary="podinfo.test"' in html
    assert 'data-root="../../../"' in html
    assert 'src="../../../ui/static/canary.js?v=' in html


@pytest.mark.parametrize("path", ["/ui/canary/Test/podinfo", "/ui/canary/test/%3Cb%3E",
                                  "/ui/canary/te.st/podinfo"])
async def test_canary_page_refuses_impossible_names(make_client: ClientFactory, path: str) -> None:
    """A name or namespace Kubernetes would refuse is 404 with a one-line reason."""
    client = await make_client()
    async with client.get(path) as response:
        assert response.status == 404
        assert await response.text() == "no such canary"


async def test_static_files_served_with_types(make_client: ClientFactory) -> None:
    """Each static file is served with its type, nosniff and revalidation."""
    client = await make_client()
    assert {"common.js", "list.js", "canary.js", "console.css"} <= set(static_files())
    async with client.get("/ui/static/list.js") as response:
        assert response.status == 200
        assert response.content_type in ("text/javascript", "application/javascript")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-cache"
        assert "boot(" in await response.text()
    async with client.get("/ui/static/console.css") as response:
        assert response.content_type == "text/css"


@pytest.mark.parametrize("path", ["/ui/static/nothing.js", "/ui/static/..%2Froutes%2Fui.py",
                                  "/ui/static/%2E%2E%2F%2E%2E%2Fapp.py"])
async def test_static_only_known_files(make_client: ClientFactory, path: str) -> None:
    """Only the files of ui/static are served: unknown names and traversal attempts are 404."""
    client = await make_client()
    async with client.get(path) as response:
        assert response.status == 404


def test_scripts_never_write_html() -> None:
    """No script puts text into the page as HTML: data is only ever set as text."""
    for name, path in static_files().items():
        if name.endswith(".js"):
            source = path.read_text()
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                         "eval(", "new Function"):
                assert sink not in source, f"{name} uses {sink}"


async def test_post_to_ui_is_still_a_task_call(make_client: ClientFactory) -> None:
    """Only GET belongs to the console: a POST to /ui/ is a task call, as on any path in Go."""
    client = await make_client()
    body = {"name": "podinfo", "namespace": "test"}
    async with client.post("/ui/", json=body) as response:
        assert response.status == 400
        assert await response.text() == "metadata not found in payload"
