"""The JSON API with -token-file: Bearer tokens, session cookies with CSRF, namespace scoping."""

from __future__ import annotations

from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.api import GATE, call, eventually, webhook
from tests.support.client import ClientFactory

ADMIN, TEAM, SHOP = "admin-secret-0123456789", "team-secret-0123456789", "shop-secret-0123456789"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}
TEAM_HEADERS = {"Authorization": f"Bearer {TEAM}"}
PODINFO = "/api/v1/canaries/test/podinfo"
FRONTEND = "/api/v1/canaries/shop/frontend"


@pytest.fixture
def token_file(tmp_path: Path) -> str:
    """A token file: an admin for every namespace, a team for `test`, a shop for `shop`."""
    path = tmp_path / "tokens"
    path.write_text(f"# who may do what\n* {ADMIN} alice\ntest {TEAM} bob\nshop {SHOP}\n")
    return str(path)


async def secured_client(make_client: ClientFactory, token_file: str) -> Any:
    """A client of the app with -token-file, where podinfo.test and frontend.shop were seen."""
    client = await make_client(token_file=token_file)
    assert await webhook(client, "/gate/check", GATE, ADMIN_HEADERS) == 403
    frontend = {**GATE, "name": "frontend", "namespace": "shop"}
    assert await webhook(client, "/gate/check", frontend, ADMIN_HEADERS) == 403

    async def both_seen() -> bool:
        status, body = await call(client, "GET", "/api/v1/canaries", headers=ADMIN_HEADERS)
        return status == 200 and len(body["canaries"]) == 2

    await eventually(both_seen)
    return client


async def log_in(client: Any, token: str) -> tuple[dict[str, str], str, SimpleCookie]:
    """The Cookie header of a new session, its CSRF value and the parsed Set-Cookie."""
    async with client.post("/api/v1/session", json={"token": token}) as response:
        assert response.status == 200, await response.text()
        body = await response.json()
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(response.headers["Set-Cookie"])
    client.session.cookie_jar.clear()  # every request below says which cookie it sends
    value = cookie["loadtester_session"].value
    return {"Cookie": f"loadtester_session={value}"}, body["csrf"], cookie


async def test_token_required(make_client: ClientFactory, token_file: str) -> None:
    """Without a token the API answers 401 in JSON; a Bearer token of the file works."""
    client = await secured_client(make_client, token_file)
    status, body = await call(client, "GET", "/api/v1/canaries")
    assert status == 401 and "Bearer" in body["error"]
    bad = {"Authorization": "Bearer nope"}
    assert (await call(client, "GET", "/api/v1/canaries", headers=bad))[0] == 401
    assert (await call(client, "GET", "/api/v1/canaries",
                       headers={"Authorization": f"Basic {ADMIN}"}))[0] == 401
    status, body = await call(client, "GET", "/api/v1/canaries", headers=ADMIN_HEADERS)
    assert status == 200 and len(body["canaries"]) == 2
    status, document = await call(client, "GET", "/api/v1/openapi.json")
    assert status == 200 and "paths" in document
    status, session = await call(client, "GET", "/api/v1/session")
    assert status == 200 and session["required"] is True and session["authenticated"] is False


async def test_bearer_approval_records_the_token_name(make_client: ClientFactory,
                                                      token_file: str) -> None:
    """A change made with a named token is audited under that name, without CSRF header."""
    client = await secured_client(make_client, token_file)
    status, _ = await call(client, "POST", f"{PODINFO}/gate/open", headers=ADMIN_HEADERS)
    assert status == 200
    assert await webhook(client, "/gate/check", GATE, ADMIN_HEADERS) == 200
    status, audit = await call(client, "GET", "/api/v1/audit", headers=ADMIN_HEADERS)
    assert status == 200 and audit["entries"][0]["who"] == "alice"


async def test_session_cookie_and_csrf(make_client: ClientFactory, token_file: str) -> None:
    """Login sets an HttpOnly, SameSite=Strict cookie; a change by cookie needs X-CSRF-Token."""
    client = await secured_client(make_client, token_file)
    headers, csrf, cookie = await log_in(client, ADMIN)
    morsel = cookie["loadtester_session"]
    assert morsel["httponly"] is True and morsel["samesite"] == "Strict"
    assert morsel["path"] == "/" and int(morsel["max-age"]) > 0 and csrf
    assert ADMIN not in morsel.value
    status, session = await call(client, "GET", "/api/v1/session", headers=headers)
    assert status == 200 and session == {"required": True, "authenticated": True,
                                         "namespace": "*", "name": "alice", "csrf": csrf}
    assert (await call(client, "GET", "/api/v1/canaries", headers=headers))[0] == 200
    status, body = await call(client, "POST", f"{PODINFO}/gate/open", headers=headers)
    assert status == 403 and "X-CSRF-Token" in body["error"]
    wrong = {**headers, "X-CSRF-Token": csrf[:-1] + ("A" if csrf[-1] != "A" else "B")}
    assert (await call(client, "POST", f"{PODINFO}/gate/open", headers=wrong))[0] == 403
    assert await webhook(client, "/gate/check", GATE, ADMIN_HEADERS) == 403
    with_csrf = {**headers, "X-CSRF-Token": csrf}
    status, body = await call(client, "POST", f"{PODINFO}/gate/open", headers=with_csrf)
    assert status == 200 and body["gate"]["open"] is True
    assert await webhook(client, "/gate/check", GATE, ADMIN_HEADERS) == 200


async def test_bad_logins_and_forged_cookies(make_client: ClientFactory,
                                             token_file: str) -> None:
    """A wrong token logs nobody in; a changed or foreign cookie is no session."""
    client = await secured_client(make_client, token_file)
    status, body = await call(client, "POST", "/api/v1/session", {"token": "guess"})
    assert status == 401 and body == {"error": "invalid token"}
    assert (await call(client, "POST", "/api/v1/session", {}))[0] == 400
    assert (await call(client, "POST", "/api/v1/session", '{"token": "x"}',
                       {"Content-Type": "text/plain"}))[0] == 415
    headers, _, _ = await log_in(client, TEAM)
    value = headers["Cookie"].partition("=")[2]
    body_part, _, signature = value.partition(".")
    forged = {"Cookie": f"loadtester_session={body_part}x.{signature}"}
    assert (await call(client, "GET", "/api/v1/canaries", headers=forged))[0] == 401
    garbage = {"Cookie": "loadtester_session=%%%.!!!"}
    assert (await call(client, "GET", "/api/v1/canaries", headers=garbage))[0] == 401


async def test_logout_drops_the_cookie(make_client: ClientFactory, token_file: str) -> None:
    """DELETE /api/v1/session (with the CSRF header) expires the cookie in the browser."""
    client = await secured_client(make_client, token_file)
    headers, csrf, _ = await log_in(client, TEAM)
    assert (await call(client, "DELETE", "/api/v1/session", headers=headers))[0] == 403
    async with client.delete("/api/v1/session",
                             headers={**headers, "X-CSRF-Token": csrf}) as response:
        assert response.status == 200
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(response.headers["Set-Cookie"])
    morsel = cookie["loadtester_session"]
    assert morsel.value == "" and morsel["max-age"] == "0"


async def test_namespace_token_sees_its_namespace_only(make_client: ClientFactory,
                                                       token_file: str) -> None:
    """A `test` token lists and reads test's canaries only, and may not act on `shop`."""
    client = await secured_client(make_client, token_file)
    status, body = await call(client, "GET", "/api/v1/canaries", headers=TEAM_HEADERS)
    assert status == 200 and [canary["id"] for canary in body["canaries"]] == ["podinfo.test"]
    assert (await call(client, "GET", PODINFO, headers=TEAM_HEADERS))[0] == 200
    status, body = await call(client, "GET", FRONTEND, headers=TEAM_HEADERS)
    assert status == 404 and "frontend.shop" in body["error"]
    assert (await call(client, "GET", f"{FRONTEND}/gates", headers=TEAM_HEADERS))[0] == 404
    for action in ("gate/open", "gate/close", "rollback/open", "rollback/close"):
        status, body = await call(client, "POST", f"{FRONTEND}/{action}", headers=TEAM_HEADERS)
        assert status == 403 and "shop" in body["error"], action
    shop_gate = {**GATE, "name": "frontend", "namespace": "shop"}
    assert await webhook(client, "/gate/check", shop_gate, ADMIN_HEADERS) == 403
    assert (await call(client, "POST", f"{PODINFO}/gate/open", headers=TEAM_HEADERS))[0] == 200
    assert (await call(client, "POST", f"{FRONTEND}/gate/open", headers=ADMIN_HEADERS))[0] == 200
    status, audit = await call(client, "GET", "/api/v1/audit", headers=TEAM_HEADERS)
    assert status == 200 and {entry["namespace"] for entry in audit["entries"]} == {"test"}
    status, audit = await call(client, "GET", "/api/v1/audit?namespace=shop",
                               headers=TEAM_HEADERS)
    assert status == 200 and audit["entries"] == []
    status, events = await call(client, "GET", "/api/v1/events?namespace=shop",
                                headers=TEAM_HEADERS)
    assert status == 200 and events["events"] == []
    headers, _, _ = await log_in(client, TEAM)
    status, session = await call(client, "GET", "/api/v1/session", headers=headers)
    assert (session["namespace"], session["name"]) == ("test", "bob")
    status, body = await call(client, "GET", "/api/v1/canaries", headers=headers)
    assert [canary["id"] for canary in body["canaries"]] == ["podinfo.test"]


async def test_session_valid_on_every_replica(make_client: ClientFactory,
                                              token_file: str) -> None:
    """A cookie from one replica is accepted by another reading the same token file."""
    first = await make_client(token_file=token_file)
    second = await make_client(token_file=token_file)
    headers, csrf, _ = await log_in(first, SHOP)
    status, session = await call(second, "GET", "/api/v1/session", headers=headers)
    assert status == 200 and session["authenticated"] is True and session["csrf"] == csrf
    assert (session["namespace"], session["name"]) == ("shop", "anonymous")


async def test_namespace_token_cannot_cancel_another_namespace_task(
        make_client: ClientFactory, token_file: str) -> None:
    """A `test` token cancelling a task of `shop` gets the 404 of a missing task, body and all."""
    client = await make_client(token_file=token_file)
    task = {**GATE, "name": "frontend", "namespace": "shop",
            "metadata": {"type": "cmd", "cmd": "sleep 30"}}
    assert await webhook(client, "/", task, ADMIN_HEADERS) == 202

    async def running() -> list[dict[str, Any]] | None:
        status, body = await call(client, "GET", "/api/v1/tasks?running=true",
                                  headers=ADMIN_HEADERS)
        return body["tasks"] if status == 200 and body["tasks"] else None

    (listed,) = await eventually(running)
    status, body = await call(client, "GET", "/api/v1/tasks", headers=TEAM_HEADERS)
    assert status == 200 and body["tasks"] == []
    cancel = f"/api/v1/tasks/{quote(listed['id'], safe='')}/cancel"
    status, body = await call(client, "POST", cancel, headers=TEAM_HEADERS)
    missing_id = "0" * len(listed["id"])
    missing = await call(client, "POST", f"/api/v1/tasks/{missing_id}/cancel",
                         headers=TEAM_HEADERS)
    assert (status, body) == (404, {"error": f'no task "{listed["id"]}"'})
    assert missing == (404, {"error": f'no task "{missing_id}"'})
    status, body = await call(client, "POST", cancel, headers=ADMIN_HEADERS)
    assert status == 200 and body["task"]["namespace"] == "shop"
