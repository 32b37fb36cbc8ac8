"""Gate endpoints with the Go service's status codes and bodies, and the gate stores."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from loadtester.state.base import GateChange, gate_key, rollback_key
from loadtester.state.open import open_database
from loadtester.state.sqlite import SqliteGateStore
from tests.support.client import ClientFactory

PAYLOAD = {"name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "abc"}
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


async def answer(
    client: Any, path: str, payload: dict[str, Any] | None = None, method: str = "POST"
) -> tuple[int, str]:
    """Status and body of one request."""
    data = None if payload is None else json.dumps(payload)
    async with client.request(method, path, data=data) as response:
        return response.status, await response.text()


@pytest.mark.parametrize("method", METHODS)
async def test_approve_any_method(make_client: ClientFactory, method: str) -> None:
    """/gate/approve answers 200 OK to any method."""
    client = await make_client()
    status, body = await answer(client, "/gate/approve", method=method)
    assert status == 200
    assert body == ("" if method == "HEAD" else "OK")


@pytest.mark.parametrize("method", METHODS)
async def test_halt_any_method(make_client: ClientFactory, method: str) -> None:
    """/gate/halt answers 403 Forbidden to any method."""
    client = await make_client()
    status, body = await answer(client, "/gate/halt", method=method)
    assert status == 403
    assert body == ("" if method == "HEAD" else "Forbidden")


@pytest.mark.parametrize("method", METHODS)
async def test_healthz_any_method(make_client: ClientFactory, method: str) -> None:
    """/healthz answers 200 OK to any method."""
    client = await make_client()
    status, body = await answer(client, "/healthz", method=method)
    assert status == 200
    assert body == ("" if method == "HEAD" else "OK")


async def test_approve_and_halt_ignore_body(make_client: ClientFactory) -> None:
    """approve and halt answer the same with a payload, garbage, or a foreign namespace."""
    client = await make_client(namespace_regexp="^prod$")
    assert await answer(client, "/gate/approve", PAYLOAD) == (200, "OK")
    assert await answer(client, "/gate/halt", PAYLOAD) == (403, "Forbidden")
    async with client.post("/gate/approve", data=b"not json") as response:
        assert (response.status, await response.text()) == (200, "OK")


@pytest.mark.parametrize("state", ["sqlite", "memory"])
async def test_gate_cycle(make_client: ClientFactory, tmp_path: Path, state: str) -> None:
    """A gate is closed by default; open -> 202 empty -> check 200 Approved; close -> 403."""
    client = await make_client(state=str(tmp_path / "st") if state == "sqlite" else "memory")
    assert await answer(client, "/gate/check", PAYLOAD) == (403, "Forbidden")
    assert await answer(client, "/gate/open", PAYLOAD) == (202, "")
    assert await answer(client, "/gate/check", PAYLOAD) == (200, "Approved")
    assert await answer(client, "/gate/open", PAYLOAD) == (202, "")
    assert await answer(client, "/gate/check", PAYLOAD) == (200, "Approved")
    assert await answer(client, "/gate/close", PAYLOAD) == (202, "")
    assert await answer(client, "/gate/check", PAYLOAD) == (403, "Forbidden")


async def test_rollback_cycle(make_client: ClientFactory) -> None:
    """Rollback check/open/close behave like the gate's, on their own key."""
    client = await make_client()
    assert await answer(client, "/rollback/check", PAYLOAD) == (403, "Forbidden")
    assert await answer(client, "/rollback/open", PAYLOAD) == (202, "")
    assert await answer(client, "/rollback/check", PAYLOAD) == (200, "Approved")
    assert await answer(client, "/rollback/close", PAYLOAD) == (202, "")
    assert await answer(client, "/rollback/check", PAYLOAD) == (403, "Forbidden")


async def test_rollback_and_gate_keys_separate(make_client: ClientFactory) -> None:
    """Opening a gate leaves the rollback switch closed, and the other way round."""
    client = await make_client()
    assert await answer(client, "/gate/open", PAYLOAD) == (202, "")
    assert await answer(client, "/rollback/check", PAYLOAD) == (403, "Forbidden")
    assert await answer(client, "/gate/close", PAYLOAD) == (202, "")
    assert await answer(client, "/rollback/open", PAYLOAD) == (202, "")
    assert await answer(client, "/gate/check", PAYLOAD) == (403, "Forbidden")
    assert await answer(client, "/rollback/check", PAYLOAD) == (200, "Approved")


async def test_gates_per_canary(make_client: ClientFactory) -> None:
    """A gate belongs to name.namespace: other canaries stay closed."""
    client = await make_client()
    await answer(client, "/gate/open", PAYLOAD)
    assert await answer(client, "/gate/check", {**PAYLOAD, "name": "other"}) == (403, "Forbidden")
    assert await answer(client, "/gate/check", {**PAYLOAD, "namespace": "prod"}) == (
        403,
        "Forbidden",
    )
    assert await answer(client, "/gate/check", {"name": "podinfo", "namespace": "test"}) == (
        200,
        "Approved",
    )


async def test_name_and_namespace_enough(make_client: ClientFactory) -> None:
    """The curl form of the contract (`{"name","namespace"}` only) opens a gate."""
    client = await make_client()
    minimal = {"name": "podinfo", "namespace": "test"}
    assert await answer(client, "/gate/open", minimal) == (202, "")
    assert await answer(client, "/gate/check", minimal) == (200, "Approved")


async def test_gate_state_shared_between_apps(make_client: ClientFactory, tmp_path: Path) -> None:
    """Two services on the same SQLite state see the same gates."""
    state = str(tmp_path / "shared")
    first = await make_client(state=state)
    second = await make_client(state=state)
    assert await answer(first, "/gate/open", PAYLOAD) == (202, "")
    assert await answer(second, "/gate/check", PAYLOAD) == (200, "Approved")


@pytest.mark.parametrize(
    "path",
    [
        "/gate/check",
        "/gate/open",
        "/gate/close",
        "/rollback/check",
        "/rollback/open",
        "/rollback/close",
        "/",
    ],
)
async def test_namespace_regexp_forbids(make_client: ClientFactory, path: str) -> None:
    """With -namespace-regexp, a payload of another namespace gets 403 Forbidden everywhere."""
    client = await make_client(namespace_regexp="^prod-")
    payload = {**PAYLOAD, "metadata": {"type": "cmd", "cmd": "true"}}
    assert await answer(client, path, payload) == (403, "Forbidden")


async def test_namespace_regexp_allows_match(make_client: ClientFactory) -> None:
    """A matching namespace is served normally, and the refused call changed nothing."""
    client = await make_client(namespace_regexp="^prod-")
    await answer(client, "/gate/open", PAYLOAD)
    allowed = {**PAYLOAD, "namespace": "prod-eu"}
    assert await answer(client, "/gate/check", allowed) == (403, "Forbidden")
    assert await answer(client, "/gate/open", allowed) == (202, "")
    assert await answer(client, "/gate/check", allowed) == (200, "Approved")


async def test_check_without_payload(make_client: ClientFactory) -> None:
    """A check without a body is a 400, not an approval."""
    client = await make_client()
    status, body = await answer(client, "/gate/check", method="GET")
    assert status == 400
    assert "\n" not in body and body


def test_keys() -> None:
    """Gate and rollback keys: kind, then namespace, then name (not the Go service's
    `name.namespace`, where the gate of `rollback.x` was the rollback of `x`)."""
    assert gate_key("podinfo", "test") == "gate:test/podinfo"
    assert rollback_key("podinfo", "test") == "rollback:test/podinfo"
    assert gate_key("rollback.podinfo", "test") != rollback_key("podinfo", "test")


async def test_sqlite_store_survives_reopen(tmp_path: Path) -> None:
    """The SQLite store keeps state and its audit fields across connections."""
    path = tmp_path / "db" / "loadtester.db"
    database = open_database(path)
    store = SqliteGateStore(database)
    assert not await store.is_open("a.b")
    await store.set("a.b", GateChange(True, by="10.0.0.1", checksum="x"))
    await store.set("rollback.a.b", GateChange(False, by="10.0.0.2"))
    database.close()
    database = open_database(path)
    try:
        reopened = SqliteGateStore(database)
        assert await reopened.is_open("a.b")
        assert not await reopened.is_open("rollback.a.b")
        change = await reopened.get("a.b")
        assert change is not None
        assert (change.is_open, change.by, change.checksum) == (True, "10.0.0.1", "x")
        assert change.at > 0
    finally:
        database.close()


async def test_sqlite_store_sees_another_process_change(tmp_path: Path) -> None:
    """A change made through another connection to the file reaches this store's checks."""
    path = tmp_path / "db" / "loadtester.db"
    here, there = SqliteGateStore(open_database(path)), SqliteGateStore(open_database(path))
    assert not await here.is_open("a.b")
    await there.set("a.b", GateChange(True))
    for _ in range(200):
        if await here.is_open("a.b"):
            break
        await asyncio.sleep(0.01)
    assert await here.is_open("a.b")
    await here.set("a.b", GateChange(False))
    assert not await here.is_open("a.b")  # its own change: at once
