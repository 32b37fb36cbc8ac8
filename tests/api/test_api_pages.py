"""GET /api/v1/canaries in pages (?limit=, ?cursor=, `next`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.api import call, webhook
from tests.support.client import ClientFactory

ADMIN, TEAM = "admin-secret-0123456789", "team-secret-0123456789"


def gate(name: str, namespace: str = "test") -> dict[str, str]:
    return {"name": name, "namespace": namespace, "phase": "Progressing", "checksum": "abc"}


async def walk(client: Any, limit: int | None, headers: dict[str, str] | None = None,
               between_pages: int = 0) -> tuple[list[str], int]:
    """The ids of every page followed through `next`, and how many pages there were;
    `between_pages` new canaries are seen after each page."""
    ids: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = [] if limit is None else [f"limit={limit}"]
        if cursor is not None:
            query.append(f"cursor={quote(cursor)}")
        status, body = await call(client, "GET", "/api/v1/canaries?" + "&".join(query),
                                  headers=headers)
        assert status == 200, body
        pages += 1
        assert len(body["canaries"]) <= (limit or 50)
        ids += [canary["id"] for canary in body["canaries"]]
        cursor = body["next"]
        if cursor is None:
            return ids, pages
        for number in range(between_pages):
            assert await webhook(client, "/gate/check", gate(f"new-{pages}-{number}")) == 403


async def test_51_canaries_come_in_two_pages_of_the_default_size(
        make_client: ClientFactory) -> None:
    """Without ?limit= a page holds 50 canaries, the last seen first; `next` leads to the
    51st, and the last page's `next` is null."""
    client = await make_client()
    for number in range(51):
        assert await webhook(client, "/gate/check", gate(f"app-{number:03d}")) == 403
    status, first = await call(client, "GET", "/api/v1/canaries")
    assert status == 200 and len(first["canaries"]) == 50
    assert first["canaries"][0]["id"] == "app-050.test"
    assert set(first["canaries"][0]) >= {"id", "name", "namespace", "phase", "checksum",
                                         "gate", "rollback", "tasks", "events"}
    status, second = await call(client, "GET", f"/api/v1/canaries?cursor={first['next']}")
    assert status == 200 and [c["id"] for c in second["canaries"]] == ["app-000.test"]
    assert second["next"] is None


async def test_walk_returns_each_canary_once_while_canaries_are_added(
        make_client: ClientFactory) -> None:
    """Pages of 3 over 10 canaries, 2 new canaries seen after each page: the walk lists the
    10 once each, in the order of the first page; the new ones are at the front afterwards."""
    client = await make_client()
    for number in range(10):
        assert await webhook(client, "/gate/check", gate(f"app-{number}")) == 403
    before, _ = await walk(client, 10)
    ids, pages = await walk(client, 3, between_pages=2)
    assert ids == before and pages == 4
    after, _ = await walk(client, 500)
    assert len(after) == 10 + 2 * 3 and after[-10:] == before


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=abc", "limit=-1",
                                   "limit=" + "9" * 5000, "cursor=abc", "cursor=",
                                   "cursor=" + "0" * 16 + ".Team.x"])
async def test_bad_limit_or_cursor_is_a_400(make_client: ClientFactory, query: str) -> None:
    """A limit outside 1..500 or a cursor that is not one answers 400 with a JSON reason."""
    client = await make_client()
    status, body = await call(client, "GET", f"/api/v1/canaries?{query}")
    assert status == 400 and body["error"].startswith(("limit: ", "cursor: ")), body


async def test_namespace_token_pages_through_its_namespace_only(
        make_client: ClientFactory, tmp_path: Path) -> None:
    """A `test` token's pages hold test's canaries only (full pages, not filtered ones); a
    `*` token's hold all."""
    tokens = tmp_path / "tokens"
    tokens.write_text(f"* {ADMIN} admin\ntest {TEAM} team\n")
    client = await make_client(token_file=str(tokens))
    admin = {"Authorization": f"Bearer {ADMIN}"}
    for number in range(12):
        namespace = "test" if number % 3 == 0 else "other"
        assert await webhook(client, "/gate/check", gate(f"app-{number:02d}", namespace),
                             admin) == 403
    ids, pages = await walk(client, 2, {"Authorization": f"Bearer {TEAM}"})
    assert ids == [f"app-{number:02d}.test" for number in (9, 6, 3, 0)] and pages == 2
    everything, _ = await walk(client, 5, admin)
    assert len(everything) == 12
