"""Failed logins and token checks, throttled per client address: 429 with Retry-After after
20 failures within a minute, even for the right token; other addresses are unaffected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadtester.auth_failures import FAILURES_ALLOWED, FailureThrottle
from tests.support.client import ClientFactory

ADMIN, TEAM = "admin-token-0123456789", "team-token-0123456789"
GATE = {"name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "abc"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def token_file(tmp_path: Path) -> str:
    """An admin token for every namespace and a team token for `test`."""
    path = tmp_path / "tokens"
    path.write_text(f"* {ADMIN} alice\ntest {TEAM} bob\n")
    return str(path)


def from_peer(address: str, **headers: str) -> dict[str, str]:
    """Headers of a request a trusted proxy forwarded for `address`."""
    return {"X-Forwarded-For": address, **headers}


async def login(client: Any, token: str, peer: str) -> tuple[int, str, dict[str, Any]]:
    """Status, Retry-After and body of POST /api/v1/session from `peer`."""
    async with client.post("/api/v1/session", json={"token": token},
                           headers=from_peer(peer)) as response:
        return response.status, response.headers.get("Retry-After", ""), await response.json()


async def test_21st_login_is_refused_even_with_the_right_token(
        make_client: ClientFactory, token_file: str) -> None:
    """20 wrong logins from one address, then the right token from it: 429 with Retry-After
    (on logins, the API and webhooks alike); another address still logs in; probes answer."""
    client = await make_client(token_file=token_file, trusted_proxies=("127.0.0.1/32",))
    for _ in range(FAILURES_ALLOWED):
        status, retry, body = await login(client, "a-wrong-guess-0123456789", "10.0.0.66")
        assert (status, retry, body) == (401, "", {"error": "invalid token"})
    status, retry, body = await login(client, ADMIN, "10.0.0.66")
    assert status == 429 and 1 <= int(retry) <= 60 and "too many" in body["error"]
    async with client.get("/api/v1/canaries", headers=from_peer(
            "10.0.0.66", Authorization=f"Bearer {ADMIN}")) as response:
        assert response.status == 429 and response.headers["Retry-After"] == retry
    async with client.post("/gate/check", data=json.dumps(GATE), headers=from_peer(
            "10.0.0.66", Authorization=f"Bearer {TEAM}")) as response:
        assert response.status == 429 and "too many" in await response.text()
    async with client.get("/healthz", headers=from_peer("10.0.0.66")) as response:
        assert response.status == 200
    assert (await login(client, ADMIN, "10.0.0.77"))[0] == 200


async def test_wrong_webhook_tokens_count_too(make_client: ClientFactory,
                                              token_file: str) -> None:
    """20 wrong metadata tokens on /gate/check from one address shut it out, even with the
    right Bearer token; another address behind the same proxy is unaffected."""
    client = await make_client(token_file=token_file, trusted_proxies=("127.0.0.1/32",))
    wrong = {**GATE, "metadata": {"token": "a-wrong-guess-0123456789"}}
    for _ in range(FAILURES_ALLOWED):
        async with client.post("/gate/check", json=wrong,
                               headers=from_peer("10.0.0.66")) as response:
            assert response.status == 401
    right = f"Bearer {TEAM}"
    async with client.post("/gate/check", json=GATE,
                           headers=from_peer("10.0.0.66", Authorization=right)) as response:
        assert response.status == 429 and int(response.headers["Retry-After"]) >= 1
    async with client.post("/gate/check", json=GATE,
                           headers=from_peer("10.0.0.77", Authorization=right)) as response:
        assert response.status == 403  # its token is good: the gate is closed


async def test_stale_token_of_one_canary_leaves_other_namespaces_alone(
        make_client: ClientFactory, token_file: str) -> None:
    """Flagger calls every Canary from one address: 20 wrong tokens of namespace `test` shut
    out `test`'s calls from it, not another namespace's, and not the console's logins."""
    client = await make_client(token_file=token_file)
    wrong = {**GATE, "metadata": {"token": "a-stale-token-0123456789"}}
    for _ in range(FAILURES_ALLOWED):
        async with client.post("/gate/check", json=wrong) as response:
            assert response.status == 401
    async with client.post("/gate/check", json={**GATE, "metadata": {"token": TEAM}}) as response:
        assert response.status == 429
        assert "namespace \"test\"" in await response.text()
    other = {**GATE, "namespace": "other", "metadata": {"token": ADMIN}}
    async with client.post("/gate/check", json=other) as response:
        assert response.status == 403  # the admin token is good there: the gate is closed
    async with client.post("/api/v1/session", json={"token": ADMIN}) as response:
        assert response.status == 200


async def test_missing_credentials_are_not_counted(make_client: ClientFactory,
                                                   token_file: str) -> None:
    """Requests without any token (a Canary without metadata.token) stay 401, never 429:
    they guess nothing."""
    client = await make_client(token_file=token_file)
    for _ in range(FAILURES_ALLOWED + 5):
        async with client.post("/gate/check", json=GATE) as response:
            assert response.status == 401
        async with client.get("/api/v1/canaries") as response:
            assert response.status == 401
    async with client.post("/gate/check", json=GATE,
                           headers={"Authorization": f"Bearer {TEAM}"}) as response:
        assert response.status == 403


async def test_forged_cookies_count(make_client: ClientFactory, token_file: str) -> None:
    """A session cookie that is not valid counts as a failed check."""
    client = await make_client(token_file=token_file)
    forged = {"Cookie": "loadtester_session=eyJlIjogMX0.AAAA"}
    for _ in range(FAILURES_ALLOWED):
        async with client.get("/api/v1/canaries", headers=forged) as response:
            assert response.status == 401
    async with client.get("/api/v1/canaries",
                          headers={"Authorization": f"Bearer {ADMIN}"}) as response:
        assert response.status == 429


def test_window_ends_and_counting_starts_again() -> None:
    """A peer shut out at its 20th failure may try again when the minute since its first
    failure is over; Retry-After counts down to it."""
    clock = Clock()
    throttle = FailureThrottle(clock=clock)
    for _ in range(FAILURES_ALLOWED - 1):
        throttle.failed("10.0.0.1")
        clock.now += 1
    assert throttle.retry_after("10.0.0.1") == 0 and not throttle.shutting_out()
    throttle.failed("10.0.0.1")  # the 20th, at t=19
    assert throttle.shutting_out()
    assert throttle.retry_after("10.0.0.1") == 41 and throttle.retry_after("10.0.0.2") == 0
    clock.now += 40.5
    assert throttle.retry_after("10.0.0.1") == 1
    clock.now += 0.5
    assert throttle.retry_after("10.0.0.1") == 0 and not throttle.shutting_out()
    throttle.failed("10.0.0.1")  # a new window: one failure in it
    assert throttle.retry_after("10.0.0.1") == 0


def test_failures_spread_over_more_than_a_minute_never_shut_out() -> None:
    """19 failures a minute, for ten minutes, never reach the limit."""
    clock = Clock()
    throttle = FailureThrottle(clock=clock)
    for _ in range(10 * (FAILURES_ALLOWED - 1)):
        throttle.failed("10.0.0.1")
        clock.now += 60 / (FAILURES_ALLOWED - 1) + 0.01
        assert throttle.retry_after("10.0.0.1") == 0


def test_memory_is_bounded_to_the_most_recent_peers() -> None:
    """At most max_peers addresses are kept, the least recently failed forgotten first."""
    clock = Clock()
    throttle = FailureThrottle(clock=clock, allowed=2, max_peers=3)
    throttle.failed("10.0.0.1")
    for peer in ("10.0.0.2", "10.0.0.3", "10.0.0.1", "10.0.0.4"):
        throttle.failed(peer)
    assert len(throttle) == 3
    assert throttle.retry_after("10.0.0.1") > 0  # its 2nd failure: shut out, and kept
    throttle.failed("10.0.0.2")  # forgotten (least recently failed): this is its first again
    assert throttle.retry_after("10.0.0.2") == 0


def test_an_ipv6_host_is_counted_by_its_64() -> None:
    """Addresses of one IPv6 /64 share a count; another /64 does not."""
    throttle = FailureThrottle(clock=Clock(), allowed=2)
    throttle.failed("2001:db8:1:2::1")
    throttle.failed("2001:db8:1:2:ffff::9")
    assert throttle.retry_after("2001:db8:1:2::abcd") > 0
    assert throttle.retry_after("2001:db8:1:3::1") == 0
