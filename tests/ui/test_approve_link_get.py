"""A chat link's `?approve=CHECKSUM` only opens a page: a GET never approves anything."""

from __future__ import annotations

from pathlib import Path

from tests.support.api import GATE, call, eventually, webhook
from tests.support.client import ClientFactory

ADMIN = {"Authorization": "Bearer admin-secret-0123456789"}
PODINFO = "/api/v1/canaries/test/podinfo"


async def test_get_with_approve_changes_nothing(make_client: ClientFactory,
                                                token_file: Path) -> None:
    """GET /ui/canary/test/podinfo?approve=abc, signed in by a session cookie or not, leaves
    the gate closed, Flagger's check refused and the audit log empty."""
    client = await make_client(token_file=str(token_file))
    assert await webhook(client, "/gate/check", GATE, ADMIN) == 403

    async def seen() -> dict[str, object] | None:
        status, body = await call(client, "GET", PODINFO, headers=ADMIN)
        return body if status == 200 else None

    before = await eventually(seen)
    async with client.post("/api/v1/session",
                           json={"token": "admin-secret-0123456789"}) as response:
        assert response.status == 200  # the cookie jar now holds a signed-in session
    for method in ("GET", "HEAD"):
        async with client.request(method, "/ui/canary/test/podinfo?approve=abc") as page:
            assert page.status == 200
    async with client.get("/ui/canary/test/podinfo?approve=abc", headers=ADMIN) as page:
        assert page.status == 200 and 'id="approve-note"' in await page.text()
    status, after = await call(client, "GET", PODINFO, headers=ADMIN)
    assert status == 200
    assert after["gate"] == before["gate"] and after["gate"]["open"] is False
    assert after["audit"] == []
    assert await webhook(client, "/gate/check", GATE, ADMIN) == 403
