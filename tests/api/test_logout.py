"""Logout revokes the session server-side, on every replica sharing the store; cookies are
read strictly, so no other spelling of a logged-out cookie is a session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.api import call
from tests.support.client import ClientFactory

ADMIN, TEAM = "admin-token-0123456789", "team-token-0123456789"


@pytest.fixture
def token_file(tmp_path: Path) -> str:
    """An admin token for every namespace and a team token for `test`."""
    path = tmp_path / "tokens"
    path.write_text(f"* {ADMIN} alice\ntest {TEAM} bob\n")
    return str(path)


async def log_in(client: Any, token: str) -> tuple[str, str]:
    """The value of a new session's cookie and its CSRF value."""
    async with client.post("/api/v1/session", json={"token": token}) as response:
        assert response.status == 200, await response.text()
        csrf = (await response.json())["csrf"]
        value = response.cookies["loadtester_session"].value
    client.session.cookie_jar.clear()  # every request below says which cookie it sends
    return value, csrf


def cookie(value: str) -> dict[str, str]:
    """The Cookie header carrying `value` as the session cookie."""
    return {"Cookie": f"loadtester_session={value}"}


async def status_with(client: Any, value: str) -> int:
    """The status of GET /api/v1/canaries with the session cookie `value`."""
    return (await call(client, "GET", "/api/v1/canaries", headers=cookie(value)))[0]


def padded(value: str) -> list[str]:
    """The `==`-padded spellings of a cookie, each accepted before strict reading."""
    body, _, signature = value.partition(".")
    return [f"{body}.{signature}==", f"{body}.{signature}=", f"{body}==.{signature}==",
            f"{body}.{signature}====", f"{value}=="]


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_logout_revokes_the_session_on_every_replica(
        make_client: ClientFactory, token_file: str, backend: str,
        request: pytest.FixtureRequest) -> None:
    """After DELETE /api/v1/session on one replica, the cookie, a copy of it and its padded
    spellings are 401 on every replica of the store; a new login still works."""
    overrides: dict[str, Any] = {"token_file": token_file}
    if backend == "redis":
        overrides["state"] = request.getfixturevalue("redis_url")
    first, second = await make_client(**overrides), await make_client(**overrides)
    value, csrf = await log_in(first, TEAM)
    assert await status_with(first, value) == 200 and await status_with(second, value) == 200
    accepted = [variant for variant in padded(value) if await status_with(second, variant) == 200]
    assert accepted == [], "a padded spelling is a session of its own"
    deleted, _ = await call(first, "DELETE", "/api/v1/session",
                            headers={**cookie(value), "X-CSRF-Token": csrf})
    assert deleted == 200
    for replica in (first, second):
        assert await status_with(replica, value) == 401
        for variant in padded(value):
            assert await status_with(replica, variant) == 401
        status, session = await call(replica, "GET", "/api/v1/session", headers=cookie(value))
        assert status == 200 and session["authenticated"] is False
        changed, _ = await call(replica, "POST", "/api/v1/canaries/test/podinfo/gate/open",
                                {"checksum": "abc"}, {**cookie(value), "X-CSRF-Token": csrf})
        assert changed == 401
    fresh, _ = await log_in(second, TEAM)
    assert await status_with(first, fresh) == 200


async def test_logout_revokes_only_its_own_session(make_client: ClientFactory,
                                                   token_file: str) -> None:
    """Logging one session out leaves the token's other sessions and its Bearer use alone."""
    client = await make_client(token_file=token_file)
    one, csrf = await log_in(client, ADMIN)
    other, _ = await log_in(client, ADMIN)
    deleted, _ = await call(client, "DELETE", "/api/v1/session",
                            headers={**cookie(one), "X-CSRF-Token": csrf})
    assert deleted == 200
    assert await status_with(client, one) == 401
    assert await status_with(client, other) == 200
    bearer = {"Authorization": f"Bearer {ADMIN}"}
    assert (await call(client, "GET", "/api/v1/canaries", headers=bearer))[0] == 200


async def test_logout_without_csrf_revokes_nothing(make_client: ClientFactory,
                                                   token_file: str) -> None:
    """A logout without the session's CSRF header is 403 and the session goes on (another
    site cannot log a user out)."""
    client = await make_client(token_file=token_file)
    value, _ = await log_in(client, TEAM)
    assert (await call(client, "DELETE", "/api/v1/session", headers=cookie(value)))[0] == 403
    assert await status_with(client, value) == 200


async def test_revocation_survives_a_restart(make_client: ClientFactory,
                                             token_file: str) -> None:
    """A replica started after the logout (same SQLite file) refuses the cookie too."""
    client = await make_client(token_file=token_file)
    value, csrf = await log_in(client, TEAM)
    deleted, _ = await call(client, "DELETE", "/api/v1/session",
                            headers={**cookie(value), "X-CSRF-Token": csrf})
    assert deleted == 200
    await client.close()
    restarted = await make_client(token_file=token_file)
    assert await status_with(restarted, value) == 401
